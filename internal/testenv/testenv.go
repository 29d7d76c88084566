// Package testenv runs a real Kubernetes API server (the embedded control
// plane) once per test binary, installs infraplane's CRDs and runs the
// controllers, like envtest but with no external binaries. Emulators and
// fakes come from localcloud/cloudtest, per test.
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, testenv.Options{})) }
package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/tenant"
)

// Options configure the shared environment.
type Options struct {
	// Controllers configure the controllers; zero values get test defaults
	// (resync 30 s, no cloud rate limit).
	Controllers controllers.Options
	// APIServerOnly starts the API server alone, like a fresh cluster: no
	// CRDs, no roles, no controllers (the tests install and run them).
	APIServerOnly bool
}

// Env is the shared environment of one test binary.
type Env struct {
	// Client talks to the API server as the admin (no cache).
	Client client.Client

	dir    string
	opts   Options
	mu     sync.Mutex
	cp     *controlplane.ControlPlane
	ledger *ledger.Ledger
	stopM  func()

	webhookPort int // kept across restarts
}

// Main starts the environment, runs the tests and tears it down; it
// returns the exit code for os.Exit. Set INFRAPLANE_TEST_LOG=debug to see
// the controllers' and API server's logs.
func Main(m *testing.M, env **Env, opts Options) int {
	level := slog.LevelWarn
	if v := os.Getenv("INFRAPLANE_TEST_LOG"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	h := quietHandler{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})}
	slog.SetDefault(slog.New(h))
	ctrl.SetLogger(logr.FromSlogHandler(h))
	klog.SetLogger(logr.FromSlogHandler(h).V(1))

	if opts.Controllers.ResyncInterval == 0 {
		opts.Controllers.ResyncInterval = 30 * time.Second
	}
	dir, err := os.MkdirTemp("", "infraplane-testenv-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if opts.Controllers.GitOps.CacheDir == "" {
		opts.Controllers.GitOps.CacheDir = filepath.Join(dir, "git")
	}
	e := &Env{dir: dir, opts: opts}
	ctx := context.Background()
	if err := e.start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		e.stop()
		return 1
	}
	*env = e
	code := m.Run()
	e.stop()
	return code
}

func (e *Env) start(ctx context.Context) error {
	t0 := time.Now()
	l, err := ledger.Open(ledger.DefaultPath(e.dir))
	if err != nil {
		return err
	}
	e.ledger = l
	e.opts.Controllers.Auditor = l
	e.opts.Controllers.GitOps.Recorder = controllers.SyncLedger{L: l}
	e.opts.Controllers.Ledger = l
	e.opts.Controllers.EditLookup = &controllers.BreakGlassLookup{}
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: e.dir, Logger: slog.Default(), OnWrite: controllers.DirectEdits(l, e.opts.Controllers.EditLookup)})
	if err != nil {
		return fmt.Errorf("starting control plane: %w", err)
	}
	e.cp = cp
	c, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	e.Client = c
	if e.opts.APIServerOnly {
		slog.Info("testenv ready (API server only)", "took", time.Since(t0))
		return nil
	}
	if err := crds.Install(ctx, cp.RESTConfig()); err != nil {
		return err
	}
	if err := tenant.InstallRoles(ctx, c); err != nil {
		return err
	}
	if err := e.startManager(); err != nil {
		return err
	}
	if err := controllers.WaitWebhook(ctx, c, "default"); err != nil {
		return err
	}
	// As infraplane up: the cleanup finalizer at create.
	if err := crds.EnableFinalizerPolicy(ctx, c, &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "infraplane-finalizer-probe"}}, managed.Finalizer); err != nil {
		return err
	}
	slog.Info("testenv ready", "took", time.Since(t0))
	return nil
}

func (e *Env) startManager() error {
	if err := controllers.LoopbackWebhook(e.dir, e.webhookPort, &e.opts.Controllers.BreakGlass); err != nil {
		return err
	}
	e.webhookPort = e.opts.Controllers.BreakGlass.WebhookPort // the same after a restart
	cfg, err := e.cp.IdentityRESTConfig(controllers.ControllerUser, []string{"system:masters"})
	if err != nil {
		return err
	}
	mgr, cleanup, err := controllers.NewManager(cfg, controllers.ManagerOptions{
		Options:            e.opts.Controllers,
		AllowSecondManager: true,
		APIQPS:             -1,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			slog.Error("manager stopped", "err", err)
		}
	}()
	e.stopM = func() { cancel(); <-done; cleanup() }
	return nil
}

