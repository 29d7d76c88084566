package localcloud

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvVar is one environment variable for clients of the local cloud.
type EnvVar struct {
	Name, Value string
	Comment     string // why it is set, for the env file
}

// Env returns the variables that point clients at the local cloud:
//
//   - PUBSUB_EMULATOR_HOST (Go, Java, Python, … client libraries) and
//     PUBSUB_PROJECT_ID (used by Google's emulator samples);
//   - for gcloud, only when some service serves REST (gcloud speaks REST,
//     so it works with the Java Pub/Sub emulator but not with pstest):
//     CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB (an http:// URL that must end
//     in "/"), CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true (otherwise gcloud
//     refuses to run without a logged-in account, and with one it would
//     send real credentials to the emulator) and CLOUDSDK_CORE_PROJECT
//     (gcloud needs a project unless --project is given).
func (c *Cloud) Env() []EnvVar {
	var env []EnvVar
	ep := c.Endpoints()
	if ep.PubSub != "" {
		env = append(env,
			EnvVar{Name: "PUBSUB_EMULATOR_HOST", Value: ep.PubSub, Comment: "Pub/Sub client libraries"},
			EnvVar{Name: "PUBSUB_PROJECT_ID", Value: c.opts.Project},
		)
	}
	if ep.Storage != "" {
		// The Go client wants the host only and adds /storage/v1/ itself.
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ep.Storage, "http://"), "https://"), "/storage/v1/")
		env = append(env, EnvVar{Name: "STORAGE_EMULATOR_HOST", Value: host, Comment: "Cloud Storage client libraries"})
	}
	if ep.Spanner != "" {
		env = append(env, EnvVar{Name: "SPANNER_EMULATOR_HOST", Value: ep.Spanner, Comment: "Spanner client libraries"})
	}
	if ep.Bigtable != "" {
		env = append(env, EnvVar{Name: "BIGTABLE_EMULATOR_HOST", Value: ep.Bigtable, Comment: "Bigtable client libraries and cbt"})
	}
	var gcloud []EnvVar
	if ep.PubSubREST != "" {
		gcloud = append(gcloud, EnvVar{Name: "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB", Value: ep.PubSubREST, Comment: "gcloud pubsub …"})
	}
	if len(gcloud) > 0 {
		env = append(env, gcloud...)
		env = append(env,
			EnvVar{Name: "CLOUDSDK_AUTH_DISABLE_CREDENTIALS", Value: "true", Comment: "gcloud: no login needed, no real credentials sent"},
			EnvVar{Name: "CLOUDSDK_CORE_PROJECT", Value: c.opts.Project, Comment: "gcloud: default project"},
		)
	}
	return env
}

// Environ returns Env as KEY=VALUE strings, e.g. to append to
// os.Environ() for an exec.Cmd.
func (c *Cloud) Environ() []string {
	var out []string
	for _, v := range c.Env() {
		out = append(out, v.Name+"="+v.Value)
	}
	return out
}

// WriteEnvFile writes a file that a POSIX shell can source (". file") to
// point client libraries and, where possible, gcloud at the local cloud.
// The file is replaced atomically.
func (c *Cloud) WriteEnvFile(path string) error {
	var b strings.Builder
	b.WriteString("# infraplane local cloud: source this file (. ./" + filepath.Base(path) + ")\n")
	for _, line := range strings.Split(c.Describe(), "\n") {
		b.WriteString("# " + line + "\n")
	}
	if c.pubsub != nil && c.pubsub.restURL() == "" {
		b.WriteString("# gcloud cannot talk to pstest (it serves gRPC only; gcloud uses REST), so no CLOUDSDK_* variables are set.\n")
		b.WriteString("# Use the Pub/Sub emulator (mode \"emulators\") to use gcloud pubsub against the local cloud.\n")
	}
	for _, v := range c.Env() {
		if v.Comment != "" {
			b.WriteString("# " + v.Comment + "\n")
		}
		fmt.Fprintf(&b, "export %s=%s\n", v.Name, shellQuote(v.Value))
	}
	return writeFileAtomic(path, []byte(b.String()), 0o644)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// shellQuote quotes s for a POSIX shell unless it needs no quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
