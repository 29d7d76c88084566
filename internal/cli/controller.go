package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/ledger"
)

type controllerFlags struct {
	kubeconfig  string
	ledger      string
	installCRDs bool
	mgr         controllers.ManagerOptions
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
	addControllerTuning(fl, &f.mgr.Options, 5*time.Minute, 20)
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
	} else {
		slog.Warn("no --ledger: cloud writes and syncs are not recorded in an audit ledger")
	}
	mgr, cleanup, err := controllers.NewManager(cfg, f.mgr)
	if err != nil {
		return err
	}
	defer cleanup()
	slog.Info("starting controllers", "host", cfg.Host, "leaderElection", f.mgr.LeaderElection)
	return mgr.Start(ctx)
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
