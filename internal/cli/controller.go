package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/memlimit"
	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/webhookcert"
)

type controllerFlags struct {
	kubeconfig        string
	ledger            string
	ledgerOpts        ledgerFlags
	installCRDs       bool
	webhookService    string
	webhookURL        string
	webhookCerts      string
	webhookCertSecret string
	webhookCAFile     string
	dashboardAddr     string
	mgr               controllers.ManagerOptions
}

// Where `controller` gets the webhook's serving certificate.
const (
	certsSelfManaged = "self-managed"
	certsFiles       = "files"
)

func newControllerCmd() *cobra.Command {
	f := &controllerFlags{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the controllers against an existing Kubernetes cluster",
		Long: `Run infraplane's controllers (no embedded API server, no local cloud)
against any Kubernetes cluster: the one --kubeconfig names, else
$KUBECONFIG, else the in-cluster service account. This is how infraplane
runs at scale, as a Deployment with leader election.

Cloud projects, credentials and endpoints come from ProviderConfig objects.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runController(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then in-cluster)")
	fl.Float32Var(&f.mgr.APIQPS, "kube-api-qps", 200, "requests per second to the Kubernetes API per resource kind (burst twice that); negative: no client-side limit")
	fl.StringVar(&f.ledger, "ledger", "", "audit ledger: a file (on a persistent volume) or a PostgreSQL URL postgres://USER@HOST/DB (table infraplane_ledger, one chain shared by all replicas; pass the password in PGPASSWORD); empty: no ledger")
	f.ledgerOpts.add(fl)
	fl.BoolVar(&f.installCRDs, "install-crds", false, "install or upgrade infraplane's CRDs before starting")
	fl.BoolVar(&f.mgr.LeaderElection, "leader-elect", true, "only one replica acts at a time")
	fl.StringVar(&f.mgr.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's namespace; outside a pod, "+gitops.DefaultPlatformNamespace+")")
	fl.StringVar(&f.mgr.MetricsAddr, "metrics-bind-address", ":8443", "address of the Prometheus /metrics endpoint; 0 disables")
	fl.BoolVar(&f.mgr.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS to callers the API server authenticates and authorizes for GET on /metrics (ClusterRole infraplane-metrics-reader); false serves plain HTTP to anyone who reaches the port")
	fl.StringVar(&f.mgr.MetricsCertDir, "metrics-cert-dir", filepath.Join(os.TempDir(), "k8s-metrics-server", "serving-certs"), "directory of tls.crt and tls.key for --metrics-secure (read again when they change); without them there, a self-signed certificate made at start")
	fl.StringVar(&f.mgr.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz; 0 disables")
	fl.StringVar(&f.dashboardAddr, "dashboard-bind-address", "0", "address of the read-only web dashboard (HTTP: put TLS in front of it); people log in with a bearer token the API server accepts and see what RBAC lets them read; 0 disables")
	fl.StringVar(&f.mgr.HooksAddr, "hooks-bind-address", ":9292", "address of POST /hooks/git (sync GitSources after a push); 0 disables")
	fl.StringVar(&f.mgr.GitOps.CacheDir, "git-cache-dir", filepath.Join(os.TempDir(), "infraplane-git"), "working copies of GitSource repositories")
	fl.StringVar(&f.mgr.GitOps.PlatformNamespace, "platform-namespace", gitops.DefaultPlatformNamespace, "namespace of the platform team's GitSources: they may also apply Blueprints (cluster-scoped)")
	fl.IntVar(&f.mgr.BreakGlass.WebhookPort, "webhook-port", 9443, "port of the admission webhook (break-glass: who may write what); 0 serves none, and GitOps-managed objects are then not guarded")
	fl.StringVar(&f.mgr.BreakGlass.CertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory of the webhook's tls.crt and tls.key: written there (--webhook-certs=self-managed) or mounted there (files, e.g. cert-manager's Secret)")
	fl.StringVar(&f.webhookService, "webhook-service", "", "the Service (namespace/name) in front of the webhook port: the controller registers its webhook configurations for it (they change as Blueprints add API groups) on every start")
	fl.StringVar(&f.webhookURL, "webhook-url", "", "instead of --webhook-service, the base URL the API server calls the webhook at (e.g. https://127.0.0.1:9443 for an API server on this machine, such as `infraplane up --no-controllers`)")
	fl.StringVar(&f.webhookCerts, "webhook-certs", certsSelfManaged, "where the webhook's certificate comes from: self-managed (a CA and certificate the controller keeps in --webhook-cert-secret and renews) or files (mounted in --webhook-cert-dir, CA in --webhook-ca-file; cert-manager)")
	fl.StringVar(&f.webhookCertSecret, "webhook-cert-secret", webhookcert.DefaultSecret, "Secret in the controller's namespace that holds the self-managed CA and certificate")
	fl.StringVar(&f.webhookCAFile, "webhook-ca-file", "", "with --webhook-certs=files: the CA bundle (PEM) the API server must trust (default: ca.crt in --webhook-cert-dir, where cert-manager puts it); read again when it changes")
	fl.StringVar(&f.mgr.BreakGlass.ClientCAFile, "webhook-client-ca", "", "CA bundle (PEM): the webhook then requires a client certificate signed by it, as the API server presents when its admission configuration gives it one (kubeadm, kind); empty: any caller that reaches the port is served, so restrict the port to the control plane with a NetworkPolicy (docs/architecture.md, Trust boundaries)")
	addControllerTuning(fl, &f.mgr.Options, 5*time.Minute, 20)
	addBreakGlassFlags(fl, &f.mgr.BreakGlass)
	return cmd
}

func runController(cmd *cobra.Command, f *controllerFlags) error {
	memlimit.Set(slog.Default()) // GOMEMLIMIT, when set, wins
	cfg, err := loadRESTConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if f.installCRDs {
		if err := crds.Install(ctx, cfg); err != nil {
			return err
		}
	}
	own := ownNamespace()
	if f.mgr.LeaderElection && f.mgr.LeaderElectionNamespace == "" {
		// The Role config/rbac/controller grants covers leases there only.
		f.mgr.LeaderElectionNamespace = own
	}
	if f.ledger != "" {
		audit, checkpoint, err := f.ledgerOpts.open(ctx, f.ledger)
		if err != nil {
			return fmt.Errorf("opening the audit ledger: %w", err)
		}
		defer audit.Close()
		f.mgr.LedgerCheckpoint = checkpoint
		f.mgr.Auditor = audit
		f.mgr.GitOps.Recorder = controllers.SyncLedger{L: audit}
		f.mgr.Ledger = audit
		// No embedded audit backend here: the webhook records the direct
		// edits of GitOps-managed objects it allows.
		f.mgr.BreakGlass.RecordEdits = true
	} else {
		slog.Warn("no --ledger: cloud writes and syncs are not recorded in an audit ledger")
	}
	// The controllers' own writes never go through the webhook: find out
	// who we are (a service account in a pod).
	if who, err := selfUser(ctx, cfg); err == nil {
		f.mgr.BreakGlass.Exempt = append(f.mgr.BreakGlass.Exempt, who)
	} else {
		slog.Warn("could not tell our own user name (SelfSubjectReview); our writes go through the webhook", "err", err)
	}
	if f.webhookCAFile != "" && !cmd.Flags().Changed("webhook-certs") {
		// Set up before --webhook-certs existed: the CA file meant files.
		f.webhookCerts = certsFiles
	}
	certs, err := webhookCerts(ctx, cfg, f, own)
	if err != nil {
		return err
	}
	mgr, cleanup, err := controllers.NewManager(cfg, f.mgr)
	if err != nil {
		return err
	}
	defer cleanup()
	if certs != nil {
		if err := mgr.Add(certs); err != nil {
			return err
		}
	}
	if f.dashboardAddr != "0" && f.dashboardAddr != "" {
		// Served by every replica, leader or not: it only reads.
		addr, err := startDashboard(ctx, f.dashboardAddr, dashboard.Options{Config: cfg, Logger: slog.Default(), Ledger: f.ledger})
		if err != nil {
			return err
		}
		slog.Info("serving the dashboard", "address", addr.String())
	}
	slog.Info("starting controllers", "host", cfg.Host, "leaderElection", f.mgr.LeaderElection)
	return mgr.Start(ctx)
}

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=selfsubjectreviews,verbs=create

// ownNamespace is the controller's namespace: the pod's, else the
// platform namespace (where config/default installs it).
func ownNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return gitops.DefaultPlatformNamespace
}

// webhookCerts readies the webhook's serving certificate before the
// webhook server starts, and sets up the registration of the webhook
// configurations with its CA bundle. The returned source (nil without a
// webhook) keeps both current while the manager runs.
func webhookCerts(ctx context.Context, cfg *rest.Config, f *controllerFlags, own string) (webhookcert.Source, error) {
	b := &f.mgr.BreakGlass
	if b.WebhookPort == 0 {
		return nil, nil
	}
	var ep *breakglass.Endpoint
	var names webhookcert.Names
	switch {
	case f.webhookService != "" && f.webhookURL != "":
		return nil, errors.New("--webhook-service and --webhook-url: give one")
	case f.webhookService != "":
		ns, name, ok := strings.Cut(f.webhookService, "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--webhook-service: want namespace/name, got %q", f.webhookService)
		}
		// The Service's port is the webhook's (config/manager/services.yaml).
		port := int32(b.WebhookPort)
		ep = &breakglass.Endpoint{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: name, Port: &port}}
		// The API server calls a Service as name.namespace.svc.
		names.DNS = []string{name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local"}
	case f.webhookURL != "":
		u, err := url.Parse(f.webhookURL)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return nil, fmt.Errorf("--webhook-url: want https://HOST:PORT, got %q", f.webhookURL)
		}
		ep = &breakglass.Endpoint{URL: f.webhookURL}
		if ip := net.ParseIP(u.Hostname()); ip != nil {
			names.IPs = []net.IP{ip}
		} else {
			names.DNS = []string{u.Hostname()}
		}
	default:
		slog.Warn("neither --webhook-service nor --webhook-url: the webhooks are served but not registered, so nothing guards GitOps-managed objects")
	}

	var src webhookcert.Source
	switch f.webhookCerts {
	case certsSelfManaged:
		if ep == nil {
			return nil, errors.New("--webhook-certs=self-managed needs --webhook-service or --webhook-url: the certificate is made for the name the API server calls")
		}
		c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
		if err != nil {
			return nil, err
		}
		ns, name := own, f.webhookCertSecret
		if n, s, ok := strings.Cut(name, "/"); ok {
			ns, name = n, s
		}
		src = &webhookcert.SelfManaged{Client: c, Namespace: ns, Name: name, Names: names, Dir: b.CertDir}
	case certsFiles:
		ca := f.webhookCAFile
		if ca == "" {
			ca = filepath.Join(b.CertDir, "ca.crt")
		}
		src = &webhookcert.Files{Dir: b.CertDir, CAFile: ca}
	default:
		return nil, fmt.Errorf("--webhook-certs: want %s or %s, got %q", certsSelfManaged, certsFiles, f.webhookCerts)
	}
	bundle, err := src.Ensure(ctx)
	if err != nil {
		return nil, err
	}
	if ep != nil {
		ep.CABundle, ep.Rotated = bundle, src.Rotated()
		b.Register = ep
	}
	return src, nil
}

// selfUser asks the API server who cfg authenticates as.
func selfUser(ctx context.Context, cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

func loadRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster to talk to (set --kubeconfig or $KUBECONFIG, or run in a pod): %w", err)
	}
	return cfg, nil
}
