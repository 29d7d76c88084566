package controlplane

import (
	"runtime/debug"
	"strings"
	"sync/atomic"
	_ "unsafe" // for go:linkname

	"k8s.io/component-base/version"
)

// fallbackKubeVersion is used when the build info does not name the
// k8s.io/kubernetes module (e.g. stripped builds).
const fallbackKubeVersion = "v1.37.2"

// component-base keeps its version in unexported variables that are normally
// set with -ldflags -X. Without them the server reports
// "v0.0.0-master+$Format:%H$", which kubectl refuses to parse.
//
//go:linkname gitVersion k8s.io/component-base/version.gitVersion
var gitVersion string

//go:linkname gitMajor k8s.io/component-base/version.gitMajor
var gitMajor string

//go:linkname gitMinor k8s.io/component-base/version.gitMinor
var gitMinor string

// Get() reads this copy, made from gitVersion in component-base's init.
//
//go:linkname dynamicGitVersion k8s.io/component-base/version.dynamicGitVersion
var dynamicGitVersion atomic.Value

func init() { stampVersion() }

// stampVersion fills in the Kubernetes version unless the build already did
// (ldflags win).
func stampVersion() {
	if !strings.HasPrefix(gitVersion, "v0.0.0-master") {
		return
	}
	v := fallbackKubeVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/kubernetes" && strings.HasPrefix(d.Version, "v1.") {
				v = d.Version
			}
		}
	}
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return
	}
	gitVersion, gitMajor, gitMinor = v, parts[0], parts[1]
	dynamicGitVersion.Store(v)
}

// KubernetesVersion is the Kubernetes version the embedded API server reports.
func KubernetesVersion() string { return version.Get().GitVersion }
