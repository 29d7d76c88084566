package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/examples"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/memlimit"
	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/tenant"
	"github.com/infraplane/infraplane/internal/version"
)

type upFlags struct {
	dataDir     string
	port        int
	cloud       string
	project     string
	pubsubPort  int
	example     string
	namespace   string
	repo        string
	repoRef     string
	repoPath    string
	webhookPort int
	noCtrl      bool
	dashboard   string // --dashboard-bind-address
	mgr         controllers.ManagerOptions

	dashboardURL string // the login link, once serving
}

func newUpCmd(g *globalFlags) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run everything on this machine: API server, local cloud, controllers",
		Long: `Start infraplane's embedded default in this process:

  - a Kubernetes API server (upstream generic control plane + embedded etcd),
    data and a kubeconfig under --data-dir; objects survive restarts;
  - a local cloud (--cloud): the installed gcloud emulators, or Google's
    in-process fakes, or real GCP; its endpoints are written to
    DATA_DIR/cloud.env for gcloud and the SDKs; the local cloud is in memory,
    and after a restart the controllers create again what the objects declare;
  - a ProviderConfig "default" pointing at that cloud;
  - all controllers (--no-controllers leaves them out: run
    'infraplane controller' against it, e.g. with the controller's own
    least-privilege identity, as on a cluster).

Its logs go to DATA_DIR/up.log (the previous run's to up.log.1); the
terminal shows warnings and errors, and everything with --log-level=info.
One up per data dir: a second one says which process holds it.

Ctrl-C stops the controllers first, then the cloud, then the API server.`,
		Example: `  infraplane up --example quickstart
  export KUBECONFIG=$PWD/.infraplane/kubeconfig
  kubectl get topics,subscriptions`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd.Context(), f, g, cmd.OutOrStdout()) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", ".infraplane", "directory for etcd data, certificates, kubeconfig and cloud.env")
	fl.IntVar(&f.port, "port", 7443, "API server port on 127.0.0.1")
	fl.StringVar(&f.cloud, "cloud", "auto", "cloud to manage: auto (gcloud emulators if installed, else in-process fakes), emulators, fakes, or gcp (real GCP with Application Default Credentials)")
	fl.StringVar(&f.project, "project", "", "GCP project (required with --cloud=gcp; default local-project otherwise)")
	fl.IntVar(&f.pubsubPort, "pubsub-port", 8085, "port of the local Pub/Sub service; 0 picks a free one")
	fl.StringVar(&f.example, "example", "", fmt.Sprintf("apply an example after start: %v", examples.Names()))
	fl.StringVar(&f.namespace, "namespace", "default", "namespace for --example and --repo")
	fl.StringVar(&f.repo, "repo", "", "git repository (URL or local path) to sync into --namespace: creates the GitSource \"default\"")
	fl.StringVar(&f.repoRef, "repo-branch", "main", "branch of --repo")
	fl.StringVar(&f.repoPath, "repo-path", ".", "directory inside --repo")
	fl.StringVar(&f.mgr.HooksAddr, "hooks-bind-address", "127.0.0.1:9091", "address of POST /hooks/git (sync after a push); 0 disables")
	fl.StringVar(&f.dashboard, "dashboard-bind-address", "127.0.0.1:9080", "address on 127.0.0.1 of the read-only web dashboard (port 0 picks a free one); 0 disables")
	fl.StringVar(&f.mgr.MetricsAddr, "metrics-bind-address", "127.0.0.1:9090", "address of the Prometheus /metrics endpoint; 0 disables")
	fl.BoolVar(&f.noCtrl, "no-controllers", false, "serve the API server and the local cloud only, for `infraplane controller` replicas to run against (see its --webhook-url)")
	fl.IntVar(&f.webhookPort, "webhook-port", 9443, "port on 127.0.0.1 of the admission webhook (break-glass); the API server is told to call it, with a CA of its own")
	addControllerTuning(fl, &f.mgr.Options, 30*time.Second, 0)
	addBreakGlassFlags(fl, &f.mgr.BreakGlass)
	return cmd
}

