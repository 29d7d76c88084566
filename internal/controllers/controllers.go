// Package controllers registers every managed kind's reconciler with a
// controller-runtime manager. It is the one list of kinds infraplane runs;
// `infraplane up`, `infraplane controller` and the tests all use it.
package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"

	"github.com/infraplane/infraplane/internal/cloud/pubsub"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// Options configure all controllers.
type Options struct {
	// ResyncInterval is the default drift-check interval.
	ResyncInterval time.Duration
	// Concurrency is the number of objects of each kind reconciled at once.
	Concurrency int
	// CloudQPS limits cloud calls per ProviderConfig and service (0: none).
	CloudQPS float64
	// CloudBurst is the burst for CloudQPS.
	CloudBurst int
	// Pauses are extra pause policies (break-glass plugs in here).
	Pauses []managed.PauseFunc
	// Auditor records every cloud write (the audit ledger).
	Auditor managed.Auditor
	// GitOps configures the GitSource syncer; nil CacheDir disables it.
	GitOps gitops.Options
}

// RefKinds are the managed kinds that references (xxxRef: {name}) may
// point at, for the syncer's and validate's reference checks.
var RefKinds = map[string]schema.GroupVersionKind{
	"Topic": pubsubv1.GroupVersion.WithKind("Topic"),
}

// Setup registers every kind. The returned func releases cloud clients;
// call it after the manager stopped.
func Setup(mgr ctrl.Manager, opts Options) (func(), error) {
	providers := provider.NewResolver(mgr.GetClient(), provider.Options{QPS: opts.CloudQPS, Burst: opts.CloudBurst})
	mopts := managed.Options{ResyncInterval: opts.ResyncInterval, Concurrency: opts.Concurrency, Pauses: opts.Pauses, Auditor: opts.Auditor}

	kinds, closeClients := managedKinds()
	for _, k := range kinds {
		if err := k.setup(mgr, providers, mopts); err != nil {
			return closeClients, err
		}
	}
	if opts.GitOps.CacheDir != "" {
		g := opts.GitOps
		if g.RefKinds == nil {
			g.RefKinds = RefKinds
		}
		if _, err := gitops.SetupSyncer(mgr, g); err != nil {
			return closeClients, err
		}
	}
	return closeClients, nil
}

// Planners returns a read-only cloud planner per managed kind, for `plan`;
// the func releases their cloud clients.
func Planners() ([]managed.Planner, func()) {
	kinds, closeClients := managedKinds()
	out := make([]managed.Planner, len(kinds))
	for i, k := range kinds {
		out[i] = k.planner()
	}
	return out, closeClients
}

// managedKinds is the one list of managed kinds.
func managedKinds() ([]registration, func()) {
	ps := pubsub.NewClients()
	return []registration{
		kind[*pubsubv1.Topic]{pubsub.TopicKind(ps), pubsubv1.GroupVersion.WithKind("Topic").GroupKind()},
		kind[*pubsubv1.Subscription]{pubsub.SubscriptionKind(ps), pubsubv1.GroupVersion.WithKind("Subscription").GroupKind()},
	}, ps.Close
}

// registration hides each kind's Go type behind what this package needs.
type registration interface {
	setup(mgr ctrl.Manager, providers *provider.Resolver, opts managed.Options) error
	planner() managed.Planner
}

type kind[T managed.Object] struct {
	k  managed.Kind[T]
	gk schema.GroupKind
}

func (k kind[T]) setup(mgr ctrl.Manager, providers *provider.Resolver, opts managed.Options) error {
	return managed.Setup(mgr, k.k, providers, opts)
}

func (k kind[T]) planner() managed.Planner { return k.k.Planner(k.gk) }
