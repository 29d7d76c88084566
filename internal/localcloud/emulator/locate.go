package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Environment variables naming the Google Cloud SDK root directory (the one
// with bin/gcloud in it). INFRAPLANE_GCLOUD_SDK wins over CLOUDSDK_ROOT_DIR;
// when either is set, no other place is searched.
const (
	EnvSDKRoot      = "INFRAPLANE_GCLOUD_SDK"
	EnvCloudSDKRoot = "CLOUDSDK_ROOT_DIR"
)

// DefaultSDKRoot is where the Debian/Ubuntu google-cloud-cli packages
// install the SDK.
const DefaultSDKRoot = "/usr/lib/google-cloud-sdk"

// ErrNotInstalled is matched (errors.Is) by every *NotInstalledError.
var ErrNotInstalled = errors.New("not installed")

// NotInstalledError says that an emulator (or what it needs to run) was not
// found, and where it was looked for.
type NotInstalledError struct {
	What      string   // "Pub/Sub emulator", "java (needed by the Pub/Sub emulator)"
	LookedFor []string // paths and patterns that were tried
	Hint      string   // how to install it or point to it
}

func (e *NotInstalledError) Error() string {
	s := e.What + " not installed: looked for " + strings.Join(e.LookedFor, ", ")
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// Is makes errors.Is(err, ErrNotInstalled) true.
func (e *NotInstalledError) Is(target error) bool { return target == ErrNotInstalled }

// SDKRoots returns the directories searched for the Google Cloud SDK, in
// order: only $INFRAPLANE_GCLOUD_SDK or $CLOUDSDK_ROOT_DIR when set;
// otherwise DefaultSDKRoot, the SDK of the gcloud found on PATH, snap
// installs, and ~/google-cloud-sdk.
func SDKRoots() []string {
	for _, env := range []string{EnvSDKRoot, EnvCloudSDKRoot} {
		if v := os.Getenv(env); v != "" {
			return []string{v}
		}
	}
	roots := []string{DefaultSDKRoot}
	if g, err := exec.LookPath("gcloud"); err == nil {
		if r, err := filepath.EvalSymlinks(g); err == nil {
			roots = append(roots, filepath.Dir(filepath.Dir(r))) // <root>/bin/gcloud
		}
	}
	roots = append(roots, "/snap/google-cloud-cli/current", "/snap/google-cloud-sdk/current")
	if h, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(h, "google-cloud-sdk"))
	}
	var out []string
	for _, r := range roots {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func sdkHint(component string) string {
	return fmt.Sprintf("install it with `gcloud components install %s` (or the google-cloud-cli-%s package), "+
		"or set %s to the Cloud SDK root", component, component, EnvSDKRoot)
}

// findInSDK returns the first existing match of rel (a path or glob relative
// to an SDK root; for several matches the highest version) and the root.
func findInSDK(rel string) (path, root string, looked []string) {
	for _, r := range SDKRoots() {
		pat := filepath.Join(r, rel)
		looked = append(looked, pat)
		m, _ := filepath.Glob(pat)
		var files []string
		for _, f := range m {
			if st, err := os.Stat(f); err == nil && !st.IsDir() {
				files = append(files, f)
			}
		}
		if len(files) > 0 {
			slices.SortFunc(files, compareVersions)
			return files[len(files)-1], r, looked
		}
	}
	return "", "", looked
}

// LocatePubSub finds the Pub/Sub emulator jar of the Cloud SDK and a java
// to run it with ($JAVA_HOME/bin/java, else java on PATH). The emulator
// serves gRPC and REST on the same port.
func LocatePubSub() (Spec, error) {
	const rel = "platform/pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar"
	jar, root, looked := findInSDK(rel)
	if jar == "" {
		return Spec{}, &NotInstalledError{What: "Pub/Sub emulator", LookedFor: looked, Hint: sdkHint("pubsub-emulator")}
	}
	java, err := findJava()
	if err != nil {
		return Spec{}, err
	}
	version := sdkComponentVersion(root, "pubsub-emulator")
	if version == "" {
		version = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(jar), "cloud-pubsub-emulator-"), "-all.jar")
	}
	return Spec{
		Name:     "pubsub",
		Title:    "Pub/Sub emulator",
		Version:  version,
		Path:     java,
		Artifact: jar,
		Args: func(host string, port int) []string {
			return []string{"-jar", jar, "--host=" + host, "--port=" + strconv.Itoa(port)}
		},
		Ready: HTTPReady("/", "Ok"),
	}, nil
}

