package breakglass

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// SystemUsers write GitOps-managed objects as part of the API server's own
// work (the embedded server's loopback identity runs namespace deletion and
// garbage collection; in a cluster, the controller manager's accounts).
var SystemUsers = []string{
	"system:apiserver",
	"system:serviceaccount:kube-system:namespace-controller",
	"system:serviceaccount:kube-system:generic-garbage-collector",
}

// Options configure the BreakGlass controller and webhook.
type Options struct {
	// Kinds a break-glass can cover.
	Kinds Kinds
	// Desired reads git for a GitSource (the syncer's Desired). Without
	// it the controller cannot compare targets with git.
	Desired DesiredFunc
	// Rendered is what the Blueprint controller would make of an
	// instance's child (blueprint.Controller.DryRunChild). Without it the
	// controller cannot compare children with their Blueprint (they are
	// held until it can).
	Rendered RenderedFunc
	// Ledger records the life cycle.
	Ledger Recorder
	// MaxDuration caps spec.duration (8h when 0).
	MaxDuration time.Duration
	// AdminGroups may edit GitOps-managed objects without a break-glass.
	AdminGroups []string
	// Exempt users are never checked: infraplane's own identity (the
	// syncer and controllers) and SystemUsers.
	Exempt []string
	// RecordEdits makes the webhook record the direct edits it allows in
	// Ledger: for clusters without infraplane's embedded audit backend.
	RecordEdits bool

	// WebhookHost and WebhookPort serve the admission webhook (TLS, with
	// tls.crt and tls.key from CertDir); port 0 serves no webhook.
	WebhookHost string
	WebhookPort int
	CertDir     string
	// ClientCAFile, if set, is a PEM file of CA certificates: the webhook
	// server then requires a client certificate signed by one of them (the
	// API server's) and fails the TLS handshake of any other caller, so a
	// forged AdmissionReview from whoever reaches the port is never read.
	ClientCAFile string
	// ProbeCert is a client certificate ClientCAFile accepts, presented
	// only by the check that the server answers before the configurations
	// are registered. Without it that check's handshake is refused, and
	// logged once.
	ProbeCert *tls.Certificate
	// Register, if set, installs the webhook configurations pointing at it
	// once the webhook server answers.
	Register *Endpoint

	// Extra are other features' admission webhooks served by the same
	// server (one port, one certificate): Blueprint validation.
	Extra []ExtraWebhook
}

// ExtraWebhook is another feature's admission handler on the break-glass
// webhook server.
type ExtraWebhook struct {
	// Path the handler is served on.
	Path    string
	Handler admission.Handler
	// Register installs the feature's webhook configuration pointing at
	// ep; it runs after the break-glass configurations are installed (only
	// when Options.Register is set).
	Register func(ctx context.Context, c client.Client, ep Endpoint) error
}

// NewPolicy returns the hooks for the syncer and the managed reconcilers,
// reading break-glasses from the manager's cache.
func NewPolicy(mgr ctrl.Manager) *Policy {
	return &Policy{Index: &Index{Reader: mgr.GetClient()}, Scheme: mgr.GetScheme()}
}

// The controller: break-glasses (finalizer by update, status by patch),
// the GitSources of their targets (watched: a sync may end a hold), and
// Blueprints (the guard's rules follow their API groups). Targets are read
// and dry-run applied (patch) as infraplane's kinds and Blueprint kinds,
// whose rights are granted where those kinds are handled.
//
// +kubebuilder:rbac:groups=infraplane.dev,resources=breakglasses,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=infraplane.dev,resources=breakglasses/status,verbs=get;patch
// +kubebuilder:rbac:groups=infraplane.dev,resources=gitsources,verbs=get;list;watch
// +kubebuilder:rbac:groups=infraplane.dev,resources=blueprints,verbs=get;list;watch

