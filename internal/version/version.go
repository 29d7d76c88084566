// Package version reports infraplane's own version and the Kubernetes
// version it embeds.
package version

import "runtime/debug"

// Version is set at build time with -ldflags "-X .../internal/version.Version=v1.2.3".
var Version = ""

// Kubernetes is the upstream Kubernetes release the embedded API server
// comes from (k8s.io/kubernetes in go.mod).
const Kubernetes = "v1.37.2"

// String returns the version, or the VCS revision for development builds.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}
