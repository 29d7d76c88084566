package managed

import (
	"context"
	"fmt"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
)

// Events about objects: the recorders of controller-runtime write both
// events.k8s.io (GetEventRecorder) and core (GetEventRecorderFor, leader
// election) events, and patch them when they repeat.
//
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Setup registers the reconciler of one kind with a manager: the
// finalizer-aware loop, watches on the kinds it references (so a Topic
// becoming Ready wakes its Subscriptions at once), and on ProviderConfigs.
func Setup[T Object](mgr ctrl.Manager, kind Kind[T], providers *provider.Resolver, opts Options) error {
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 5 * time.Minute
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 10
	}
	if opts.PassTimeout <= 0 {
		opts.PassTimeout = 3 * time.Minute
	}
	r := &Reconciler[T]{
		kind:      kind,
		client:    mgr.GetClient(),
		apiReader: mgr.GetAPIReader(),
		providers: providers,
		recorder:  mgr.GetEventRecorder("infraplane-" + kind.Name),
		opts:      opts,
		drift:     newDriftSet(kind.Name),
	}

	b := ctrl.NewControllerManagedBy(mgr).
		Named(kind.Name).
		For(kind.New(), builder.WithPredicates(specOrIntentChanged{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: opts.Concurrency,
			// Transient cloud errors back off from 1 s to 5 min per object.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 5*time.Minute),
		}).
		Watches(&corev1alpha1.ProviderConfig{}, handler.EnqueueRequestsFromMapFunc(r.allObjects))

	gvk, err := apiutil.GVKForObject(kind.New(), mgr.GetScheme())
	if err != nil {
		return err
	}
	for _, w := range opts.Wake {
		b = b.Watches(w.Source, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var reqs []reconcile.Request
			for _, n := range w.Map(ctx, gvk.GroupKind(), o) {
				reqs = append(reqs, reconcile.Request{NamespacedName: n})
			}
			return reqs
		}))
	}
	for _, t := range kind.Targets {
		key := refIndexKey(t.Kind)
		err := mgr.GetFieldIndexer().IndexField(context.Background(), kind.New(), key, func(o client.Object) []string {
			var names []string
			for _, ref := range kind.References(o.(T)) {
				if ref.Target.Kind == t.Kind && ref.Ref.Name != "" {
					names = append(names, ref.Ref.Name)
				}
			}
			return names
		})
		if err != nil {
			return fmt.Errorf("indexing %s references to %s: %w", kind.Name, t.Kind, err)
		}
		b = b.Watches(t.New(), handler.EnqueueRequestsFromMapFunc(r.referencing(key)), builder.WithPredicates(targetChanged{}))
	}
	return b.Complete(r)
}

// referencing maps a changed target to the objects that reference it.
func (r *Reconciler[T]) referencing(indexKey string) handler.MapFunc {
	return func(ctx context.Context, target client.Object) []reconcile.Request {
		objs, err := r.listKind(ctx, client.InNamespace(target.GetNamespace()), client.MatchingFields{indexKey: target.GetName()})
		if err != nil {
			return nil
		}
		return objs
	}
}

// allObjects wakes every object of the kind: used when a ProviderConfig
// changes, which is rare.
func (r *Reconciler[T]) allObjects(ctx context.Context, _ client.Object) []reconcile.Request {
	objs, err := r.listKind(ctx)
	if err != nil {
		return nil
	}
	return objs
}

func (r *Reconciler[T]) listKind(ctx context.Context, opts ...client.ListOption) ([]reconcile.Request, error) {
	list := r.kind.NewList()
	if err := r.client.List(ctx, list, opts...); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	reqs := make([]reconcile.Request, 0, len(items))
	for _, it := range items {
		o, ok := it.(client.Object)
		if !ok {
			continue
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}})
	}
	return reqs, nil
}

// specOrIntentChanged passes the events that can change what the
// reconciler must do: creation, spec changes (generation), annotation
// changes (pause), and deletion. Status-only updates, including our own,
// are ignored, so writing status never triggers another reconcile.
type specOrIntentChanged struct{ predicate.Funcs }

func (specOrIntentChanged) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return true
	}
	return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
		!maps.Equal(e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()) ||
		!e.ObjectOld.GetDeletionTimestamp().Equal(e.ObjectNew.GetDeletionTimestamp())
}

// targetChanged passes the changes of a referenced object that matter to
// the objects referencing it: readiness, cloud name, deletion. Its routine
// status writes do not wake them.
type targetChanged struct{ predicate.Funcs }

func (targetChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(Object)
	n, ok2 := e.ObjectNew.(Object)
	if !ok1 || !ok2 {
		return true
	}
	ready := func(x Object) string {
		if c := meta.FindStatusCondition(x.ManagedStatus().Conditions, "Ready"); c != nil {
			return string(c.Status)
		}
		return ""
	}
	return ready(o) != ready(n) ||
		o.ManagedStatus().SelfLink != n.ManagedStatus().SelfLink ||
		!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
}
