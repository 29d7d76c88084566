package blueprint

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// A break-glass on an instance covers its children: while it is open, and
// afterwards while children it judged to differ from the Blueprint are
// held, the instance controller must not write them back (the on-call's
// emergency edit would be reverted seconds later). The break-glass policy
// answers through Options.Shield; this file is the instance controller's
// side of it.

// ShieldFunc says whether an instance's children must not be written now,
// and why (the same shape as managed.PauseFunc). The message should name
// what shields the instance and until when.
type ShieldFunc func(ctx context.Context, instance client.Object) (held bool, reason, message string)

// Wake makes changes of another kind reconcile instances: Map returns the
// instances of kind gk that a change of obj concerns (a break-glass
// opening, ending or being reverted).
type Wake struct {
	Source client.Object
	Map    func(ctx context.Context, gk schema.GroupKind, obj client.Object) []types.NamespacedName
}

// TypePaused is the instance condition that says its children are not
// written (True while shielded).
const TypePaused = "Paused"

// ReasonWriting is the Paused=False reason once children are written again.
const ReasonWriting = "Writing"

// shieldState is what Options.Shield said about one instance in one pass.
type shieldState struct {
	held            bool
	reason, message string
}

// shielded asks Options.Shield about the instance and records the answer
// in its Paused condition (written at once, so it shows even when
// nothing else changes).
func (r *instanceReconciler) shielded(ctx context.Context, u *unstructured.Unstructured) (shieldState, error) {
	if r.shield == nil {
		return shieldState{}, nil
	}
	var s shieldState
	s.held, s.reason, s.message = r.shield(ctx, u)
	conds := instanceConditions(u)
	var was *metav1.Condition
	if c := meta.FindStatusCondition(conds, TypePaused); c != nil {
		was = c.DeepCopy() // conds changes below
	}
	switch {
	case s.held:
		meta.SetStatusCondition(&conds, metav1.Condition{Type: TypePaused, Status: metav1.ConditionTrue, Reason: s.reason, Message: s.message, ObservedGeneration: u.GetGeneration()})
	case was != nil && was.Status == metav1.ConditionTrue:
		meta.SetStatusCondition(&conds, metav1.Condition{Type: TypePaused, Status: metav1.ConditionFalse, Reason: ReasonWriting,
			Message: "nothing shields this instance any more: its children are written again", ObservedGeneration: u.GetGeneration()})
	default:
		return s, nil
	}
	if now := meta.FindStatusCondition(conds, TypePaused); was != nil && now.Status == was.Status && now.Reason == was.Reason && now.Message == was.Message {
		return s, nil
	}
	raw, err := json.Marshal(conds)
	if err != nil {
		return s, err
	}
	var list any
	if err := json.Unmarshal(raw, &list); err != nil {
		return s, err
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": list}})
	if err != nil {
		return s, err
	}
	// The patched object comes back: the Ready write that follows keeps
	// the Paused condition.
	return s, r.c.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch))
}

// observe is a pass over a shielded instance: nothing is applied or
// deleted, readiness is reported from the live children the status lists
// (children of resources the Blueprint dropped stay listed, so they are
// still removed once the shield lifts).
func (r *instanceReconciler) observe(ctx context.Context, compiled *Compiled, u *unstructured.Unstructured, s shieldState) (reconcile.Result, error) {
	previous := previousChildren(u)
	in := Instance{Object: u, Resources: map[string]map[string]any{}}
	var children []childStatus
	var blocking *childStatus
	for _, res := range compiled.Resources {
		cs, ok := previous[res.ID]
		if !ok || cs.Name == "" {
			continue // never made (or not included): nothing to report
		}
		cs.Ready, cs.Message = false, ""
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(res.GVK)
		err := r.c.Get(ctx, client.ObjectKey{Namespace: u.GetNamespace(), Name: cs.Name}, live)
		switch {
		case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			cs.Message = "does not exist; it is made again once children are written again"
		case err != nil:
			return reconcile.Result{}, err
		default:
			in.Resources[res.ID] = live.Object
			cs.Ready, _, cs.Message = childReady(compiled, res, in, live)
		}
		children = append(children, cs)
		if !cs.Ready && blocking == nil {
			blocking = &children[len(children)-1]
		}
	}
	for _, id := range slices.Sorted(keys(previous)) {
		if compiled.Resource(id) == nil {
			cs := previous[id]
			cs.Message = "no longer in the Blueprint; deleted once children are written again"
			children = append(children, cs)
		}
	}
	note := "children not written: " + s.message
	// status.revision stays the revision the children were last written
	// with (0 leaves it): a rollout must not count this instance as moved.
	// The safety-net requeue: the break-glass ending wakes the instance.
	result := reconcile.Result{RequeueAfter: time.Minute}
	if blocking == nil {
		return result, r.setStatus(ctx, u, children, 0, metav1.ConditionTrue, ReasonReady, fmt.Sprintf("all %d resources ready; %s", len(children), note))
	}
	msg := fmt.Sprintf("resource %s (%s %s): %s; %s", blocking.ID, blocking.Kind, blocking.Name, blocking.Message, note)
	return result, r.setStatus(ctx, u, children, 0, metav1.ConditionFalse, ReasonResourceBlocked, msg)
}

