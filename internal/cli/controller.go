package cli

import (
	"context"
	"fmt"
	"log/slog"
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

	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/ledger"
)

type controllerFlags struct {
	kubeconfig     string
	ledger         string
	installCRDs    bool
	webhookService string
	webhookCAFile  string
	mgr            controllers.ManagerOptions
}

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
	fl.BoolVar(&f.installCRDs, "install-crds", false, "install or upgrade infraplane's CRDs before starting")
	fl.BoolVar(&f.mgr.LeaderElection, "leader-elect", true, "only one replica acts at a time")
	fl.StringVar(&f.mgr.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's namespace; kube-system outside a pod)")
	fl.StringVar(&f.mgr.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint; 0 disables")
	fl.StringVar(&f.mgr.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz; 0 disables")
	fl.StringVar(&f.mgr.HooksAddr, "hooks-bind-address", ":9292", "address of POST /hooks/git (sync GitSources after a push); 0 disables")
	fl.StringVar(&f.mgr.GitOps.CacheDir, "git-cache-dir", filepath.Join(os.TempDir(), "infraplane-git"), "working copies of GitSource repositories")
	fl.StringVar(&f.mgr.GitOps.PlatformNamespace, "platform-namespace", gitops.DefaultPlatformNamespace, "namespace of the platform team's GitSources: they may also apply Blueprints (cluster-scoped)")
	fl.IntVar(&f.mgr.BreakGlass.WebhookPort, "webhook-port", 9443, "port of the admission webhook (break-glass: who may write what); 0 serves none, and GitOps-managed objects are then not guarded")
	fl.StringVar(&f.mgr.BreakGlass.CertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory with the webhook's tls.crt and tls.key (e.g. a cert-manager Secret mounted there)")
	fl.StringVar(&f.webhookService, "webhook-service", "", "register the webhook configurations for this Service (namespace/name) at start; empty: install them from config/webhook instead")
	fl.StringVar(&f.webhookCAFile, "webhook-ca-file", "", "CA bundle (PEM) that signed the webhook's certificate, for --webhook-service")
	fl.StringVar(&f.mgr.BreakGlass.ClientCAFile, "webhook-client-ca", "", "CA bundle (PEM): the webhook then requires a client certificate signed by it, as the API server presents when its admission configuration gives it one (kubeadm, kind); empty: any caller that reaches the port is served, so restrict the port to the control plane with a NetworkPolicy (docs/architecture.md, Trust boundaries)")
	addControllerTuning(fl, &f.mgr.Options, 5*time.Minute, 20)
	addBreakGlassFlags(fl, &f.mgr.BreakGlass)
	return cmd
}

func runController(cmd *cobra.Command, f *controllerFlags) error {
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
	if f.mgr.LeaderElection && f.mgr.LeaderElectionNamespace == "" {
		if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err != nil {
			// Outside a pod there is no namespace of our own to hold the lease.
			f.mgr.LeaderElectionNamespace = "kube-system"
		}
	}
	if f.ledger != "" {
		audit, err := ledger.Open(f.ledger)
		if err != nil {
			return fmt.Errorf("opening the audit ledger: %w", err)
		}
		defer audit.Close()
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
	if f.webhookService != "" {
		ns, name, ok := strings.Cut(f.webhookService, "/")
		if !ok {
			return fmt.Errorf("--webhook-service: want namespace/name, got %q", f.webhookService)
		}
		ca, err := os.ReadFile(f.webhookCAFile)
		if err != nil {
			return fmt.Errorf("--webhook-ca-file: %w", err)
		}
		port := int32(f.mgr.BreakGlass.WebhookPort)
		f.mgr.BreakGlass.Register = &breakglass.Endpoint{CABundle: ca, Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: name, Port: &port}}
	}
	mgr, cleanup, err := controllers.NewManager(cfg, f.mgr)
	if err != nil {
		return err
	}
	defer cleanup()
	slog.Info("starting controllers", "host", cfg.Host, "leaderElection", f.mgr.LeaderElection)
	return mgr.Start(ctx)
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
