package blueprint

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

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

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Instance condition reasons.
const (
	ReasonReady           = "Ready"
	ReasonResourceBlocked = "ResourceNotReady"
	ReasonRenderFailed    = "RenderFailed"
	ReasonApplyFailed     = "ApplyFailed"
	ReasonDeleting        = "Deleting"
	ReasonNoBlueprint     = "NoBlueprint"
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

// instanceReconciler renders one Blueprint's instances into children.
type instanceReconciler struct {
	c    client.Client
	kind *kindState
}

func (r *instanceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	compiled := r.kind.compiled.Load()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.kind.gvk)
	if err := r.c.Get(ctx, req.NamespacedName, u); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !u.GetDeletionTimestamp().IsZero() {
		return r.delete(ctx, compiled, u)
	}
	if compiled == nil {
		return reconcile.Result{}, r.setStatus(ctx, u, nil, metav1.ConditionFalse, ReasonNoBlueprint, "the Blueprint of this kind is gone or does not compile")
	}
	if !controllerutil.ContainsFinalizer(u, Finalizer) {
		before := u.DeepCopy()
		controllerutil.AddFinalizer(u, Finalizer)
		if err := r.c.Patch(ctx, u, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, err
		}
	}

	previous := previousChildren(u)
	in := Instance{Object: u, Resources: map[string]map[string]any{}}
	var children []childStatus
	ready := map[string]bool{}
	// blocking is the first child (in dependency order) that is not ready
	// although everything it needs is: the deepest cause.
	var blocking *childStatus
	var blockingReason string
	var waiting []string
	for _, res := range compiled.Resources {
		cs := childStatus{ID: res.ID, APIVersion: res.GVK.GroupVersion().String(), Kind: res.GVK.Kind}
		include, err := compiled.Include(res, in)
		if err != nil {
			cs.Message = "includeWhen: " + err.Error()
			children = append(children, cs)
			if blocking == nil {
				blocking, blockingReason = &children[len(children)-1], ReasonRenderFailed
			}
			continue
		}
		if !include {
			if prev, ok := previous[res.ID]; ok && prev.Name != "" {
				if err := r.deleteChild(ctx, u.GetNamespace(), prev); err != nil {
					return reconcile.Result{}, err
				}
			}
			continue
		}
		var missing []string
		for _, d := range res.DependsOn {
			if !ready[d] {
				missing = append(missing, d)
			}
		}
		if len(missing) > 0 {
			cs.Message = "waiting for " + strings.Join(missing, ", ")
			if prev, ok := previous[res.ID]; ok {
				cs.Name = prev.Name
			}
			children = append(children, cs)
			waiting = append(waiting, res.ID)
			continue
		}
		child, err := compiled.Render(res, in)
		if err != nil {
			cs.Message = "rendering: " + err.Error()
			children = append(children, cs)
			if blocking == nil {
				blocking, blockingReason = &children[len(children)-1], ReasonRenderFailed
			}
			continue
		}
		cs.Name = child.GetName()
		if err := r.apply(ctx, u, res, child); err != nil {
			cs.Message = "applying: " + err.Error()
			children = append(children, cs)
			if blocking == nil {
				blocking, blockingReason = &children[len(children)-1], ReasonApplyFailed
			}
			continue
		}
		in.Resources[res.ID] = child.Object
		cs.Ready, cs.Message = childReady(compiled, res, in, child)
		ready[res.ID] = cs.Ready
		children = append(children, cs)
		if !cs.Ready && blocking == nil {
			blocking, blockingReason = &children[len(children)-1], ReasonResourceBlocked
		}
	}
	// A child that left the Blueprint is deleted.
	for id, prev := range previous {
		if compiled.Resource(id) == nil && prev.Name != "" {
			if err := r.deleteChild(ctx, u.GetNamespace(), prev); err != nil {
				return reconcile.Result{}, err
			}
		}
	}

	if blocking == nil && len(waiting) == 0 {
		return reconcile.Result{}, r.setStatus(ctx, u, children, metav1.ConditionTrue, ReasonReady, fmt.Sprintf("all %d resources ready", len(children)))
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
	return reconcile.Result{RequeueAfter: 30 * time.Second}, r.setStatus(ctx, u, children, metav1.ConditionFalse, reason, msg)
}

// apply server-side applies a child, owned by the instance; child is
// updated with what the API server returned (status included).
func (r *instanceReconciler) apply(ctx context.Context, inst *unstructured.Unstructured, res *Resource, child *unstructured.Unstructured) error {
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
	//nolint:staticcheck // server-side apply of an unstructured object
	return r.c.Patch(ctx, child, client.Apply, client.FieldOwner(FieldManager), client.ForceOwnership)
}

// childReady decides whether a child is ready: its readyWhen expressions,
// else its Ready condition (for the current generation), else (a kind
// without conditions outside infraplane) that it exists.
func childReady(c *Compiled, res *Resource, in Instance, child *unstructured.Unstructured) (bool, string) {
	if len(res.readyWhen) > 0 {
		ok, failed, err := c.Ready(res, in, child.Object)
		if err != nil {
			return false, "readyWhen: " + err.Error()
		}
		if !ok {
			return false, "readyWhen ${" + failed + "} is false"
		}
		return true, ""
	}
	conds, _, _ := unstructured.NestedSlice(child.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		msg, _ := m["message"].(string)
		if gen, ok := m["observedGeneration"].(int64); ok && gen < child.GetGeneration() {
			return false, "not reconciled yet since the last change"
		}
		if m["status"] == "True" {
			return true, ""
		}
		if reason, _ := m["reason"].(string); reason != "" {
			msg = reason + ": " + msg
		}
		return false, msg
	}
	if strings.HasSuffix(child.GroupVersionKind().Group, "infraplane.dev") {
		return false, "not reconciled yet"
	}
	return true, ""
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
	previous := previousChildren(u)
	present := map[string]bool{}
	for id, cs := range previous {
		gvk, ok := childKey(cs)
		if !ok {
			continue
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(gvk)
		err := r.c.Get(ctx, types.NamespacedName{Namespace: u.GetNamespace(), Name: cs.Name}, got)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return reconcile.Result{}, err
		}
		present[id] = true
	}
	if len(present) == 0 {
		before := u.DeepCopy()
		controllerutil.RemoveFinalizer(u, Finalizer)
		return reconcile.Result{}, r.c.Patch(ctx, u, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}
	var deleting []string
	for _, id := range slices.Sorted(keys(present)) {
		if compiled != nil && slices.ContainsFunc(compiled.Dependents(id), func(d string) bool { return present[d] }) {
			continue // a child that refers to it goes first
		}
		if err := r.deleteChild(ctx, u.GetNamespace(), previous[id]); err != nil {
			return reconcile.Result{}, err
		}
		deleting = append(deleting, id)
	}
	msg := fmt.Sprintf("deleting %s; %d resources left", strings.Join(deleting, ", "), len(present))
	if err := r.setStatus(ctx, u, nil, metav1.ConditionFalse, ReasonDeleting, msg); err != nil {
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
func (r *instanceReconciler) setStatus(ctx context.Context, u *unstructured.Unstructured, children []childStatus, s metav1.ConditionStatus, reason, msg string) error {
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
	meta.SetStatusCondition(&conds, metav1.Condition{Type: "Ready", Status: s, Reason: reason, Message: msg, ObservedGeneration: u.GetGeneration()})
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
	if equality.Semantic.DeepEqual(normalizeNumbers(before), normalizeNumbers(runtime.DeepCopyJSON(status))) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	return r.c.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch))
}

// instanceReady reads an instance's Ready condition.
func instanceReady(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		if m, ok := x.(map[string]any); ok && m["type"] == "Ready" {
			return m["status"] == "True"
		}
	}
	return false
}
