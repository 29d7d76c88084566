package blueprint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/conditions"
)

// Instance condition reasons.
const (
	ReasonReady           = "Ready"
	ReasonResourceBlocked = "ResourceNotReady"
	// ReasonResourceFailed: a child is Failed by kstatus (its Stalled
	// condition: the cloud refused its change, it may not use its
	// ProviderConfig, …): waiting does not help, so a rollout counts it as
	// a failure at once.
	ReasonResourceFailed  = "ResourceFailed"
	ReasonRenderFailed    = "RenderFailed"
	ReasonApplyFailed     = "ApplyFailed"
	ReasonDeleting        = "Deleting"
	ReasonNoBlueprint     = "NoBlueprint"
	ReasonRevisionMissing = "RevisionMissing"
	ReasonNoRevision      = "WaitingForRevision"
)

// childStatus is one entry of an instance's status.resources.
type childStatus struct {
	ID         string `json:"id"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	Ready      bool   `json:"ready"`
	Message    string `json:"message,omitempty"`
}

// Children are applied, listed by the instance label and deleted as the
// controller, so a Blueprint can only make what it has rights to:
// infraplane's managed kinds (below) and the kinds of granted Blueprint
// groups (blueprint-kinds.yaml, which also covers the instances
// themselves: their finalizer, status and the children's
// blockOwnerDeletion on them).
//
// +kubebuilder:rbac:groups=pubsub.infraplane.dev,resources=topics;subscriptions,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=storage.infraplane.dev,resources=buckets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=spanner.infraplane.dev,resources=spannerinstances;spannerdatabases,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=bigtable.infraplane.dev,resources=bigtabletables,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=postgres.infraplane.dev,resources=databases;roles,verbs=get;list;watch;create;patch;delete

// instanceReconciler renders one Blueprint's instances into children.
type instanceReconciler struct {
	c      client.Client
	reader client.Reader // uncached, for revisions just made
	cache  client.Reader // the manager's cache, for instances (unstructured reads through c are not cached)
	kind   *kindState
	shield ShieldFunc // Options.Shield (shield.go)
}

func (r *instanceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.kind.gvk)
	if err := r.cache.Get(ctx, req.NamespacedName, u); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !u.GetDeletionTimestamp().IsZero() {
		compiled, _ := r.compiledFor(ctx, u)
		return r.delete(ctx, compiled, u)
	}
	if r.kind.gone.Load() {
		return reconcile.Result{}, r.setStatus(ctx, u, nil, 0, metav1.ConditionFalse, ReasonNoBlueprint, "the Blueprint of this kind is gone")
	}
	if !controllerutil.ContainsFinalizer(u, Finalizer) || revisionOf(u) == 0 {
		rev := revisionOf(u)
		if rev == 0 {
			// A new instance runs the revision the rollout gives new
			// instances: the latest, or the stable one while it is halted.
			if rev = r.kind.newInstances.Load(); rev == 0 {
				return reconcile.Result{RequeueAfter: time.Second}, r.setStatus(ctx, u, nil, 0, metav1.ConditionFalse, ReasonNoRevision, "waiting for the Blueprint controller to make the first revision")
			}
		}
		before := u.DeepCopy()
		controllerutil.AddFinalizer(u, Finalizer)
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[corev1alpha1.BlueprintRevisionLabel] = strconv.FormatInt(rev, 10)
		u.SetLabels(labels)
		if err := r.c.Patch(ctx, u, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, err
		}
	}
	compiled, err := r.compiledFor(ctx, u)
	if err != nil {
		return reconcile.Result{RequeueAfter: time.Minute}, r.setStatus(ctx, u, nil, 0, metav1.ConditionFalse, ReasonRevisionMissing, err.Error())
	}
	// A break-glass covering the instance, or holding its children, keeps
	// them as they are: report, never write (shield.go).
	if s, err := r.shielded(ctx, u); err != nil || s.held {
		if err != nil {
			return reconcile.Result{}, err
		}
		return r.observe(ctx, compiled, u, s)
	}

	previous := previousChildren(u)
	in := Instance{Object: u, Resources: map[string]map[string]any{}}
	var children []childStatus
	ready := map[string]bool{}
	// settled are the ids whose desired child is known this pass: applied,
	// or not wanted (includeWhen false). Only their other children are
	// stale; a child that cannot be rendered or applied now keeps the one
	// it had.
	settled := map[string]bool{}
	current := map[string]bool{} // childKeyString of the children applied
	// blocking is the first child (in dependency order) that is not ready
	// although everything it needs is: the deepest cause.
	var blocking *childStatus
	var blockingReason string
	var waiting []string
	// keepPrevious carries the child the status listed, so that it stays
	// known (and is not pruned) while the new one cannot be made.
	keepPrevious := func(cs *childStatus) {
		if prev, ok := previous[cs.ID]; ok {
			cs.APIVersion, cs.Kind, cs.Name = prev.APIVersion, prev.Kind, prev.Name
		}
	}
	for _, res := range compiled.Resources {
		cs := childStatus{ID: res.ID, APIVersion: res.GVK.GroupVersion().String(), Kind: res.GVK.Kind}
		include, err := compiled.Include(res, in)
		if err != nil {
			keepPrevious(&cs)
			cs.Message = "includeWhen: " + err.Error()
			children = append(children, cs)
			if blocking == nil {
				blocking, blockingReason = &children[len(children)-1], ReasonRenderFailed
			}
			continue
		}
		if !include {
			settled[res.ID] = true
			continue
		}
		var missing []string
		for _, d := range res.DependsOn {
			if !ready[d] {
				missing = append(missing, d)
			}
		}
		if len(missing) > 0 {
			keepPrevious(&cs)
			cs.Message = "waiting for " + strings.Join(missing, ", ")
			children = append(children, cs)
			waiting = append(waiting, res.ID)
			continue
		}
		child, err := compiled.Render(res, in)
		if err != nil {
			keepPrevious(&cs)
			cs.Message = "rendering: " + err.Error()
			children = append(children, cs)
			if blocking == nil {
				blocking, blockingReason = &children[len(children)-1], ReasonRenderFailed
			}
			continue
		}
		if err := r.apply(ctx, u, res, child); err != nil {
			cs.Name = child.GetName()
			cs.Message = fmt.Sprintf("applying %s %s: %v", child.GetKind(), child.GetName(), err)
			children = append(children, cs)
			if blocking == nil {
				blocking, blockingReason = &children[len(children)-1], ReasonApplyFailed
			}
			continue
		}
		cs.Name = child.GetName()
		settled[res.ID] = true
		current[childKeyString(cs)] = true
		in.Resources[res.ID] = child.Object
		var failed bool
		cs.Ready, failed, cs.Message = childReady(compiled, res, in, child)
		ready[res.ID] = cs.Ready
		children = append(children, cs)
		if !cs.Ready && blocking == nil {
			blocking, blockingReason = &children[len(children)-1], ReasonResourceBlocked
			if failed {
				blockingReason = ReasonResourceFailed
			}
		}
	}
	allReady := blocking == nil && len(waiting) == 0

	// Stale children go: those of resources the Blueprint no longer has or
	// no longer includes at once; those replaced by a child of another
	// name or kind only once the instance is Ready (the old one may still
	// be in use by the others until they are re-rendered).
	owned, err := r.ownedChildren(ctx, u, previous)
	if err != nil {
		return reconcile.Result{}, err
	}
	for _, old := range owned {
		if old.ID == "" {
			// Ours by owner, but its resource label is gone (edited):
			// which resource it was is unknown, so it is not deleted.
			continue
		}
		res := compiled.Resource(old.ID)
		gone := res == nil || (settled[old.ID] && !slices.ContainsFunc(children, func(c childStatus) bool { return c.ID == old.ID }))
		replaced := settled[old.ID] && !current[childKeyString(old)]
		if gone || (replaced && allReady) {
			if err := r.deleteChild(ctx, u.GetNamespace(), old); err != nil {
				return reconcile.Result{}, err
			}
		}
	}

	rev := revisionOf(u)
	if allReady {
		return reconcile.Result{}, r.setStatus(ctx, u, children, rev, metav1.ConditionTrue, ReasonReady, fmt.Sprintf("all %d resources ready", len(children)))
	}
	msg := ""
	reason := ReasonResourceBlocked
	if blocking != nil {
		reason = blockingReason
		msg = fmt.Sprintf("resource %s (%s %s): %s", blocking.ID, blocking.Kind, blocking.Name, blocking.Message)
	}
	if len(waiting) > 0 {
		if msg != "" {
			msg += "; "
		}
		msg += "waiting: " + strings.Join(waiting, ", ")
	}
	// Children's changes wake this instance; the requeue is a safety net.
	return reconcile.Result{RequeueAfter: 30 * time.Second}, r.setStatus(ctx, u, children, rev, metav1.ConditionFalse, reason, msg)
}

// ownedChildren are the instance's children: those its status lists and
// those the cache finds by the instance label and owner (a child made in
// a pass whose status write was lost is found too).
func (r *instanceReconciler) ownedChildren(ctx context.Context, u *unstructured.Unstructured, previous map[string]childStatus) ([]childStatus, error) {
	seen := map[string]bool{}
	var out []childStatus
	add := func(cs childStatus) {
		if k := childKeyString(cs); cs.Name != "" && !seen[k] {
			seen[k] = true
			out = append(out, cs)
		}
	}
	for _, id := range slices.Sorted(keys(previous)) {
		add(previous[id])
	}
	for _, gvk := range r.kind.watchedKinds() {
		// A typed list when the scheme knows the kind: the cache then
		// shares the informer the kind's controller and the watch use.
		var list client.ObjectList
		if o, err := r.c.Scheme().New(gvk.GroupVersion().WithKind(gvk.Kind + "List")); err == nil {
			list, _ = o.(client.ObjectList)
		}
		if list == nil {
			ul := &unstructured.UnstructuredList{}
			ul.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			list = ul
		}
		if err := r.c.List(ctx, list, client.InNamespace(u.GetNamespace()), client.MatchingLabels{corev1alpha1.BlueprintInstanceLabel: u.GetName()}); err != nil {
			return nil, fmt.Errorf("listing %s children: %w", gvk.Kind, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			o, ok := item.(metav1.Object)
			if !ok {
				continue
			}
			if ref := metav1.GetControllerOf(o); ref == nil || ref.UID != u.GetUID() {
				continue
			}
			add(childStatus{ID: o.GetLabels()[corev1alpha1.BlueprintResourceLabel], APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: o.GetName()})
		}
	}
	return out, nil
}

func childKeyString(cs childStatus) string { return cs.APIVersion + "/" + cs.Kind + "/" + cs.Name }

// compiledFor is the compiled revision the instance runs.
func (r *instanceReconciler) compiledFor(ctx context.Context, u *unstructured.Unstructured) (*Compiled, error) {
	rev := revisionOf(u)
	if rev == 0 {
		return nil, fmt.Errorf("label %s is missing or not a revision number", corev1alpha1.BlueprintRevisionLabel)
	}
	return r.kind.compiledRevision(ctx, r.reader, rev)
}

// apply server-side applies a child, owned by the instance; child is
// updated with what the API server returned (status included). A child
// that already is what this rendering makes, and that nobody else edited,
// is not applied again: most passes are woken by a child's status and
// change nothing (see skipApply).
func (r *instanceReconciler) apply(ctx context.Context, inst *unstructured.Unstructured, res *Resource, child *unstructured.Unstructured) error {
	existing, err := r.checkNotTaken(ctx, inst, child)
	if err != nil {
		return err
	}
	ownChild(inst, res, child)
	hash := stampRendered(child)
	if existing != nil {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(existing)
		if err != nil {
			return err
		}
		if skipApply(u, asCached(r.c.Scheme(), existing, child), hash) {
			gvk := child.GroupVersionKind() // a typed object from the cache has no TypeMeta
			child.Object = u
			child.SetGroupVersionKind(gvk)
			return nil
		}
	}
	//nolint:staticcheck // server-side apply of an unstructured object
	return r.c.Patch(ctx, child, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership)
}

// RenderedHashAnnotation on a child is the hash of the rendering last
// applied to it.
const RenderedHashAnnotation = "infraplane.dev/rendered-hash"

// stampRendered puts the hash of a rendered child (labels and owner
// included; encoding/json sorts map keys) in its annotation, and returns it.
func stampRendered(child *unstructured.Unstructured) string {
	b, _ := json.Marshal(child.Object)
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:12])
	ann := child.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[RenderedHashAnnotation] = hash
	child.SetAnnotations(ann)
	return hash
}

// skipApply: the child carries this rendering's hash (so the last apply
// was this rendering, and a field the template dropped was dropped), and
// every value the rendering sets is what the child has (so nobody changed
// one since). Applying would change nothing: an apply never removes what
// other managers added, it only takes back what it sets.
//
// It compares values, not managedFields: a field manager's name is
// anyone's to use, so an edit made under the Blueprint's own name must be
// taken back too; and the caches need not keep managedFields.
func skipApply(existing, rendered map[string]any, hash string) bool {
	if (&unstructured.Unstructured{Object: existing}).GetAnnotations()[RenderedHashAnnotation] != hash {
		return false
	}
	return holds(existing, rendered)
}

// asCached is the rendered child as the cache holds its kind: a typed
// object (one of infraplane's kinds) writes values in its own form ("72h"
// is "72h0m0s"), so the rendering takes the same round trip before the
// two are compared. A rendering that does not convert is compared as is
// (and then applied, which says what is wrong with it).
func asCached(scheme *runtime.Scheme, existing client.Object, child *unstructured.Unstructured) map[string]any {
	if _, untyped := existing.(*unstructured.Unstructured); untyped {
		return child.Object
	}
	obj, err := scheme.New(child.GroupVersionKind())
	if err != nil {
		return child.Object
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(child.Object, obj); err != nil {
		return child.Object
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return child.Object
	}
	out, _ := restrictTo(u, child.Object).(map[string]any)
	delete(out, "apiVersion") // the cache's typed objects have no TypeMeta
	delete(out, "kind")
	return out
}

// restrictTo is converted with only the keys rendered has: the typed round
// trip adds zero values (creationTimestamp: null, an empty status) that
// the rendering never set, and drops the ones it set that the typed form
// omits.
func restrictTo(converted, rendered any) any {
	switch r := rendered.(type) {
	case map[string]any:
		c, ok := converted.(map[string]any)
		if !ok {
			return rendered
		}
		out := make(map[string]any, len(r))
		for k, rv := range r {
			if cv, ok := c[k]; ok { // else the typed form omits it (a zero value), as the cache's does
				out[k] = restrictTo(cv, rv)
			}
		}
		return out
	case []any:
		c, ok := converted.([]any)
		if !ok || len(c) != len(r) {
			return rendered
		}
		out := make([]any, len(r))
		for i := range r {
			out[i] = restrictTo(c[i], r[i])
		}
		return out
	default:
		return converted
	}
}

// holds says whether have has every value want sets: maps may hold more
// keys (defaults, others' fields), lists and scalars must be equal item by
// item.
func holds(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok || !holds(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !holds(h[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(have, want)
	}
}

// ownChild gives a rendered child its instance's labels and owner
// reference (controller).
func ownChild(inst *unstructured.Unstructured, res *Resource, child *unstructured.Unstructured) {
	labels := child.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[corev1alpha1.BlueprintInstanceLabel] = inst.GetName()
	labels[corev1alpha1.BlueprintResourceLabel] = res.ID
	child.SetLabels(labels)
	child.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion:         inst.GetAPIVersion(),
		Kind:               inst.GetKind(),
		Name:               inst.GetName(),
		UID:                inst.GetUID(),
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}})
}

// checkNotTaken refuses to apply a child over an object of the same kind
// and name that is not this instance's (from git, another instance, a
// person): the forced apply would take it over and rewrite it. The object
// is read from the cache when the kind is infraplane's (the instance
// controller watches it), else from the API server. An apply by another
// instance at the same moment fails on the second controller reference.
func (r *instanceReconciler) checkNotTaken(ctx context.Context, inst, child *unstructured.Unstructured) (client.Object, error) {
	var existing client.Object
	var reader client.Reader = r.c
	if o, err := r.c.Scheme().New(child.GroupVersionKind()); err == nil {
		existing, _ = o.(client.Object)
	}
	if existing == nil {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(child.GroupVersionKind())
		existing, reader = u, r.reader
	}
	err := reader.Get(ctx, client.ObjectKeyFromObject(child), existing)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ref := metav1.GetControllerOf(existing)
	if ref != nil && ref.UID == inst.GetUID() {
		return existing, nil
	}
	owner := "made outside this Blueprint"
	switch {
	case ref != nil:
		owner = fmt.Sprintf("controlled by %s %s", ref.Kind, ref.Name)
	case existing.GetLabels()[corev1alpha1.SourceLabel] != "":
		owner = "applied from git by GitSource " + existing.GetLabels()[corev1alpha1.SourceLabel]
	}
	return nil, fmt.Errorf("%s %s already exists and is not this %s's (it is %s): the Blueprint would take it over; give the child another name (e.g. ${metadata.name}-%s) or rename the instance",
		child.GetKind(), child.GetName(), inst.GetKind(), owner, strings.ToLower(child.GetKind()))
}

// childReady judges a child as kstatus does (what Flux and Argo CD read):
// Current is ready, Failed is failed for good (a retry does not help, so
// a rollout counts it at once), anything else is not ready yet. On top of
// that, the resource's readyWhen expressions must hold.
func childReady(c *Compiled, res *Resource, in Instance, child *unstructured.Unstructured) (ready, failed bool, msg string) {
	r, err := kstatus.Compute(child)
	if err != nil {
		return false, false, "reading its status: " + err.Error()
	}
	switch r.Status {
	case kstatus.CurrentStatus:
	case kstatus.FailedStatus:
		return false, true, "failed: " + r.Message
	default:
		return false, false, childMessage(child, r)
	}
	if len(res.readyWhen) > 0 {
		ok, failed, err := c.Ready(res, in, child.Object)
		if err != nil {
			return false, false, "readyWhen: " + err.Error()
		}
		if !ok {
			return false, false, "readyWhen ${" + failed + "} is false"
		}
	}
	return true, false, ""
}

// childMessage says why a child is not ready yet: its Ready condition's
// reason and message when they describe its current generation, else what
// kstatus says.
func childMessage(child *unstructured.Unstructured, r *kstatus.Result) string {
	if c := readyCondition(child); c != nil && c.Status == metav1.ConditionFalse && c.ObservedGeneration == child.GetGeneration() {
		if c.Reason != "" {
			return c.Reason + ": " + c.Message
		}
		return c.Message
	}
	if r.Message != "" {
		return strings.ToLower(r.Status.String()) + ": " + r.Message
	}
	return "not reconciled yet"
}

// previousChildren are the children the instance's status lists.
func previousChildren(u *unstructured.Unstructured) map[string]childStatus {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "resources")
	out := map[string]childStatus{}
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		var cs childStatus
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &cs); err == nil && cs.ID != "" {
			out[cs.ID] = cs
		}
	}
	return out
}

func childKey(cs childStatus) (schema.GroupVersionKind, bool) {
	gv, err := schema.ParseGroupVersion(cs.APIVersion)
	if err != nil || cs.Kind == "" || cs.Name == "" {
		return schema.GroupVersionKind{}, false
	}
	return gv.WithKind(cs.Kind), true
}

// deleteChild deletes a child (no wait).
func (r *instanceReconciler) deleteChild(ctx context.Context, ns string, cs childStatus) error {
	gvk, ok := childKey(cs)
	if !ok {
		return nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(cs.Name)
	err := r.c.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	return err
}

// delete deletes the children in reverse dependency order: a child goes
// once no child that refers to it is left. The finalizer goes last.
func (r *instanceReconciler) delete(ctx context.Context, compiled *Compiled, u *unstructured.Unstructured) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(u, Finalizer) {
		return reconcile.Result{}, nil
	}
	owned, err := r.ownedChildren(ctx, u, previousChildren(u))
	if err != nil {
		return reconcile.Result{}, err
	}
	present := map[string][]childStatus{} // by id
	left := 0
	for _, cs := range owned {
		gvk, ok := childKey(cs)
		if !ok {
			continue
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(gvk)
		err := r.reader.Get(ctx, types.NamespacedName{Namespace: u.GetNamespace(), Name: cs.Name}, got)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return reconcile.Result{}, err
		}
		present[cs.ID] = append(present[cs.ID], cs)
		left++
	}
	if left == 0 {
		before := u.DeepCopy()
		controllerutil.RemoveFinalizer(u, Finalizer)
		return reconcile.Result{}, r.c.Patch(ctx, u, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}
	var deleting []string
	for _, id := range slices.Sorted(keys(present)) {
		if compiled != nil && slices.ContainsFunc(compiled.Dependents(id), func(d string) bool { return len(present[d]) > 0 }) {
			continue // a child that refers to it goes first
		}
		for _, cs := range present[id] {
			if err := r.deleteChild(ctx, u.GetNamespace(), cs); err != nil {
				return reconcile.Result{}, err
			}
		}
		deleting = append(deleting, id)
	}
	msg := fmt.Sprintf("deleting %s; %d resources left", strings.Join(deleting, ", "), left)
	if err := r.setStatus(ctx, u, nil, 0, metav1.ConditionFalse, ReasonDeleting, msg); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: 2 * time.Second}, nil
}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// setStatus writes the Ready condition and (unless nil) the children,
// when they changed.
func (r *instanceReconciler) setStatus(ctx context.Context, u *unstructured.Unstructured, children []childStatus, rev int64, s metav1.ConditionStatus, reason, msg string) error {
	status, _, _ := unstructured.NestedMap(u.Object, "status")
	if status == nil {
		status = map[string]any{}
	}
	before := runtime.DeepCopyJSON(status)
	var conds []metav1.Condition
	if raw, ok := status["conditions"]; ok {
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &conds)
	}
	conditions.Set(&conds, u.GetGeneration(), commonv1.TypeReady, s == metav1.ConditionTrue, reason, msg)
	// kstatus: what a rollout counts as failed at once needs a person
	// (Stalled); anything else not ready is under way.
	switch {
	case s == metav1.ConditionTrue:
		conditions.Settled(&conds)
	case failedReasons[reason]:
		conditions.Stalled(&conds, u.GetGeneration(), reason, msg)
	default:
		conditions.Reconciling(&conds, u.GetGeneration(), reason, msg)
	}
	toJSONValue := func(v any) any {
		b, _ := json.Marshal(v)
		var out any
		_ = json.Unmarshal(b, &out)
		return normalizeNumbers(out)
	}
	status["conditions"] = toJSONValue(conds)
	status["observedGeneration"] = u.GetGeneration()
	if children != nil {
		status["resources"] = toJSONValue(children)
	}
	if rev != 0 {
		status["revision"] = rev
	}
	if equality.Semantic.DeepEqual(normalizeNumbers(before), normalizeNumbers(runtime.DeepCopyJSON(status))) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	return r.c.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch))
}