func (e *Env) stop() {
	if e.stopM != nil {
		e.stopM()
		e.stopM = nil
	}
	if e.cp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.cp.Stop(ctx)
		e.cp = nil
	}
	if e.ledger != nil {
		_ = e.ledger.Close()
		e.ledger = nil
	}
}

// LedgerPath is the audit ledger the environment's controllers and API
// server write to. The test client (admin) counts as a person: its writes
// are direct edits.
func (e *Env) LedgerPath() string { return ledger.DefaultPath(e.dir) }

// Restart stops the controllers and the API server and starts both again
// on the same data directory, as a process restart would.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stop()
	if err := e.start(context.Background()); err != nil {
		t.Fatalf("restart: %v", err)
	}
}

// Config returns an admin REST config.
func (e *Env) Config() *rest.Config { return e.cp.RESTConfig() }

// ControlPlane returns the running control plane.
func (e *Env) ControlPlane() *controlplane.ControlPlane { return e.cp }

// WebhookAddr is the host:port of the admission webhook server the API
// server calls (TLS; it requires the API server's client certificate).
func (e *Env) WebhookAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(e.webhookPort))
}

// ProviderConfig creates (or updates) the ProviderConfig name pointing at
// a local cloud. It is not deleted when the test ends: objects of the
// test's namespace may still need it to delete their cloud resources.
func (e *Env) ProviderConfig(t testing.TB, name string, cloud *localcloud.Cloud) string {
	t.Helper()
	pc := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:     cloud.Project(),
			ProjectNumber: strconv.FormatUint(localcloud.ProjectNumber(cloud.Project()), 10),
			Credentials:   corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:     EndpointsOf(cloud),
		},
	}
	pc.SetGroupVersionKind(corev1alpha1.GroupVersion.WithKind("ProviderConfig"))
	//nolint:staticcheck // typed server-side apply
	if err := e.Client.Patch(context.Background(), pc, client.Apply, client.FieldOwner("testenv"), client.ForceOwnership); err != nil {
		t.Fatalf("apply ProviderConfig: %v", err)
	}
	return name
}

// EndpointsOf are a local cloud's endpoints as a ProviderConfig holds them.
func EndpointsOf(cloud *localcloud.Cloud) corev1alpha1.Endpoints {
	ep := cloud.Endpoints()
	return corev1alpha1.Endpoints{PubSub: ep.PubSub, Storage: ep.Storage, Spanner: ep.Spanner, Bigtable: ep.Bigtable}
}

// Namespace creates a namespace whose objects use ProviderConfig pc,
// onboarded as a team with no people: the ServiceAccount its GitSources
// apply as, bound to the syncer's role. When the test ends the namespace
// is deleted; the cleanup does not wait (the namespace controller takes
// seconds): use WaitNamespacesGone where a test needs a quiet cloud.
func (e *Env) Namespace(t testing.TB, pc string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "t-",
		Annotations:  map[string]string{corev1alpha1.NamespaceAnnotation: pc},
	}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), ns) })
	e.Onboard(t, tenant.Team{Namespace: ns.Name})
	return ns.Name
}

// Onboard writes what `infraplane tenant create` would for team, except
// the namespace itself, which must exist (or is made, for a fixed name).
func (e *Env) Onboard(t testing.TB, team tenant.Team) {
	t.Helper()
	ctx := context.Background()
	objs, err := tenant.Objects(team)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Client.Get(ctx, client.ObjectKey{Name: team.Namespace}, &corev1.Namespace{}); err == nil {
		objs = objs[1:]
	}
	if err := tenant.Apply(ctx, e.Client, objs); err != nil {
		t.Fatalf("onboarding %s: %v", team.Namespace, err)
	}
}

// WaitNamespacesGone waits until every namespace a test created (and
// everything in it) is deleted.
func (e *Env) WaitNamespacesGone(t testing.TB) {
	t.Helper()
	Eventually(t, 2*time.Minute, func() error {
		var list corev1.NamespaceList
		if err := e.Client.List(context.Background(), &list); err != nil {
			return err
		}
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, "t-") {
				return fmt.Errorf("namespace %s still %s", ns.Name, ns.Status.Phase)
			}
		}
		return nil
	})
}

// quietHandler drops the event recorder's complaint that a namespace being
// deleted takes no new events: every test ends by deleting its namespace
// while the controllers still report the deletions.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "Server rejected event") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(a)}
}
func (h quietHandler) WithGroup(n string) slog.Handler { return quietHandler{h.Handler.WithGroup(n)} }

// dnsName turns a test name into a valid object name.
func dnsName(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 60 {
		out = out[len(out)-60:]
		out = strings.Trim(out, "-")
	}
	return out
}
