package localcloud_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/localcloud/emulator"
)

const project = localcloud.DefaultProject

func newClient(t *testing.T, c *localcloud.Cloud) *pubsub.Client {
	t.Helper()
	cl, err := pubsub.NewClient(context.Background(), project, c.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func createTopic(t *testing.T, cl *pubsub.Client, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := "projects/" + project + "/topics/" + id
	if _, err := cl.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: name}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	return name
}

func listTopics(t *testing.T, cl *pubsub.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var names []string
	for tp, err := range cl.TopicAdminClient.ListTopics(ctx, &pubsubpb.ListTopicsRequest{Project: "projects/" + project}).All() {
		if err != nil {
			t.Fatalf("ListTopics: %v", err)
		}
		names = append(names, tp.GetName())
	}
	return names
}

func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFakes(t *testing.T) {
	began := time.Now()
	c := cloudtest.Fakes(t)
	t.Logf("started in %v:\n%s", time.Since(began).Round(time.Millisecond), c.Describe())
	if !strings.Contains(c.Describe(), "pstest") || !strings.Contains(c.Describe(), "in-memory: lost on restart") {
		t.Errorf("Describe = %q", c.Describe())
	}
	ep := c.Endpoints()
	if ep.PubSub == "" || ep.PubSubREST != "" {
		t.Errorf("Endpoints = %+v, want a gRPC address and no REST URL", ep)
	}

	cl := newClient(t, c)
	name := createTopic(t, cl, "fake-topic")
	if got := listTopics(t, cl); !slices.Contains(got, name) {
		t.Errorf("ListTopics = %v, want %s in it", got, name)
	}

	env := readFile(t, cloudtest.EnvFile(t, c))
	t.Logf("env file:\n%s", env)
	for _, want := range []string{"export PUBSUB_EMULATOR_HOST=" + ep.PubSub + "\n", "# gcloud cannot talk to pstest"} {
		if !strings.Contains(env, want) {
			t.Errorf("env file lacks %q", want)
		}
	}
	if strings.Contains(env, "export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB") {
		t.Errorf("env file points gcloud pubsub at pstest")
	}

	// gcloud storage goes to the local Cloud Storage: what it makes is
	// there, not in the real one.
	t.Run("gcloud storage", func(t *testing.T) {
		cloudtest.RequireTool(t, "gcloud")
		envFile := cloudtest.EnvFile(t, c)
		cmd := exec.Command("sh", "-c", `. "$1" && exec gcloud storage buckets create gs://made-by-gcloud`, "sh", envFile)
		cmd.Env = append(os.Environ(), "CLOUDSDK_CONFIG="+t.TempDir(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("gcloud storage buckets create:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.Get(ep.Storage + "b/made-by-gcloud")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("the local Cloud Storage has no bucket made-by-gcloud: GET %sb/made-by-gcloud: %s", ep.Storage, res.Status)
		}
	})

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if accepts(ep.PubSub) {
		t.Errorf("%s still accepts connections after Stop", ep.PubSub)
	}
}

func TestEmulators(t *testing.T) {
	began := time.Now()
	c := cloudtest.RequireEmulators(t)
	t.Logf("started in %v:\n%s", time.Since(began).Round(time.Millisecond), c.Describe())
	ep := c.Endpoints()
	if !strings.Contains(c.Describe(), "Pub/Sub emulator") || ep.PubSubREST != "http://"+ep.PubSub+"/" {
		t.Fatalf("Describe = %q, Endpoints = %+v", c.Describe(), ep)
	}

	cl := newClient(t, c)
	name := createTopic(t, cl, "topic-from-go")
	emuAddr := emulatorAddr(t, c)

	t.Run("gcloud", func(t *testing.T) {
		cloudtest.RequireTool(t, "gcloud")
		gcloud := gcloudWith(t, c)
		if out := gcloud("pubsub", "topics", "list", "--format=value(name)"); !strings.Contains(out, name) {
			t.Errorf("gcloud does not list %s", name)
		}
		gcloud("pubsub", "topics", "create", "topic-from-gcloud")
		if got := listTopics(t, cl); !slices.Contains(got, "projects/"+project+"/topics/topic-from-gcloud") {
			t.Errorf("Go client does not see the topic gcloud created: %v", got)
		}
	})

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if accepts(ep.PubSub) {
		t.Errorf("%s still accepts connections after Stop", ep.PubSub)
	}
	if left := javaEmulatorsOnPort(emuAddr); len(left) > 0 {
		t.Errorf("emulator processes left after Stop: %v", left)
	}
}

// gcloudWith returns a function that runs gcloud with c's env file and a
// fresh configuration directory (no account, no project, as on a new
// machine), failing the test when it fails.
func gcloudWith(t *testing.T, c *localcloud.Cloud) func(args ...string) string {
	envFile := cloudtest.EnvFile(t, c)
	t.Logf("env file:\n%s", readFile(t, envFile))
	return func(args ...string) string {
		t.Helper()
		script := `. "$1" && shift && exec gcloud "$@"`
		cmd := exec.Command("sh", append([]string{"-c", script, "sh", envFile}, args...)...)
		cmd.Env = append(os.Environ(), "CLOUDSDK_CONFIG="+t.TempDir(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1")
		began := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("gcloud %s (%v):\n%s", strings.Join(args, " "), time.Since(began).Round(time.Millisecond), out)
		if err != nil {
			t.Fatalf("gcloud %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
}

// emulatorAddr is the address of the emulator process behind the proxy, as
// Describe reports it ("pid N on host:port").
func emulatorAddr(t *testing.T, c *localcloud.Cloud) string {
	t.Helper()
	m := regexp.MustCompile(`pid \d+ on (\S+?)[,;]`).FindStringSubmatch(c.Describe())
	if m == nil {
		t.Fatalf("no emulator address in %q", c.Describe())
	}
	return m[1]
}

// javaEmulatorsOnPort lists live processes running the Pub/Sub emulator jar
// with --port=<port of addr>.
func javaEmulatorsOnPort(addr string) []int {
	_, port, _ := net.SplitHostPort(addr)
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		zombie := strings.Contains(string(stat), ") Z ")
		if !zombie && strings.Contains(string(cmd), "cloud-pubsub-emulator") && strings.Contains(string(cmd), "--port="+port+"\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestModes(t *testing.T) {
	for _, s := range []string{"", "auto", "fakes", "emulators"} {
		if _, err := localcloud.ParseMode(s); err != nil {
			t.Errorf("ParseMode(%q): %v", s, err)
		}
	}
	if _, err := localcloud.ParseMode("real"); err == nil {
		t.Error("ParseMode(real) succeeded")
	}

	// Without an SDK: auto falls back to fakes, emulators fails clearly.
	t.Setenv(emulator.EnvSDKRoot, t.TempDir())
	c := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeAuto})
	if !strings.Contains(c.Describe(), "pstest") {
		t.Errorf("auto without emulators: %s", c.Describe())
	}
	_, err := localcloud.Start(context.Background(), localcloud.Options{Mode: localcloud.ModeEmulators})
	if !errors.Is(err, localcloud.ErrNotInstalled) || !strings.Contains(err.Error(), "cloud-pubsub-emulator-*-all.jar") {
		t.Errorf("emulators without SDK: err = %v", err)
	}
}

func TestFixedPort(t *testing.T) {
	port, err := emulator.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeFakes, PubSubPort: port})
	if want := "127.0.0.1:" + strconv.Itoa(port); c.Endpoints().PubSub != want {
		t.Errorf("PubSub = %s, want %s", c.Endpoints().PubSub, want)
	}
	// The port is taken now: a second cloud must fail, not panic.
	if _, err := localcloud.Start(context.Background(), localcloud.Options{Mode: localcloud.ModeFakes, PubSubPort: port}); err == nil {
		t.Error("second fake on the same port started")
	}
}

// TestCleanupOnPanic runs TestPanickingHelper in a child test process: it
// starts the emulators with cloudtest and panics. cloudtest's t.Cleanup must
// still stop the emulator.
func TestCleanupOnPanic(t *testing.T) {
	if os.Getenv("LOCALCLOUD_PANIC_HELPER") != "" {
		t.Skip("inside the helper")
	}
	if _, err := emulator.LocatePubSub(); err != nil {
		cloudtest.Unavailable(t, "%v", err)
	}
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPanickingHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOCALCLOUD_PANIC_HELPER="+addrFile)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "deliberate panic") {
		t.Fatalf("helper did not panic (err %v):\n%s", err, out)
	}
	b, err := os.ReadFile(addrFile)
	if err != nil {
		t.Fatalf("helper wrote no address: %v\n%s", err, out)
	}
	addr := string(b)
	if accepts(addr) {
		t.Errorf("%s still accepts connections after the panicking test", addr)
	}
	if left := javaEmulatorsOnPort(addr); len(left) > 0 {
		t.Errorf("emulator processes left after the panicking test: %v", left)
	}
}

func TestPanickingHelper(t *testing.T) {
	addrFile := os.Getenv("LOCALCLOUD_PANIC_HELPER")
	if addrFile == "" {
		t.Skip("run by TestCleanupOnPanic")
	}
	c := cloudtest.RequireEmulators(t)
	if err := os.WriteFile(addrFile, []byte(c.Endpoints().PubSub), 0o644); err != nil {
		t.Fatal(err)
	}
	panic(fmt.Sprintf("deliberate panic with the emulator at %s", c.Endpoints().PubSub))
}