// Setup registers the BreakGlass controller and, if configured, the
// admission webhook.
func Setup(mgr ctrl.Manager, p *Policy, opts Options) error {
	r := &Reconciler{
		client:   mgr.GetClient(),
		kinds:    opts.Kinds,
		desired:  opts.Desired,
		rendered: opts.Rendered,
		ledger:   opts.Ledger,
		recorder: mgr.GetEventRecorder("infraplane-breakglass"),
		now:      time.Now,
	}
	if r.desired == nil {
		return fmt.Errorf("breakglass: Desired (the syncer) is required")
	}
	if err := r.setup(mgr); err != nil {
		return err
	}
	if opts.WebhookPort == 0 {
		return nil
	}
	wh := &Webhook{
		Index:       p.Index,
		Live:        mgr.GetAPIReader(),
		Kinds:       opts.Kinds,
		MaxDuration: opts.MaxDuration,
		AdminGroups: opts.AdminGroups,
		Exempt:      opts.Exempt,
	}
	if opts.RecordEdits && opts.Ledger != nil {
		wh.Edits = opts.Ledger
	}
	srv, err := NewWebhookServer(opts)
	if err != nil {
		return err
	}
	srv.Register(MutateBreakGlassPath, &webhook.Admission{Handler: wh.MutateBreakGlass()})
	srv.Register(ValidateBreakGlassPath, &webhook.Admission{Handler: wh.ValidateBreakGlass()})
	srv.Register(GuardPath, &webhook.Admission{Handler: wh.Guard()})
	for _, x := range opts.Extra {
		srv.Register(x.Path, &webhook.Admission{Handler: x.Handler})
	}
	if err := mgr.Add(srv); err != nil {
		return err
	}
	if opts.Register == nil {
		return nil
	}
	registered := make(chan struct{})
	groups := &guardGroups{c: mgr.GetClient(), ep: *opts.Register, kinds: opts.Kinds, exempt: opts.Exempt, registered: registered}
	if err := ctrl.NewControllerManagedBy(mgr).Named("breakglass-guard-groups").
		For(&corev1alpha1.Blueprint{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(groups); err != nil {
		return err
	}
	return mgr.Add(registrar(func(ctx context.Context) error {
		started := srv.StartedChecker()
		if opts.ClientCAFile != "" && opts.ProbeCert != nil {
			started = probe(opts.WebhookHost, opts.WebhookPort, opts.ProbeCert)
		}
		for started(nil) != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
		extras := func(ctx context.Context, ep Endpoint) error {
			for _, x := range opts.Extra {
				if x.Register == nil {
					continue
				}
				if err := x.Register(ctx, mgr.GetClient(), ep); err != nil {
					return err
				}
			}
			return nil
		}
		if err := Register(ctx, mgr.GetClient(), *opts.Register, opts.Kinds, opts.Exempt); err != nil {
			return err
		}
		if err := extras(ctx, *opts.Register); err != nil {
			return err
		}
		slog.Info("admission webhook registered", "url", opts.Register.URL)
		close(registered)
		// A renewed CA: every configuration trusts the new bundle (retried
		// until it does; the old one stays valid meanwhile).
		var pending []byte
		var retry <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return nil
			case pending = <-opts.Register.Rotated:
			case <-retry:
			}
			if err := groups.rotate(ctx, pending, extras); err != nil {
				slog.Error("installing the webhook configurations with a new CA bundle; retrying", "err", err)
				retry = time.After(10 * time.Second)
				continue
			}
			retry = nil
			slog.Info("admission webhook registered with a new CA bundle")
		}
	}))
}

// NewWebhookServer is the admission webhook server opts describe, with no
// handlers registered yet.
func NewWebhookServer(opts Options) (webhook.Server, error) {
	tlsOpts := []func(*tls.Config){func(c *tls.Config) {
		// HTTP/1.1 only: HTTP/2's graceful close waits a second for the API
		// server to hang up, which doubled `up`'s shutdown (measured), and
		// HTTP/2 is where the rapid-reset attacks were.
		c.NextProtos = []string{"http/1.1"}
	}}
	if opts.ClientCAFile != "" {
		// Read once, here: a missing or empty file fails at start, not at
		// the first admission request.
		pem, err := os.ReadFile(opts.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the webhook's client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the webhook's client CA %s holds no PEM certificate", opts.ClientCAFile)
		}
		tlsOpts = append(tlsOpts, func(c *tls.Config) {
			c.ClientCAs = pool
			c.ClientAuth = tls.RequireAndVerifyClientCert
		})
	}
	return webhook.NewServer(webhook.Options{Host: opts.WebhookHost, Port: opts.WebhookPort, CertDir: opts.CertDir, TLSOpts: tlsOpts}), nil
}

// probe checks that the webhook server completes a TLS handshake with cert
// (the server's own certificate is not checked: only that it answers).
func probe(host string, port int, cert *tls.Certificate) func(*http.Request) error {
	return func(*http.Request) error {
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // a liveness probe of our own listener; nothing is sent
			Certificates:       []tls.Certificate{*cert},
			NextProtos:         []string{"http/1.1"},
		})
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// registrar runs once on every replica (not only the leader): each one
// serves the webhook.
type registrar func(ctx context.Context) error

func (f registrar) Start(ctx context.Context) error { return f(ctx) }
func (registrar) NeedLeaderElection() bool          { return false }
