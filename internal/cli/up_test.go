package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/examples"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/tenant"
	"github.com/infraplane/infraplane/internal/version"
)

// These tests run the CLI in-process, as a user would run it: `up` with
// its embedded API server and the in-process fakes, and the client
// commands against it.

// syncBuffer is a bytes.Buffer that `up` writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort is a free loopback port (below the ephemeral range: see
// controlplane.FreePort).
func freePort(t *testing.T) int {
	t.Helper()
	p, err := controlplane.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// upArgs are the arguments of an `up` on free ports and the fakes.
func upArgs(t *testing.T, dataDir string) []string {
	return []string{"up", "--data-dir", dataDir, "--cloud", "fakes",
		"--port", strconv.Itoa(freePort(t)), "--pubsub-port", "0", "--webhook-port", strconv.Itoa(freePort(t)),
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"--hooks-bind-address", "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"--dashboard-bind-address", "127.0.0.1:0",
		"--resync-interval", "5m"}
}

// runCLI runs one command line and returns its standard output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, &out)
	return out.String(), err
}

// gitRepo makes a repository with the quickstart example on main.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, err := examples.Files("quickstart")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "quickstart"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func TestUp(t *testing.T) {
	dataDir := t.TempDir()
	args := append(upArgs(t, dataDir), "--repo", gitRepo(t), "--namespace", "team-x")
	up := startUp(t, dataDir, args)
	banner, cfg, c := up.out.String(), up.cfg, up.c
	kubeconfig := filepath.Join(dataDir, "kubeconfig")
	bg := context.Background()

	// What "is up" promises holds the moment it is printed, although up
	// installs its CRDs while the API server still makes its default
	// roles: /readyz passes every check, a person (not system:masters) can
	// use discovery, and the webhook refuses a bad break-glass. First, before the other subtests give it time.
	t.Run("ready when it says so", func(t *testing.T) {
		ks, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if body, err := ks.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "1").DoRaw(bg); err != nil {
			t.Errorf("/readyz right after \"is up\": %v\n%s", err, body)
		}
		viewer := filepath.Join(t.TempDir(), "viewer.kubeconfig")
		if err := controlplane.WriteUserKubeconfigFor(dataDir, viewer, "vera", []string{"infraplane:viewers"}); err != nil {
			t.Fatal(err)
		}
		vcfg, err := clientcmd.BuildConfigFromFlags("", viewer)
		if err != nil {
			t.Fatal(err)
		}
		vc, err := kubernetes.NewForConfig(vcfg)
		if err != nil {
			t.Fatal(err)
		}
		// Discovery is the API server's default system:discovery role.
		if _, err := vc.Discovery().ServerGroups(); err != nil {
			t.Errorf("a viewer's discovery right after \"is up\": %v", err)
		}
		bad := &corev1alpha1.BreakGlass{
			ObjectMeta: metav1.ObjectMeta{Name: "no-target", Namespace: "team-x"},
			Spec: corev1alpha1.BreakGlassSpec{
				Targets:  []corev1alpha1.BreakGlassTarget{{Kind: "Topic", Name: "does-not-exist"}},
				Reason:   "test: refused by the webhook",
				Duration: metav1.Duration{Duration: time.Minute},
			},
		}
		if err := c.Create(bg, bad, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "no such Topic") {
			t.Errorf("a break-glass naming a missing Topic right after \"is up\": %v; want it refused by the webhook (no such Topic)", err)
		}
	})

	// --namespace names one that does not exist: up onboards it as a
	// team's, and the GitSource lands in it.
	t.Run("namespace", func(t *testing.T) {
		ns := &corev1.Namespace{}
		if err := c.Get(bg, client.ObjectKey{Name: "team-x"}, ns); err != nil {
			t.Fatal(err)
		}
		if got := ns.Labels[tenant.TenantLabel]; got != "team-x" {
			t.Errorf("namespace team-x: label %s=%q, want team-x", tenant.TenantLabel, got)
		}
		if err := c.Get(bg, client.ObjectKey{Namespace: "team-x", Name: "default"}, &corev1alpha1.GitSource{}); err != nil {
			t.Errorf("GitSource team-x/default: %v", err)
		}
	})

	// `sync KIND/NAME` asks for a read of one object's cloud resource and
	// prints what it found; a GitSource's kind points to `sync NAME`.
	t.Run("sync an object", func(t *testing.T) {
		topic := &pubsubv1.Topic{}
		key := client.ObjectKey{Namespace: "team-x", Name: "orders"}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			err := c.Get(bg, key, topic)
			if err == nil && meta.IsStatusConditionTrue(topic.Status.Conditions, commonv1.TypeReady) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Topic team-x/orders not Ready from the quickstart repository: %v %+v", err, topic.Status.Conditions)
			}
			time.Sleep(200 * time.Millisecond)
		}
		out, err := runCLI(t, "sync", "topic/orders", "--kubeconfig", kubeconfig, "-n", "team-x")
		if err != nil || out != "Topic team-x/orders: Ready; in sync with the cloud\n" {
			t.Errorf("sync topic/orders: %v\n%q", err, out)
		}
		if err := c.Get(bg, key, topic); err != nil {
			t.Fatal(err)
		}
		if req := topic.Annotations[commonv1.RequestedAtAnnotation]; req == "" || topic.Status.LastHandledRequest != req {
			t.Errorf("requested-at %q, status.lastHandledRequest %q", req, topic.Status.LastHandledRequest)
		}
		if _, err := runCLI(t, "sync", "gs/default", "--kubeconfig", kubeconfig, "-n", "team-x"); err == nil || !strings.Contains(err.Error(), "is a GitSource: infraplane sync default") {
			t.Errorf("sync gs/default: %v, want a pointer to `infraplane sync default`", err)
		}
		if _, err := runCLI(t, "sync", "topic/missing", "--kubeconfig", kubeconfig, "-n", "team-x"); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("sync topic/missing: %v, want not found", err)
		}
	})

	// The banner's dashboard link logs in as the local admin, who sees
	// the team's namespace; its token is private to the data dir.
	t.Run("dashboard", func(t *testing.T) {
		var link string
		for _, line := range strings.Split(banner, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "dashboard:"); ok {
				link = strings.Fields(rest)[0]
			}
		}
		if !strings.HasPrefix(link, "http://127.0.0.1:") || !strings.Contains(link, "/login?token=") {
			t.Fatalf("no dashboard link in the banner:\n%s", banner)
		}
		if fi, err := os.Stat(filepath.Join(dataDir, dashboard.TokenFile)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", dashboard.TokenFile, err, fi.Mode())
		}
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == dashboard.CookieName {
				cookie = c
			}
		}
		if resp.StatusCode != http.StatusSeeOther || cookie == nil {
			t.Fatalf("login link: %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
		base, _, _ := strings.Cut(link, "/login")
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.Header.Set("Cookie", cookie.Name+"="+cookie.Value) // Secure: a jar would not send it over http
		resp, err = noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "team-x") {
			t.Errorf("overview as the local admin: %d\n%s", resp.StatusCode, body)
		}
	})

	t.Run("second up on the data dir", func(t *testing.T) {
		_, err := runCLI(t, upArgs(t, dataDir)...)
		want := fmt.Sprintf("another infraplane up is using %s (pid %d)", dataDir, os.Getpid())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("second up: %v; want an error saying %q", err, want)
		}
	})

	// Logs go to the data dir; the banner says where.
	t.Run("logs", func(t *testing.T) {
		logFile := filepath.Join(dataDir, "up.log")
		if !strings.Contains(banner, "logs:        "+logFile) {
			t.Errorf("the banner does not name %s:\n%s", logFile, banner)
		}
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"infraplane up starting", "local cloud started"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", logFile, want)
			}
		}
	})

	// The banner's git hook is the GitSource's own path (what its status
	// shows once synced), served as a git host calls it: the bearer token
	// syncs it; a path one character off is not found.
	t.Run("git hook", func(t *testing.T) {
		var url string
		for _, line := range strings.Split(banner, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "git hook:") {
				for _, f := range strings.Fields(line) {
					if strings.HasPrefix(f, "http://") {
						url = f
					}
				}
			}
		}
		base, path, ok := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
		path = "/" + path
		if !ok || !strings.HasPrefix(path, gitops.HookPathPrefix) || len(path) != len(gitops.HookPathPrefix)+64 {
			t.Fatalf("no GitSource path in the banner's git hook:\n%s", banner)
		}
		gs := &corev1alpha1.GitSource{}
		deadline := time.Now().Add(time.Minute)
		for {
			if err := c.Get(bg, client.ObjectKey{Namespace: "team-x", Name: "default"}, gs); err != nil {
				t.Fatal(err)
			}
			if gs.Status.WebhookPath == path {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status.webhookPath %q, the banner says %s", gs.Status.WebhookPath, path)
			}
			time.Sleep(200 * time.Millisecond)
		}
		sec := &corev1.Secret{}
		if err := c.Get(bg, client.ObjectKey{Namespace: "team-x", Name: upHookSecret}, sec); err != nil {
			t.Fatal(err)
		}
		post := func(path string) (int, string) {
			req, _ := http.NewRequest(http.MethodPost, "http://"+base+path, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+string(sec.Data[gitops.HookTokenKey]))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := post(path); code != http.StatusOK || !strings.Contains(body, `"team-x/default"`) {
			t.Errorf("POST %s: %d %s, want 200 and team-x/default", path, code, body)
		}
		off := path[:len(path)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(path, "0")]
		if code, body := post(off); code != http.StatusNotFound {
			t.Errorf("POST %s: %d %s, want 404", off, code, body)
		}
	})

	t.Run("cloud.env", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dataDir, "cloud.env"))
		if err != nil {
			t.Fatal(err)
		}
		env := string(b)
		for _, want := range []string{"export PUBSUB_EMULATOR_HOST=", "export STORAGE_EMULATOR_HOST=", "export BIGTABLE_EMULATOR_HOST=",
			"export CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=http://", "export CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true",
			"# gcloud cannot talk to pstest", "# gsutil is not pointed here", "# gcloud bigtable is not pointed here",
			"# Other gcloud commands go to the real Google Cloud, without credentials"} {
			if !strings.Contains(env, want) {
				t.Errorf("cloud.env lacks %q:\n%s", want, env)
			}
		}
	})

	// Completion of names, as a shell asks for it (`__complete`), with
	// the kubeconfig and namespace of the command line.
	t.Run("completion", func(t *testing.T) {
		complete := func(args ...string) []string {
			t.Helper()
			out, err := runCLI(t, append([]string{"__complete"}, args...)...)
			if err != nil {
				t.Fatalf("__complete %v: %v", args, err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			return lines[:len(lines)-1] // the last line is the directive
		}
		check := func(got []string, want ...string) {
			t.Helper()
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("completions %q, want %q", got, want)
			}
		}
		check(complete("sync", "--kubeconfig", kubeconfig, "-n", "team-x", ""), "default")
		check(complete("sync", "--kubeconfig", kubeconfig, "-n", "default", ""))
		check(complete("status", "--kubeconfig", kubeconfig, "-n", "team"), "team-x")
		check(complete("trace", "--kubeconfig", kubeconfig, "-n", "team-x", "gitsource/"), "gitsource/default")
		check(complete("trace", "--kubeconfig", kubeconfig, "-n", "team-x", "gs", "d"), "default")
		check(complete("trace", "--kubeconfig", kubeconfig, "topi"), "topic/")
		check(complete("import", "--kubeconfig", kubeconfig, "--provider-config", ""), "default")
		check(complete("breakglass", "open", "--kubeconfig", kubeconfig, "-n", "team-x", "--target", "gitsource/"))

		// Blueprints are cluster-scoped: -n does not matter.
		bps := map[string][]byte{}
		for _, name := range []string{"queue.yaml", "servicedatabase.yaml"} {
			b, err := os.ReadFile(filepath.Join("..", "..", "examples", "blueprints", name))
			if err != nil {
				t.Fatal(err)
			}
			bps[name] = b
		}
		if _, err := applyManifests(bg, c, bps, "default", "test"); err != nil {
			t.Fatal(err)
		}
		check(complete("fleet", "status", "--kubeconfig", kubeconfig, "-n", "team-x", ""), "queue", "servicedatabase")
		check(complete("fleet", "rollback", "--kubeconfig", kubeconfig, "q"), "queue")

		// A break-glass on a topic the repository makes.
		var err error
		for range 100 {
			if _, err = runCLI(t, "breakglass", "open", "--kubeconfig", kubeconfig, "-n", "team-x", "--name", "inc-1",
				"--target", "topic/orders", "--reason", "completion test", "--duration", "1h"); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("breakglass open: %v", err)
		}
		check(complete("breakglass", "close", "--kubeconfig", kubeconfig, "-n", "team-x", "in"), "inc-1")
		check(complete("breakglass", "open", "--kubeconfig", kubeconfig, "-n", "team-x", "--target", "topic/o"), "topic/orders", "topic/orders-dead-letter")
		check(complete("bg", "backport", "--kubeconfig", kubeconfig, "-n", "team-x", ""), "inc-1")
		check(complete("breakglass", "close", "--kubeconfig", kubeconfig, "-n", "team-x", "x"))
	})
}