func runUp(ctx context.Context, f *upFlags, g *globalFlags, stdout io.Writer) (err error) {
	start := time.Now()
	stopProfile := startUpProfile()
	defer stopProfile()
	// step logs how long each part of the start took (--log-level=debug).
	last := start
	step := func(what string) {
		now := time.Now()
		slog.Debug("start-up step done", "step", what, "took", now.Sub(last).Round(time.Millisecond), "since", now.Sub(start).Round(time.Millisecond))
		last = now
	}
	if f.cloud == "gcp" && f.project == "" {
		return errors.New("--cloud=gcp needs --project")
	}
	if f.project == "" {
		f.project = localcloud.DefaultProject
	}
	dataDir, err := filepath.Abs(f.dataDir)
	if err != nil {
		return err
	}
	// Private before anything is written into it (the lock, the log, the
	// ledger, then the control plane's keys and etcd).
	if err := controlplane.EnsureDataDir(dataDir, slog.Default()); err != nil {
		return err
	}
	// Before anything else: a second up on the same dir would otherwise
	// fail somewhere inside (the ledger, etcd) with a message that does
	// not say why.
	unlock, err := controlplane.LockPID(filepath.Join(dataDir, upLockFile))
	var inUse *controlplane.InUseError
	if errors.As(err, &inUse) {
		pid := "pid unknown"
		if inUse.PID != 0 {
			pid = fmt.Sprintf("pid %d", inUse.PID)
		}
		return fmt.Errorf("another infraplane up is using %s (%s); stop it first, or give this one another --data-dir", f.dataDir, pid)
	}
	if err != nil {
		return fmt.Errorf("locking the data dir: %w", err)
	}
	defer unlock()
	logPath := filepath.Join(dataDir, upLogName)
	logs, err := upLogFile(g, logPath)
	if err != nil {
		return fmt.Errorf("the log file: %w", err)
	}
	defer logs.Close()
	slog.Info("infraplane up starting", "pid", os.Getpid(), "version", version.String(), "dataDir", dataDir)
	memlimit.Set(slog.Default()) // GOMEMLIMIT, when set, wins
	if err := checkPorts(f); err != nil {
		return err
	}
	// The local cloud needs nothing of the API server: it starts while the
	// control plane does (the emulators' JVM takes seconds).
	localCloud, err := startLocalCloud(ctx, f, dataDir)
	if err != nil {
		return err
	}
	defer localCloud.stopUnlessTaken()

	// The ledger opens first: the API server reports direct edits to it.
	// Its entries are signed with a key of the data dir, made on the
	// first start; its checkpoints go to a ConfigMap (LedgerCheckpoint).
	ledgerKeys, _, err := ledger.EnsureKeyFile(ledger.DefaultKeyPath(dataDir), time.Now())
	if err != nil {
		return fmt.Errorf("the audit ledger's key: %w", err)
	}
	audit, err := ledger.OpenWith(ctx, ledger.DefaultPath(dataDir), ledger.Options{Keys: ledgerKeys})
	if err != nil {
		return fmt.Errorf("opening the audit ledger: %w", err)
	}
	defer audit.Close()

	edits := &controllers.BreakGlassLookup{}
	// BeforeRoles: the API server's default RBAC roles are created while
	// the CRDs are installed (up's own clients are system:masters and need
	// none of them); "is up" waits for them (cp.WaitReady below).
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: dataDir, Port: f.port, Logger: slog.Default(), OnWrite: controllers.DirectEdits(audit, edits), BeforeRoles: true})
	if err != nil {
		return fmt.Errorf("starting the API server: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := cp.Stop(stopCtx); serr != nil {
			slog.Error("stopping the API server", "err", serr)
		}
		slog.Info("stopped")
	}()
	step("control plane")

	c, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	// Before anything creates objects: a just-started API server refuses
	// every create of a managed kind while the finalizer policy is bound
	// (for 5–6 s); startFinalizerPolicy binds it again once it works.
	if err := crds.UnbindFinalizerPolicy(ctx, c); err != nil {
		return err
	}
	// The CRDs, and the roles and namespaces (which need none of them), at
	// once: each is a few round trips the API server spends in work of its
	// own.
	rolesDone := make(chan error, 1)
	go func() { rolesDone <- installRolesAndTeams(ctx, c, f.namespace) }()
	crdErr := crds.Install(ctx, cp.RESTConfig())
	step("CRDs")
	if err := <-rolesDone; err != nil {
		return err
	}
	if crdErr != nil {
		return crdErr
	}
	step("roles and namespaces")
	// The cleanup finalizer at create (one API write less per managed
	// object), installed while the rest starts.
	policy := startFinalizerPolicy(ctx, c)
	defer policy.wait() //nolint:errcheck // on an early return: not left running

	pc := &corev1alpha1.ProviderConfig{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "ProviderConfig"},
		ObjectMeta: metav1.ObjectMeta{Name: corev1alpha1.DefaultProviderConfig},
		Spec:       corev1alpha1.ProviderConfigSpec{ProjectID: f.project},
	}
	cloudLine := fmt.Sprintf("real GCP, project %s (Application Default Credentials)", f.project)
	envFile := ""
	if f.cloud == "gcp" {
		pc.Spec.Credentials.Source = corev1alpha1.CredentialsApplicationDefault
	} else {
		cloud, err := localCloud.take()
		if err != nil {
			return fmt.Errorf("starting the local cloud: %w", err)
		}
		defer func() {
			if serr := cloud.Stop(); serr != nil {
				slog.Error("stopping the local cloud", "err", serr)
			}
		}()
		envFile = filepath.Join(dataDir, "cloud.env")
		if err := cloud.WriteEnvFile(envFile); err != nil {
			return err
		}
		pc.Spec.Credentials.Source = corev1alpha1.CredentialsNone
		pc.Spec.ProjectNumber = strconv.FormatUint(localcloud.ProjectNumber(f.project), 10)
		ep := cloud.Endpoints()
		pc.Spec.Endpoints = corev1alpha1.Endpoints{PubSub: ep.PubSub, Storage: ep.Storage, Spanner: ep.Spanner, Bigtable: ep.Bigtable}
		cloudLine = cloud.Describe()
	}
	step("local cloud")
	//nolint:staticcheck // typed server-side apply
	if err := c.Patch(ctx, pc, client.Apply, client.FieldOwner("infraplane-up"), client.ForceOwnership); err != nil {
		return fmt.Errorf("writing ProviderConfig default: %w", err)
	}

	if f.dashboard != "0" && f.dashboard != "" {
		if err := upDashboard(ctx, f, cp, dataDir); err != nil {
			return err
		}
	}

	if f.noCtrl {
		if err := policy.wait(); err != nil {
			return err
		}
		return serveWithoutControllers(ctx, stdout, cp, c, f, start, cloudLine, envFile, logPath)
	}

	f.mgr.GitOps.CacheDir = filepath.Join(dataDir, "git")
	f.mgr.APIQPS = -1 // our own in-process server: no client-side throttling
	// One manager per up, but a process may run up twice in turn (the
	// tests restart it in-process): the controllers' names are unique
	// within each run.
	f.mgr.AllowSecondManager = true
	f.mgr.Auditor = audit
	f.mgr.GitOps.Recorder = controllers.SyncLedger{L: audit}
	f.mgr.Ledger = audit
	f.mgr.LedgerCheckpoint.Ledger = audit // in infraplane-system
	f.mgr.EditLookup = edits
	if err := controllers.LoopbackWebhook(dataDir, f.webhookPort, &f.mgr.BreakGlass); err != nil {
		return err
	}
	// The controllers have an identity of their own, so the ledger can tell
	// their writes from people's.
	ctrlCfg, err := cp.IdentityRESTConfig(controllers.ControllerUser, []string{"system:masters"})
	if err != nil {
		return err
	}
	// `infraplane controller` replicas may join this API server (that is
	// what --no-controllers is for, but nothing stops one joining a full
	// `up`): the controllers take part in their leader election, so that
	// only one set acts (both acting doubled the cloud writes).
	f.mgr.LeaderElection = true
	f.mgr.LeaderElectionNamespace = "infraplane-system"
	mgr, cleanup, err := controllers.NewManager(ctrlCfg, f.mgr)
	if err != nil {
		return err
	}
	defer cleanup()
	step("manager")
	ctrlStopping.Store(false)
	mgrCtx, stopMgr := context.WithCancel(context.WithoutCancel(ctx))
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	// Controllers stop before the cloud and the API server (deferred above).
	defer func() {
		cp.ShuttingDown() // the webhook goes with the controllers
		ctrlStopping.Store(true)
		stopMgr()
		if merr := <-mgrDone; merr != nil {
			slog.Error("controllers stopped with an error", "err", merr)
		}
	}()

	// Wait for the webhook's enforcement while the example and the
	// repository are applied (neither needs the webhook).
	webhookUp := make(chan error, 1)
	webhookCtx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	go func() { webhookUp <- controllers.WaitWebhook(webhookCtx, c, "default") }()

	// "is up" does not wait for the finalizer policy: on a first start the
	// API server enforces it only some 5 s after its own start (its
	// admission plugin reads the kinds' schemas every 5 s), and it saves
	// one PATCH per object. What is created before then, the example's
	// objects included, gets the finalizer from its controller instead, as
	// on clusters without the policy.
	go func() {
		if err := policy.wait(); err != nil {
			slog.Warn("the finalizer policy is not in effect; the controllers add the finalizer", "err", err)
		}
	}()
	if f.example != "" {
		files, err := examples.Files(f.example)
		if err != nil {
			return err
		}
		objs, err := applyManifests(ctx, c, files, f.namespace, "infraplane-up")
		if err != nil {
			return fmt.Errorf("applying example %s: %w", f.example, err)
		}
		slog.Info("applied example", "example", f.example, "objects", len(objs), "namespace", f.namespace)
	}
	step("example")

	if f.repo != "" {
		if err := applyGitSource(ctx, c, f); err != nil {
			return err
		}
		slog.Info("syncing repository", "repo", f.repo, "branch", f.repoRef, "path", f.repoPath, "namespace", f.namespace)
	}
	// A listener of the controllers that fails (a port taken since the
	// check above) stops them: say so at once, not after the webhook wait.
	select {
	case err := <-webhookUp:
		if err != nil {
			return err
		}
		step("webhook enforced")
	case err := <-mgrDone:
		mgrDone <- err // for the deferred stop
		return fmt.Errorf("controllers stopped: %w", err)
	}

	// The API server's own default roles, made while the rest started.
	if err := cp.WaitReady(ctx); err != nil {
		return err
	}
	step("API server ready")
	stopProfile()
	// The banner goes out in one write: whoever waits for "is up" in the
	// output (a script, a test) reads all of it at once.
	var banner strings.Builder
	fmt.Fprintf(&banner, "\ninfraplane is up (%.1fs)\n", time.Since(start).Seconds())
	fmt.Fprintf(&banner, "  API server:  %s (Kubernetes %s)\n", cp.URL(), version.Kubernetes)
	fmt.Fprintf(&banner, "  kubeconfig:  export KUBECONFIG=%s\n", cp.KubeconfigPath())
	fmt.Fprintf(&banner, "  cloud:       %s\n", cloudLine)
	if envFile != "" {
		fmt.Fprintf(&banner, "  cloud env:   source %s   # for gcloud and the Google SDKs\n", envFile)
	}
	fmt.Fprintf(&banner, "  logs:        %s\n", logsLine(logPath, f.dataDir))
	if f.mgr.HooksAddr != "0" {
		if f.repo != "" {
			path, ok := hookPathOf(ctx, c, f.namespace, "default", upHookSecret)
			if !ok {
				path = hookPathShell(f.namespace, "default")
			}
			fmt.Fprintf(&banner, "  git hook:    curl -X POST -H \"Authorization: Bearer $(kubectl get secret -n %s %s -o jsonpath='{.data.token}' | base64 -d)\" http://%s%s   # sync now (or: infraplane sync)\n", f.namespace, upHookSecret, f.mgr.HooksAddr, path)
		} else {
			fmt.Fprintf(&banner, "  git hook:    POST http://%s/hooks/git/<id>   # each GitSource's status.webhookPath, with spec.webhookSecretRef (docs/gitops.md)\n", f.mgr.HooksAddr)
		}
	}
	if f.mgr.MetricsAddr != "0" {
		fmt.Fprintf(&banner, "  metrics:     http://%s/metrics\n", f.mgr.MetricsAddr)
	}
	if f.dashboardURL != "" {
		fmt.Fprintf(&banner, "  dashboard:   %s   # logs you in as the local admin (docs/dashboard.md)\n", f.dashboardURL)
	}
	fmt.Fprintf(&banner, "  audit:       infraplane audit --data-dir %s   # who changed what (ledger %s)\n", f.dataDir, audit.Path())
	fmt.Fprintf(&banner, "  try:         kubectl get topics,subscriptions\n\nPress Ctrl-C to stop.\n")
	_, _ = io.WriteString(stdout, banner.String())

	select {
	case <-ctx.Done():
		slog.Info("shutting down")
		return nil
	case err := <-mgrDone:
		mgrDone <- err // for the deferred stop
		return fmt.Errorf("controllers stopped: %w", err)
	case <-cp.Done():
		return fmt.Errorf("API server stopped: %w", cp.Err())
	}
}