func findJava() (string, error) {
	var looked []string
	if jh := os.Getenv("JAVA_HOME"); jh != "" {
		p := filepath.Join(jh, "bin", "java")
		looked = append(looked, p)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	looked = append(looked, "java on PATH")
	if p, err := exec.LookPath("java"); err == nil {
		return p, nil
	}
	return "", &NotInstalledError{
		What:      "java (needed by the Pub/Sub emulator)",
		LookedFor: looked,
		Hint:      "install a Java runtime (11 or later), e.g. apt-get install default-jre-headless, or set JAVA_HOME",
	}
}

// LocateSpanner finds the Cloud Spanner emulator (emulator_main, gRPC only;
// localcloud runs it through the REST gateway_main beside it when present).
func LocateSpanner() (Spec, error) {
	bin, root, looked := findInSDK("bin/cloud_spanner_emulator/emulator_main")
	if bin == "" {
		return Spec{}, &NotInstalledError{What: "Spanner emulator", LookedFor: looked, Hint: sdkHint("cloud-spanner-emulator")}
	}
	return Spec{
		Name:    "spanner",
		Title:   "Spanner emulator",
		Version: sdkComponentVersion(root, "cloud-spanner-emulator"),
		Path:    bin,
		Args: func(host string, port int) []string {
			return []string{"--host_port=" + joinHostPort(host, port)}
		},
		Ready: GRPCReady(),
	}, nil
}

// LocateBigtable finds the Cloud Bigtable emulator (cbtemulator, gRPC).
func LocateBigtable() (Spec, error) {
	bin, root, looked := findInSDK("platform/bigtable-emulator/cbtemulator")
	if bin == "" {
		return Spec{}, &NotInstalledError{What: "Bigtable emulator", LookedFor: looked, Hint: sdkHint("bigtable")}
	}
	version := sdkComponentVersion(root, "bigtable")
	if version == "" {
		if v := SDKVersion(root); v != "" {
			version = "from Cloud SDK " + v
		}
	}
	return Spec{
		Name:    "bigtable",
		Title:   "Bigtable emulator",
		Version: version,
		Path:    bin,
		Args: func(host string, port int) []string {
			return []string{"-host=" + host, "-port=" + strconv.Itoa(port)}
		},
		Ready: GRPCReady(),
	}, nil
}

// SDKVersion returns the version in <root>/VERSION ("528.0.0"), or "".
func SDKVersion(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// sdkComponentVersion reads the version of an installed SDK component from
// <root>/.install/<component>*.snapshot.json (platform-specific components
// are called e.g. cloud-spanner-emulator-linux-x86_64). "" if unknown.
func sdkComponentVersion(root, component string) string {
	files, _ := filepath.Glob(filepath.Join(root, ".install", component+"*.snapshot.json"))
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var snap struct {
			Components []struct {
				ID      string `json:"id"`
				Version struct {
					VersionString string `json:"version_string"`
				} `json:"version"`
			} `json:"components"`
		}
		if json.Unmarshal(b, &snap) != nil {
			continue
		}
		for _, c := range snap.Components {
			if strings.HasPrefix(c.ID, component) && c.Version.VersionString != "" {
				return c.Version.VersionString
			}
		}
	}
	return ""
}

// compareVersions orders strings so that runs of digits compare as numbers
// ("x-0.8.9" < "x-0.8.20").
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			na, ra := splitDigits(a)
			nb, rb := splitDigits(b)
			if c := compareNumeric(na, nb); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func splitDigits(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}
