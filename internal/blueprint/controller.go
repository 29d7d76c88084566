package blueprint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/conditions"
)

// FieldManager is the server-side apply field manager of everything the
// Blueprint controllers write (CRDs and children).
const FieldManager = "infraplane-blueprint"

// HashAnnotation on the generated CRD is the hash of the Blueprint spec
// it was made from (the CRD is applied again only when it changes).
const HashAnnotation = "infraplane.dev/blueprint-hash"

// Finalizer on instances (children are deleted first, in reverse
// dependency order) and on Blueprints (the CRD is deleted once no
// instance is left).
const Finalizer = "infraplane.dev/blueprint"

// Condition reasons.
const (
	ReasonInvalidExpression    = "InvalidExpression"
	ReasonCompiled             = "Compiled"
	ReasonKindChanged          = "KindChanged"
	ReasonSchemaBreaksRevision = "SchemaBreaksRevision"
	ReasonCRDRejected          = "CRDRejected"
	ReasonCRDPending           = "CRDPending"
	ReasonServing              = "Serving"
	ReasonInstancesRemain      = "InstancesRemain"
)

// Options configure the Blueprint controllers.
type Options struct {
	// Concurrency is the number of instances of each kind reconciled at
	// once (4 when 0).
	Concurrency int
	// Shield, if set, is asked before an instance's children are written:
	// while it holds, they are only read (a break-glass covers the
	// instance or holds its children). Wake reconciles instances when what
	// Shield reads changes. See shield.go.
	Shield ShieldFunc
	Wake   []Wake
}

// Controller reconciles Blueprints and runs one instance controller per
// Blueprint whose CRD is established.
type Controller struct {
	mgr  ctrl.Manager
	c    client.Client
	opts Options
	ctrl controller.Controller

	mu       sync.Mutex
	kinds    map[string]*kindState // by Blueprint name
	compiled map[string]compiledAt // by Blueprint name
	perms    permissions
}

// compiledAt is a Blueprint compiled at one generation.
type compiledAt struct {
	gen      int64
	compiled *Compiled
	hash     string // revisionHash of the spec
	err      error
}

// kindState is the running instance controller of one Blueprint.
type kindState struct {
	blueprint string
	gvk       schema.GroupVersionKind
	ctrl      controller.Controller
	watched   map[schema.GroupVersionKind]bool
	instance  *instanceReconciler

	// newInstances is the revision a new instance gets (0 until the
	// Blueprint controller decided); gone is set once the Blueprint is.
	newInstances atomic.Int64
	gone         atomic.Bool

	mu        sync.Mutex
	revisions map[int64]*Compiled
}

// The Blueprint controller: Blueprints (finalizer, status; their
// revisions and roles are owned by them, with blockOwnerDeletion, which
// needs update on blueprints/finalizers), the revisions, the CRD each
// Blueprint defines (created, applied again when it changes, deleted with
// the Blueprint: any name, so any CRD) and the kind's ClusterRoles for
// people (rbac.go).
//
// The kinds Blueprints define are in groups the platform team chooses, so
// no marker can name them: the controller's rights on them come from the
// aggregated ClusterRole infraplane-controller-blueprint-kinds
// (config/rbac/controller/blueprint-kinds.yaml), which takes in every
// ClusterRole labelled infraplane.dev/aggregate-to-controller; the
// platform team labels one per group it lets Blueprints use. The API
// server only lets the controller create a kind's roles for people if it
// holds what they grant, so it needs every verb of the kind (Setup
// checks, and says so, before it watches a kind it may not).
//
// +kubebuilder:rbac:groups=infraplane.dev,resources=blueprints,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=infraplane.dev,resources=blueprints/status,verbs=get;patch
// +kubebuilder:rbac:groups=infraplane.dev,resources=blueprints/finalizers,verbs=update
// +kubebuilder:rbac:groups=infraplane.dev,resources=blueprintrevisions,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=create;patch

// Setup registers the Blueprint controller.
func Setup(mgr ctrl.Manager, opts Options) (*Controller, error) {
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	r := &Controller{mgr: mgr, c: mgr.GetClient(), opts: opts, kinds: map[string]*kindState{}, compiled: map[string]compiledAt{}}
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named("blueprint").
		For(&corev1alpha1.Blueprint{}).
		Watches(&apiextensionsv1.CustomResourceDefinition{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if bp := o.GetLabels()[corev1alpha1.BlueprintLabel]; bp != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: bp}}}
			}
			return nil
		})).
		Build(r)
	r.ctrl = c
	return r, err
}

