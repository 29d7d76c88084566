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
//   - SPANNER_EMULATOR_HOST, BIGTABLE_EMULATOR_HOST (also cbt) and
//     STORAGE_EMULATOR_HOST for the other services' client libraries;
//   - for gcloud, only when some service serves REST (gcloud speaks REST,
//     so it works with the Java Pub/Sub emulator but not with pstest, and
//     with Spanner through the emulator's REST gateway, and with Cloud
//     Storage's JSON API): CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB,
//     …_SPANNER and …_STORAGE (http:// URLs that must end in "/"), CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true (otherwise gcloud
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
	if gcloud := c.gcloudEnv(); len(gcloud) > 0 {
		env = append(env, gcloud...)
		env = append(env,
			EnvVar{Name: "CLOUDSDK_AUTH_DISABLE_CREDENTIALS", Value: "true", Comment: "gcloud: no login needed, no real credentials sent"},
			EnvVar{Name: "CLOUDSDK_CORE_PROJECT", Value: c.opts.Project, Comment: "gcloud: default project"},
		)
	}
	return env
}

// gcloudEnv points the gcloud commands that can use a local service at it.
func (c *Cloud) gcloudEnv() []EnvVar {
	ep := c.Endpoints()
	var gcloud []EnvVar
	if ep.PubSubREST != "" {
		gcloud = append(gcloud, EnvVar{Name: "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB", Value: ep.PubSubREST, Comment: "gcloud pubsub …"})
	}
	if ep.Storage != "" {
		// The JSON API's base URL, as fake-gcs-server serves it.
		gcloud = append(gcloud, EnvVar{Name: "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE", Value: ep.Storage, Comment: "gcloud storage … (not gsutil)"})
	}
	if ep.SpannerREST != "" {
		gcloud = append(gcloud, EnvVar{Name: "CLOUDSDK_API_ENDPOINT_OVERRIDES_SPANNER", Value: ep.SpannerREST, Comment: "gcloud spanner … (the emulator's REST gateway; instances use --config=emulator-config)"})
	}
	return gcloud
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
	// What gcloud cannot do here, so that nobody sends a command to the real
	// Google endpoint thinking it goes to the local cloud.
	ep := c.Endpoints()
	if c.pubsub != nil && c.pubsub.restURL() == "" {
		b.WriteString("# gcloud cannot talk to pstest (it serves gRPC only; gcloud uses REST), so gcloud pubsub is not pointed here.\n")
		b.WriteString("# Use the Pub/Sub emulator (mode \"emulators\") to use gcloud pubsub against the local cloud.\n")
	}
	if ep.Spanner != "" && ep.SpannerREST == "" {
		b.WriteString("# gcloud spanner is not pointed here: the Spanner emulator's REST gateway (gateway_main) was not found.\n")
	}
	if ep.Storage != "" {
		b.WriteString("# gsutil is not pointed here (it has no such setting): use gcloud storage.\n")
	}
	if ep.Bigtable != "" {
		b.WriteString("# gcloud bigtable is not pointed here (the local Bigtable serves gRPC only, gcloud uses REST); use cbt:\n")
		b.WriteString("#   cbt -project " + c.opts.Project + " -instance INSTANCE ls\n")
	}
	if len(c.gcloudEnv()) > 0 {
		b.WriteString("# Other gcloud commands go to the real Google Cloud, without credentials (CLOUDSDK_AUTH_DISABLE_CREDENTIALS): they fail.\n")
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