const (
	upLockFile = "up.lock" // holds the pid of the up using the data dir
	upLogName  = "up.log"  // this run's log; the previous run's is up.log.1
)

// logsLine says where up's logs are, relative to the working directory
// when the data dir is.
func logsLine(logPath, dataDir string) string {
	p := logPath
	if !filepath.IsAbs(dataDir) {
		p = filepath.Join(dataDir, upLogName)
	}
	return p + "   # --log-level=info shows them here"
}

// installRolesAndTeams writes the roles for people and the syncer; the one
// namespace of a single user is onboarded as a team whose people are the
// infraplane:* groups (infraplane kubeconfig --user alice --group
// infraplane:oncall), and the platform namespace's syncer may apply
// Blueprints. None of it needs infraplane's CRDs.
func installRolesAndTeams(ctx context.Context, c client.Client, namespace string) error {
	// The roles and the two namespaces at once: none needs another (a
	// RoleBinding may name a ClusterRole not there yet), and each is a
	// series of round trips up's start waits for.
	teams := map[string][]client.Object{}
	for _, team := range []tenant.Team{
		{Namespace: namespace, ViewerGroups: []string{"infraplane:viewers"}, EditorGroups: []string{"infraplane:editors"}, OncallGroups: []string{"infraplane:oncall"}},
		{Namespace: gitops.DefaultPlatformNamespace, Platform: true},
	} {
		objs, err := tenant.Objects(team)
		if err != nil {
			return err
		}
		teams[team.Namespace] = append(teams[team.Namespace], objs...)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := tenant.InstallRoles(gctx, c); err != nil {
			return fmt.Errorf("installing roles: %w", err)
		}
		return nil
	})
	for ns, objs := range teams {
		g.Go(func() error {
			if err := tenant.Apply(gctx, c, objs); err != nil {
				return fmt.Errorf("onboarding namespace %s: %w", ns, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// upPort is one address up listens on, with the flag that sets it.
type upPort struct{ flag, addr string }

// checkPorts binds every address up will listen on for a moment, so that
// a taken one is named at once rather than found by a component deep into
// the start (a taken metrics port used to surface as the webhook not
// answering, a minute later).
func checkPorts(f *upFlags) error {
	loop := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
	var ports []upPort
	if f.port != 0 {
		ports = append(ports, upPort{"--port", loop(f.port)})
	}
	if f.cloud != "gcp" && f.pubsubPort != 0 {
		ports = append(ports, upPort{"--pubsub-port", loop(f.pubsubPort)})
	}
	if f.dashboard != "0" && f.dashboard != "" {
		if _, port, err := net.SplitHostPort(f.dashboard); err == nil && port != "0" {
			ports = append(ports, upPort{"--dashboard-bind-address", f.dashboard})
		}
	}
	if !f.noCtrl {
		ports = append(ports, upPort{"--webhook-port", loop(f.webhookPort)})
		if f.mgr.MetricsAddr != "0" && f.mgr.MetricsAddr != "" {
			ports = append(ports, upPort{"--metrics-bind-address", f.mgr.MetricsAddr})
		}
		if f.mgr.HooksAddr != "0" && f.mgr.HooksAddr != "" {
			ports = append(ports, upPort{"--hooks-bind-address", f.mgr.HooksAddr})
		}
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			hint := "choose another with " + p.flag
			if p.flag == "--metrics-bind-address" || p.flag == "--hooks-bind-address" || p.flag == "--dashboard-bind-address" {
				hint += " (0 turns it off)"
			}
			return fmt.Errorf("%s (%s) is not free: %w; stop what uses it, or %s", p.addr, p.flag, err, hint)
		}
		ln.Close()
	}
	return nil
}

// serveWithoutControllers is `up --no-controllers`: what is applied is
// applied, and nothing acts on it until a controller runs.
func serveWithoutControllers(ctx context.Context, stdout io.Writer, cp *controlplane.ControlPlane, c client.Client, f *upFlags, start time.Time, cloudLine, envFile, logPath string) error {
	if f.example != "" {
		files, err := examples.Files(f.example)
		if err != nil {
			return err
		}
		if _, err := applyManifests(ctx, c, files, f.namespace, "infraplane-up"); err != nil {
			return fmt.Errorf("applying example %s: %w", f.example, err)
		}
	}
	if f.repo != "" {
		if err := applyGitSource(ctx, c, f); err != nil {
			return err
		}
	}
	if err := cp.WaitReady(ctx); err != nil {
		return err
	}
	var banner strings.Builder // one write, as up's own banner
	fmt.Fprintf(&banner, "\ninfraplane is up without controllers (%.1fs)\n", time.Since(start).Seconds())
	fmt.Fprintf(&banner, "  API server:  %s (Kubernetes %s)\n", cp.URL(), version.Kubernetes)
	fmt.Fprintf(&banner, "  kubeconfig:  export KUBECONFIG=%s\n", cp.KubeconfigPath())
	fmt.Fprintf(&banner, "  cloud:       %s\n", cloudLine)
	if envFile != "" {
		fmt.Fprintf(&banner, "  cloud env:   source %s   # for gcloud and the Google SDKs\n", envFile)
	}
	fmt.Fprintf(&banner, "  logs:        %s\n", logsLine(logPath, f.dataDir))
	if f.dashboardURL != "" {
		fmt.Fprintf(&banner, "  dashboard:   %s   # logs you in as the local admin (docs/dashboard.md)\n", f.dashboardURL)
	}
	fmt.Fprintf(&banner, "  controller:  infraplane controller --kubeconfig %s --webhook-url https://127.0.0.1:%d   # or as its own ServiceAccount: docs/operations.md\n\nPress Ctrl-C to stop.\n", cp.KubeconfigPath(), f.webhookPort)
	_, _ = io.WriteString(stdout, banner.String())
	select {
	case <-ctx.Done():
		slog.Info("shutting down")
		return nil
	case <-cp.Done():
		return fmt.Errorf("API server stopped: %w", cp.Err())
	}
}

// applyGitSource creates or updates the GitSource "default" for --repo,
// and the Secret that authenticates its push hook (an existing token is
// kept).
func applyGitSource(ctx context.Context, c client.Client, f *upFlags) error {
	if err := ensureHookSecret(ctx, c, f.namespace, upHookSecret); err != nil {
		return err
	}
	url := f.repo
	if !strings.Contains(url, "://") && !strings.HasPrefix(url, "git@") {
		abs, err := filepath.Abs(url)
		if err != nil {
			return err
		}
		url = abs
	}
	gs := &corev1alpha1.GitSource{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "GitSource"},
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: f.namespace},
		Spec: corev1alpha1.GitSourceSpec{
			URL:              url,
			Ref:              corev1alpha1.GitRef{Branch: f.repoRef},
			Path:             f.repoPath,
			WebhookSecretRef: &corev1alpha1.LocalObjectReference{Name: upHookSecret},
		},
	}
	//nolint:staticcheck // typed server-side apply
	if err := c.Patch(ctx, gs, client.Apply, client.FieldOwner("infraplane-up"), client.ForceOwnership); err != nil {
		return fmt.Errorf("writing GitSource default: %w", err)
	}
	return nil
}

// upDashboard serves the dashboard on loopback. The local admin logs in
// with a token kept in the data dir (0600), as the admin kubeconfig is:
// whoever can read one can read the other.
func upDashboard(ctx context.Context, f *upFlags, cp *controlplane.ControlPlane, dataDir string) error {
	host, _, err := net.SplitHostPort(f.dashboard)
	if err != nil {
		return fmt.Errorf("--dashboard-bind-address %s: %w", f.dashboard, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--dashboard-bind-address %s: up serves its dashboard on loopback only (e.g. 127.0.0.1:9080); on a shared host run `infraplane controller --dashboard-bind-address` behind TLS", f.dashboard)
	}
	token, err := dashboard.EnsureTokenFile(dataDir)
	if err != nil {
		return fmt.Errorf("the dashboard's login token: %w", err)
	}
	addr, err := startDashboard(ctx, f.dashboard, dashboard.Options{
		Config: cp.RESTConfig(), AdminToken: token, AdminConfig: cp.RESTConfig(), Logger: slog.Default(),
		Ledger: ledger.DefaultPath(dataDir),
	})
	if err != nil {
		return err
	}
	f.dashboardURL = "http://" + addr.String() + "/login?token=" + token
	return nil
}
