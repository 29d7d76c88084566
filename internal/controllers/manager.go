package controllers

import (
	"crypto/tls"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/ledger/kubecheckpoint"
	"github.com/infraplane/infraplane/internal/scheme"
)

// ManagerOptions configure the controller manager around the controllers.
type ManagerOptions struct {
	Options
	// MetricsAddr serves Prometheus metrics; "0" disables.
	MetricsAddr string
	// MetricsSecure serves them over HTTPS, to callers the API server
	// authenticates (TokenReview) and authorizes for GET on the
	// non-resource URL /metrics (SubjectAccessReview): the metrics name
	// namespaces, GitSources and break-glass activity of every team, so
	// a pod of one team must not read them by reaching the port.
	MetricsSecure bool
	// MetricsCertDir holds tls.crt and tls.key for MetricsSecure; with
	// none there the server makes a self-signed certificate at start.
	MetricsCertDir string
	// HealthAddr serves /healthz and /readyz; "" or "0" disables.
	HealthAddr string
	// LeaderElection makes only one replica act at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease.
	LeaderElectionNamespace string
	// AllowSecondManager permits more than one manager per process (tests
	// restart the controllers).
	AllowSecondManager bool
	// APIQPS limits the controllers' requests to the API server per
	// resource: 0 means 200 (burst 400), negative means no client-side
	// limit (the embedded server, which has priority and fairness).
	APIQPS float32
	// HooksAddr serves POST /hooks/git (sync GitSources after a push);
	// "" or "0" disables it.
	HooksAddr string
	// LedgerCheckpoint, when its Ledger is set, publishes the ledger's
	// checkpoints to a ConfigMap on every replica.
	LedgerCheckpoint LedgerCheckpoint
}

// LedgerCheckpoint publishes an audit ledger's checkpoints (its last seq
// and hash) to the ConfigMap infraplane-ledger-checkpoint in Namespace
// ("": infraplane-system; see package kubecheckpoint) every Interval (0:
// a few seconds) when the ledger grew, and when the manager stops.
type LedgerCheckpoint struct {
	Ledger    *ledger.Ledger
	Namespace string
	Interval  time.Duration
}

// Secure metrics ask the API server who the caller is and whether it may
// GET /metrics.
//
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Leader election holds a Lease in the controller's own namespace (the
// pod's; config/default puts it in infraplane-system): a Role there, not
// a right on every namespace's leases.
//
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=infraplane-system,resources=leases,verbs=get;create;update

// NewManager builds a manager with every controller registered. The
// returned cleanup releases cloud clients; call it after the manager
// stopped.
func NewManager(cfg *rest.Config, opts ManagerOptions) (ctrl.Manager, func(), error) {
	if opts.MetricsAddr == "" {
		opts.MetricsAddr = "0"
	}
	if opts.HealthAddr == "" {
		opts.HealthAddr = "0"
	}
	cfg = rest.CopyConfig(cfg)
	// Client-side throttling of the API server. controller-runtime builds
	// one token bucket per resource, and each new object costs two writes
	// (finalizer, status), so a low limit, not the server, sets the pace
	// (measured: 100 QPS held 1,000 topics back 18 s; docs/benchmarks.md).
	switch {
	case opts.APIQPS < 0:
		cfg.QPS, cfg.Burst = -1, 0 // no client-side limit: the server's priority and fairness protects it
	case opts.APIQPS > 0:
		cfg.QPS, cfg.Burst = opts.APIQPS, int(2*opts.APIQPS)
	default:
		cfg.QPS, cfg.Burst = 200, 400
	}
	metrics := metricsserver.Options{BindAddress: opts.MetricsAddr}
	if opts.MetricsSecure {
		metrics.SecureServing = true
		metrics.CertDir = opts.MetricsCertDir
		metrics.FilterProvider = metricsAuth
		// HTTP/1.1 only: HTTP/2's stream reset flood (CVE-2023-44487)
		// needs no credentials to tie up the server.
		metrics.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metrics,
		HealthProbeBindAddress:  opts.HealthAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "infraplane-controller",
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// Stop controllers promptly on shutdown, before the API server goes.
		LeaderElectionReleaseOnCancel: true,
		// A replica that dies without releasing the lease (kill -9, a lost
		// node) is replaced once the lease expires: 10 s, then at most one
		// retry period (controller-runtime's defaults, 15 s and 2 s, gave
		// 19.6 s in a measured takeover).
		LeaseDuration: ptr.To(10 * time.Second),
		RenewDeadline: ptr.To(7 * time.Second),
		RetryPeriod:   ptr.To(2 * time.Second),
		Controller:    config.Controller{SkipNameValidation: ptr.To(opts.AllowSecondManager)},
		Cache:         cache.Options{DefaultTransform: stripManagedFields},
	})
	if err != nil {
		return nil, func() {}, fmt.Errorf("creating controller manager: %w", err)
	}
	if opts.HealthAddr != "0" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return nil, func() {}, err
		}
		if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
			return nil, func() {}, err
		}
	}
	if lc := opts.LedgerCheckpoint; lc.Ledger != nil {
		// Not the manager's cached client: that would watch every
		// ConfigMap of the cluster to read one.
		c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
		if err != nil {
			return nil, func() {}, err
		}
		if lc.Namespace == "" {
			lc.Namespace = kubecheckpoint.DefaultNamespace
		}
		sink := kubecheckpoint.New(c, lc.Namespace)
		if err := mgr.Add(kubecheckpoint.Publisher{Ledger: lc.Ledger, Sink: sink, Interval: lc.Interval}); err != nil {
			return nil, func() {}, err
		}
	}
	if err := AddHooksServer(mgr, opts.HooksAddr); err != nil {
		return nil, func() {}, fmt.Errorf("serving /hooks/git on %s: %w", opts.HooksAddr, err)
	}
	cleanup, err := Setup(mgr, opts.Options)
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	return mgr, cleanup, nil
}