// compile compiles a Blueprint, and hashes its spec, once per generation
// (the Blueprint is reconciled on every change of every instance).
func (r *Controller) compile(bp *corev1alpha1.Blueprint) (*Compiled, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.compiled[bp.Name]; ok && c.gen == bp.Generation {
		return c.compiled, c.hash, c.err
	}
	compiled, err := Compile(bp)
	var hash string
	if err == nil {
		hash, err = revisionHash(bp.Spec)
	}
	r.compiled[bp.Name] = compiledAt{gen: bp.Generation, compiled: compiled, hash: hash, err: err}
	return compiled, hash, err
}

// Reconcile compiles a Blueprint, installs its CRD, starts (or updates)
// its instance controller and rolls its latest revision out.
func (r *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	bp := &corev1alpha1.Blueprint{}
	if err := r.c.Get(ctx, req.NamespacedName, bp); err != nil {
		if apierrors.IsNotFound(err) {
			rolloutHalted.DeleteLabelValues(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !bp.DeletionTimestamp.IsZero() {
		rolloutHalted.DeleteLabelValues(bp.Name)
		return r.delete(ctx, bp)
	}
	if !controllerutil.ContainsFinalizer(bp, Finalizer) {
		before := bp.DeepCopy()
		controllerutil.AddFinalizer(bp, Finalizer)
		if err := r.c.Patch(ctx, bp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, err
		}
	}
	before := bp.DeepCopy()
	orig := bp.Status.DeepCopy()
	st := &bp.Status
	st.ObservedGeneration = bp.Generation
	setCond := func(typ string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: bp.Generation})
	}
	result, err := r.reconcile(ctx, bp, setCond)
	setProgress(bp, err)
	if !equality.Semantic.DeepEqual(withoutTransitionTimes(orig), withoutTransitionTimes(st)) {
		if uerr := r.c.Status().Patch(ctx, bp, client.MergeFrom(before)); uerr != nil {
			return reconcile.Result{}, errors.Join(err, uerr)
		}
	}
	observeRollout(bp)
	return result, err
}

// setProgress sets Reconciling or Stalled (kstatus) from the pass: a spec
// that is not accepted, a CRD that cannot be installed, missing
// permissions or a halted rollout need a person; errors and rollouts
// under way are progress.
func setProgress(bp *corev1alpha1.Blueprint, err error) {
	conds, gen := &bp.Status.Conditions, bp.Generation
	acc := meta.FindStatusCondition(*conds, corev1alpha1.BlueprintAccepted)
	ready := meta.FindStatusCondition(*conds, corev1alpha1.BlueprintReady)
	ro := bp.Status.Rollout
	switch {
	case acc != nil && acc.Status == metav1.ConditionFalse:
		conditions.Stalled(conds, gen, acc.Reason, acc.Message)
	case err != nil:
		conditions.Reconciling(conds, gen, commonv1.ReasonRetrying, err.Error())
	case ready != nil && ready.Status == metav1.ConditionFalse && (ready.Reason == ReasonNotPermitted || ready.Reason == ReasonCRDRejected):
		conditions.Stalled(conds, gen, ready.Reason, ready.Message)
	case ready == nil || ready.Status != metav1.ConditionTrue:
		reason, msg := commonv1.ReasonProgressing, ""
		if ready != nil {
			reason, msg = ready.Reason, ready.Message
		}
		conditions.Reconciling(conds, gen, reason, msg)
	case ro != nil && ro.Phase == corev1alpha1.RolloutHalted:
		conditions.Stalled(conds, gen, ro.Phase, ro.Message)
	case ro != nil && (ro.Phase == corev1alpha1.RolloutCanary || ro.Phase == corev1alpha1.RolloutProgressing):
		conditions.Reconciling(conds, gen, ro.Phase, ro.Message)
	default:
		conditions.Settled(conds)
	}
}

func (r *Controller) reconcile(ctx context.Context, bp *corev1alpha1.Blueprint, setCond func(string, bool, string, string)) (reconcile.Result, error) {
	compiled, hash, err := r.compile(bp)
	if err != nil {
		setCond(corev1alpha1.BlueprintAccepted, false, ReasonInvalidExpression, err.Error())
		setCond(corev1alpha1.BlueprintReady, false, ReasonInvalidExpression, "the Blueprint does not compile: see the Accepted condition")
		return reconcile.Result{}, nil
	}
	r.mu.Lock()
	ks := r.kinds[bp.Name]
	r.mu.Unlock()
	if ks != nil && ks.gvk != compiled.GVK {
		msg := fmt.Sprintf("group, version and kind cannot change (from %s to %s): create a new Blueprint", ks.gvk, compiled.GVK)
		setCond(corev1alpha1.BlueprintAccepted, false, ReasonKindChanged, msg)
		return reconcile.Result{}, nil
	}
	// A schema change must not break the revisions instances still run.
	// (Revisions from the cache: a lagging one makes ensureRevision retry.)
	revs, err := listRevisions(ctx, r.c, bp.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := checkSchemaKeepsRevisions(bp, revs, inUseCounts(bp.Status)); err != nil {
		setCond(corev1alpha1.BlueprintAccepted, false, ReasonSchemaBreaksRevision, err.Error())
		return reconcile.Result{}, nil
	}
	setCond(corev1alpha1.BlueprintAccepted, true, ReasonCompiled, fmt.Sprintf("%d resources, in order %s", len(compiled.Resources), order(compiled)))

	gr := schema.GroupResource{Group: compiled.GVK.Group, Resource: compiled.Plural}
	if msg, err := r.perms.missing(ctx, r.c, gr); err != nil {
		return reconcile.Result{}, err
	} else if msg != "" {
		setCond(corev1alpha1.BlueprintReady, false, ReasonNotPermitted, msg)
		return reconcile.Result{RequeueAfter: time.Minute}, nil
	}
	if res, ok, err := r.installCRD(ctx, bp, compiled, hash, setCond); !ok || err != nil {
		return res, err
	}

	revs, err = r.ensureRevision(ctx, bp, hash, revs)
	if err != nil {
		return reconcile.Result{}, err
	}
	latest := revs[len(revs)-1].Spec.Revision
	ks, err = r.ensureController(bp.Name, compiled)
	if err != nil {
		return reconcile.Result{}, err
	}
	ks.mu.Lock()
	ks.revisions[latest] = compiled
	ks.mu.Unlock()

	// From the cache (the instance controller's informer): this runs on
	// every change of every instance during a rollout.
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(compiled.GVK.GroupVersion().WithKind(compiled.GVK.Kind + "List"))
	if err := r.mgr.GetCache().List(ctx, list); err != nil {
		return reconcile.Result{}, err
	}
	result, err := r.rollout(ctx, bp, ks, revs, list.Items, setCond)
	if err != nil {
		return result, err
	}
	setCond(corev1alpha1.BlueprintReady, true, ReasonServing, fmt.Sprintf("CRD %s established; %d/%d instances ready", compiled.CRDName(), bp.Status.ReadyInstances, bp.Status.Instances))
	return result, nil
}

// installCRD applies the generated CRD unless it is current, and reports
// whether the API server serves it.
func (r *Controller) installCRD(ctx context.Context, bp *corev1alpha1.Blueprint, compiled *Compiled, hash string, setCond func(string, bool, string, string)) (reconcile.Result, bool, error) {
	crd := compiled.CRD(bp.Name)
	crd.Annotations = map[string]string{HashAnnotation: hash}
	bp.Status.CRDName = crd.Name
	// The CRD as the cache has it: when it is this Blueprint's, current and
	// established, there is nothing to do.
	cached := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.c.Get(ctx, client.ObjectKey{Name: crd.Name}, cached); err == nil &&
		cached.Labels[corev1alpha1.BlueprintLabel] == bp.Name && cached.Annotations[HashAnnotation] == hash {
		if ok, _ := established(cached); ok {
			return reconcile.Result{}, true, nil
		}
	}
	// A CRD another Blueprint made, or one that is not a Blueprint's at all
	// (infraplane's own kinds), is never taken over: the forced apply below
	// would replace its schema, and deleting this Blueprint would then
	// delete it with every object of its kind.
	existing := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.mgr.GetAPIReader().Get(ctx, client.ObjectKey{Name: crd.Name}, existing); err == nil {
		if owner := existing.Labels[corev1alpha1.BlueprintLabel]; owner != bp.Name {
			if owner == "" {
				owner = "no Blueprint (it was installed otherwise)"
			} else {
				owner = "Blueprint " + owner
			}
			setCond(corev1alpha1.BlueprintReady, false, ReasonCRDRejected, fmt.Sprintf("CRD %s already exists and belongs to %s: choose another group or kind", crd.Name, owner))
			return reconcile.Result{}, false, nil
		}
	} else if !apierrors.IsNotFound(err) {
		return reconcile.Result{}, false, err
	}
	//nolint:staticcheck // server-side apply of a typed object
	if err := r.c.Patch(ctx, crd, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		setCond(corev1alpha1.BlueprintReady, false, ReasonCRDRejected, "installing CRD "+crd.Name+": "+err.Error())
		return reconcile.Result{RequeueAfter: 30 * time.Second}, false, nil
	}
	// Roles for people follow the CRD. Without them only admins can use
	// the kind, which is worth a warning but no reason to stop serving it.
	if err := r.applyRoles(ctx, bp, compiled); err != nil {
		slog.Warn("blueprint: people cannot be given the new kind", "blueprint", bp.Name, "err", err)
		r.mgr.GetEventRecorderFor("blueprint").Eventf(bp, corev1.EventTypeWarning, "RolesNotInstalled", "%v", err)
	}
	live := &apiextensionsv1.CustomResourceDefinition{}
	// Read through: the cache may not have the CRD just created.
	if err := r.mgr.GetAPIReader().Get(ctx, client.ObjectKey{Name: crd.Name}, live); err != nil {
		return reconcile.Result{}, false, err
	}
	if ok, msg := established(live); !ok {
		setCond(corev1alpha1.BlueprintReady, false, ReasonCRDPending, msg)
		return reconcile.Result{RequeueAfter: time.Second}, false, nil
	}
	if owner := live.Labels[corev1alpha1.BlueprintLabel]; owner != bp.Name {
		setCond(corev1alpha1.BlueprintReady, false, ReasonCRDRejected, fmt.Sprintf("CRD %s belongs to Blueprint %s", crd.Name, owner))
		return reconcile.Result{}, false, nil
	}
	return reconcile.Result{}, true, nil
}

// ensureController starts the Blueprint's instance controller once, and
// keeps its watches of child kinds current. The Blueprint controller
// watches the instances too: their state drives the rollout.
func (r *Controller) ensureController(name string, compiled *Compiled) (*kindState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := r.kinds[name]
	if ks == nil {
		ks = &kindState{blueprint: name, gvk: compiled.GVK, watched: map[schema.GroupVersionKind]bool{}, revisions: map[int64]*Compiled{}}
		ks.instance = &instanceReconciler{c: r.c, reader: r.mgr.GetAPIReader(), cache: r.mgr.GetCache(), kind: ks}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(compiled.GVK)
		c, err := ctrl.NewControllerManagedBy(r.mgr).
			Named("blueprint-" + strings.ReplaceAll(compiled.CRDName(), ".", "-")).
			For(u).
			WithOptions(controller.Options{MaxConcurrentReconciles: r.opts.Concurrency}).
			Build(ks.instance)
		if err != nil {
			return nil, fmt.Errorf("starting the %s controller: %w", compiled.GVK.Kind, err)
		}
		toBlueprint := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
		})
		w := &unstructured.Unstructured{}
		w.SetGroupVersionKind(compiled.GVK)
		if err := r.ctrl.Watch(source.Kind[client.Object](r.mgr.GetCache(), w, toBlueprint)); err != nil {
			return nil, fmt.Errorf("watching %s instances: %w", compiled.GVK.Kind, err)
		}
		ks.ctrl = c
		blueprintKinds.Store(compiled.GVK, true)
		if err := r.watchShield(ks); err != nil {
			return nil, err
		}
		r.kinds[name] = ks
		slog.Info("blueprint: instance controller started", "kind", compiled.GVK.String(), "blueprint", name)
	}
	ks.gone.Store(false)
	for _, res := range compiled.Resources {
		ks.mu.Lock()
		watched := ks.watched[res.GVK]
		ks.mu.Unlock()
		if watched {
			continue
		}
		if err := ks.ctrl.Watch(source.Kind(r.mgr.GetCache(), r.childObject(res.GVK), handler.EnqueueRequestsFromMapFunc(ks.ownerOf))); err != nil {
			return nil, fmt.Errorf("watching %s: %w", res.GVK.Kind, err)
		}
		ks.mu.Lock()
		ks.watched[res.GVK] = true
		ks.mu.Unlock()
	}
	return ks, nil
}