// Each address `up` listens on, taken: up says which, at once.
func TestUpPortTaken(t *testing.T) {
	for _, flag := range []string{"--port", "--pubsub-port", "--webhook-port", "--metrics-bind-address", "--hooks-bind-address", "--dashboard-bind-address"} {
		t.Run(flag, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			addr := l.Addr().String()
			value := addr
			if flag == "--port" || flag == "--pubsub-port" || flag == "--webhook-port" {
				value = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
			}
			_, err = runCLI(t, append(upArgs(t, t.TempDir()), flag, value)...) // later flags win
			want := addr + " (" + flag + ") is not free"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "address already in use") {
				t.Fatalf("up with %s taken: %v; want %q", flag, err, want)
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := runCLI(t, "--version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "infraplane "+version.String()+"\n") {
		t.Errorf("infraplane --version printed %q", out)
	}
}

// A client command with nothing running says so, with the address and the
// kubeconfig that named it.
func TestNothingListening(t *testing.T) {
	port := freePort(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, port)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"sync", "default"}, {"breakglass", "list"}} {
		_, err := runCLI(t, append(args, "--kubeconfig", kubeconfig)...)
		want := fmt.Sprintf("nothing is listening at https://127.0.0.1:%d — is `infraplane up` running? (kubeconfig: %s)", port, kubeconfig)
		if err == nil || err.Error() != want {
			t.Errorf("%v: %v\nwant: %s", args, err, want)
		}
	}
}