// instanceConditions reads an instance's status.conditions.
func instanceConditions(u *unstructured.Unstructured) []metav1.Condition {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []metav1.Condition
	b, err := json.Marshal(raw)
	if err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// watchShield makes Options.Wake reconcile the kind's instances.
func (r *Controller) watchShield(ks *kindState) error {
	ks.instance.shield = r.opts.Shield
	gk := ks.gvk.GroupKind()
	for _, w := range r.opts.Wake {
		m := w.Map
		h := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, n := range m(ctx, gk, o) {
				out = append(out, reconcile.Request{NamespacedName: n})
			}
			return out
		})
		if err := ks.ctrl.Watch(source.Kind(r.mgr.GetCache(), w.Source, h)); err != nil {
			return fmt.Errorf("watching %T for %s instances: %w", w.Source, ks.gvk.Kind, err)
		}
	}
	return nil
}

// DryRunChild is what the instance controller would make of one child of
// an instance now: the Blueprint's rendering (of the revision the instance
// runs, with the live siblings its expressions read) through a server-side
// dry-run apply with the controller's field manager, forced. from names
// what rendered it, for reports. A break-glass compares a held child with
// it, as it compares GitOps-managed objects with git.
func (r *Controller) DryRunChild(ctx context.Context, instance *unstructured.Unstructured, id string) (result *unstructured.Unstructured, from string, err error) {
	r.mu.Lock()
	var ks *kindState
	for _, k := range r.kinds {
		if k.gvk == instance.GroupVersionKind() {
			ks = k
		}
	}
	r.mu.Unlock()
	if ks == nil {
		return nil, "", fmt.Errorf("no Blueprint serves %s", instance.GroupVersionKind())
	}
	compiled, err := ks.instance.compiledFor(ctx, instance)
	if err != nil {
		return nil, "", err
	}
	res := compiled.Resource(id)
	if res == nil {
		return nil, "", fmt.Errorf("Blueprint %s has no resource %q any more", ks.blueprint, id)
	}
	live, err := liveChildren(ctx, r.c, instance)
	if err != nil {
		return nil, "", err
	}
	in := Instance{Object: instance, Resources: map[string]map[string]any{}}
	for sid, o := range live {
		if sid != id {
			in.Resources[sid] = o.Object
		}
	}
	for _, d := range res.DependsOn {
		if _, ok := in.Resources[d]; !ok {
			return nil, "", fmt.Errorf("resource %s depends on %s, which does not exist", id, d)
		}
	}
	child, err := compiled.Render(res, in)
	if err != nil {
		return nil, "", fmt.Errorf("rendering %s: %w", id, err)
	}
	ownChild(instance, res, child) // what apply adds
	stampRendered(child)
	//nolint:staticcheck // server-side apply of an unstructured object
	if err := r.c.Patch(ctx, child, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
		return nil, "", fmt.Errorf("dry-run apply of %s %s: %w", child.GetKind(), child.GetName(), err)
	}
	from = fmt.Sprintf("Blueprint %s", ks.blueprint)
	if rev := revisionOf(instance); rev != 0 {
		from += fmt.Sprintf(" revision %d", rev)
	}
	return child, strings.TrimSpace(from), nil
}