// blueprintKinds are the kinds Blueprints define (in any manager of this
// process): a child of such a kind (an instance of another Blueprint)
// reports readiness by its Ready condition, as infraplane's kinds do.
var blueprintKinds sync.Map // schema.GroupVersionKind -> bool

func isBlueprintKind(gvk schema.GroupVersionKind) bool {
	_, ok := blueprintKinds.Load(gvk)
	return ok
}

// watchedKinds are the child kinds the instance controller watches (the
// cache has them).
func (ks *kindState) watchedKinds() []schema.GroupVersionKind {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	out := make([]schema.GroupVersionKind, 0, len(ks.watched))
	for gvk := range ks.watched {
		out = append(out, gvk)
	}
	slices.SortFunc(out, func(a, b schema.GroupVersionKind) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// childObject is a typed object when the scheme knows the kind (sharing
// the informer the kind's own controller has), else unstructured.
func (r *Controller) childObject(gvk schema.GroupVersionKind) client.Object {
	if o, err := r.mgr.GetScheme().New(gvk); err == nil {
		if co, ok := o.(client.Object); ok {
			return co
		}
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// ownerOf maps a child to its instance.
func (ks *kindState) ownerOf(_ context.Context, o client.Object) []reconcile.Request {
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.Kind != ks.gvk.Kind || ref.APIVersion != ks.gvk.GroupVersion().String() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}}}
}

// delete removes the CRD once no instance is left (deleting the CRD
// would delete the instances without waiting for their children).
func (r *Controller) delete(ctx context.Context, bp *corev1alpha1.Blueprint) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(bp, Finalizer) {
		return reconcile.Result{}, nil
	}
	before := bp.DeepCopy()
	if bp.Status.CRDName != "" {
		gvk := schema.GroupVersionKind{Group: bp.Spec.Group, Version: bp.Spec.Version, Kind: bp.Spec.Kind + "List"}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk)
		err := r.c.List(ctx, list)
		if err != nil && !meta.IsNoMatchError(err) && !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		if n := len(list.Items); err == nil && n > 0 {
			meta.SetStatusCondition(&bp.Status.Conditions, metav1.Condition{Type: corev1alpha1.BlueprintReady, Status: metav1.ConditionFalse,
				Reason: ReasonInstancesRemain, ObservedGeneration: bp.Generation,
				Message: fmt.Sprintf("deleting: %d %s instances remain (e.g. %s/%s); delete them first", n, bp.Spec.Kind, list.Items[0].GetNamespace(), list.Items[0].GetName())})
			if err := r.c.Status().Patch(ctx, bp, client.MergeFrom(before)); err != nil {
				return reconcile.Result{}, err
			}
			return reconcile.Result{RequeueAfter: 5 * time.Second}, nil
		}
		// Only a CRD this Blueprint made goes with it (checked live).
		crd := &apiextensionsv1.CustomResourceDefinition{}
		err = r.mgr.GetAPIReader().Get(ctx, client.ObjectKey{Name: bp.Status.CRDName}, crd)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return reconcile.Result{}, err
		case crd.Labels[corev1alpha1.BlueprintLabel] == bp.Name:
			if err := r.c.Delete(ctx, crd); client.IgnoreNotFound(err) != nil {
				return reconcile.Result{}, err
			}
		}
	}
	r.mu.Lock()
	if ks := r.kinds[bp.Name]; ks != nil {
		ks.gone.Store(true) // the controller idles (controller-runtime cannot stop one)
	}
	delete(r.compiled, bp.Name)
	r.mu.Unlock()
	controllerutil.RemoveFinalizer(bp, Finalizer)
	return reconcile.Result{}, r.c.Patch(ctx, bp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

func order(c *Compiled) string {
	ids := make([]string, len(c.Resources))
	for i, r := range c.Resources {
		ids[i] = r.ID
	}
	return strings.Join(ids, ", ")
}

// withoutTransitionTimes copies a status for comparison: a condition
// whose status did not change keeps its time anyway, and the rollout's
// stage time changes only with its stage.
func withoutTransitionTimes(st *corev1alpha1.BlueprintStatus) *corev1alpha1.BlueprintStatus {
	out := st.DeepCopy()
	for i := range out.Conditions {
		out.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	return out
}
