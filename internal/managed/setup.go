package managed

import (
	"context"
	"fmt"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"sigs.k8s.io/controller-runtime/pkg/source"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
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
		objects:   newObjectSet(kind.Name),
	}

	b := ctrl.NewControllerManagedBy(mgr).
		Named(kind.Name).
		For(kind.New(), builder.WithPredicates(specOrIntentChanged{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: opts.Concurrency,
			// Transient cloud errors back off from 1 s to 5 min per object.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 5*time.Minute),
		}).
		// Spec changes only: a ProviderConfig's status write (its own
		// controller's) must not wake every object.
		Watches(&corev1alpha1.ProviderConfig{}, handler.EnqueueRequestsFromMapFunc(r.allObjects), builder.WithPredicates(predicate.GenerationChangedPredicate{}))

	if providers != nil {
		// An endpoint answering again after an outage: the objects that
		// failed meanwhile go on at once, not at the end of their backoff
		// (up to 5 min by then).
		recovered := make(chan event.TypedGenericEvent[client.Object], 64)
		providers.OnRecovered(func(pc, _ string) {
			select {
			case recovered <- event.TypedGenericEvent[client.Object]{Object: &corev1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: pc}}}:
			default: // a wake is queued already
			}
		})
		b = b.WatchesRawSource(source.Channel(recovered, handler.EnqueueRequestsFromMapFunc(r.failedUnder)))
	}

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

// failedUnder wakes the objects of the kind that use the ProviderConfig
// pc and whose last pass failed (Synced is not True).
func (r *Reconciler[T]) failedUnder(ctx context.Context, pc client.Object) []reconcile.Request {
	list := r.kind.NewList()
	if err := r.client.List(ctx, list); err != nil {
		return nil
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil
	}
	uses := map[string]bool{} // namespace -> uses pc
	var reqs []reconcile.Request
	for _, it := range items {
		o, ok := it.(Object)
		if !ok || meta.IsStatusConditionTrue(o.ManagedStatus().Conditions, commonv1.TypeSynced) {
			continue
		}
		ns := o.GetNamespace()
		u, seen := uses[ns]
		if !seen {
			c, err := r.providers.ForNamespace(ctx, ns)
			u = err == nil && c.Name == pc.GetName()
			uses[ns] = u
		}
		if u {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: o.GetName()}})
		}
	}
	return reqs
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
// the objects referencing it: readiness (and its reason and message: a
// resource created again after it vanished from the cloud stays Ready
// across the pass, but its message says it was created, and the objects
// that failed on its absence must try again now, not after their
// backoff), cloud name, deletion. Its routine status writes do not wake
// them.
type targetChanged struct{ predicate.Funcs }

func (targetChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(Object)
	n, ok2 := e.ObjectNew.(Object)
	if !ok1 || !ok2 {
		return true
	}
	ready := func(x Object) string {
		if c := meta.FindStatusCondition(x.ManagedStatus().Conditions, "Ready"); c != nil {
			return string(c.Status) + "/" + c.Reason + "/" + c.Message
		}
		return ""
	}
	return ready(o) != ready(n) ||
		o.ManagedStatus().SelfLink != n.ManagedStatus().SelfLink ||
		!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
}
