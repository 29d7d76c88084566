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

	ps := pubsub.NewClients()
	if err := managed.Setup(mgr, pubsub.TopicKind(ps), providers, mopts); err != nil {
		return ps.Close, err
	}
	if err := managed.Setup(mgr, pubsub.SubscriptionKind(ps), providers, mopts); err != nil {
		return ps.Close, err
	}
	if opts.GitOps.CacheDir != "" {
		g := opts.GitOps
		if g.RefKinds == nil {
			g.RefKinds = RefKinds
		}
		if _, err := gitops.SetupSyncer(mgr, g); err != nil {
			return ps.Close, err
		}
	}
	return ps.Close, nil
}
