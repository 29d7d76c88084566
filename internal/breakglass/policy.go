package breakglass

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// Policy is what the syncer and the managed reconcilers ask about
// break-glass: skip, pause, hold.
type Policy struct {
	Index  *Index
	Scheme *runtime.Scheme
}

func (p *Policy) kindOf(obj runtime.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	gvk, err := apiutil.GVKForObject(obj, p.Scheme)
	if err != nil {
		return ""
	}
	return gvk.Kind
}

// Pause stops cloud writes for the targets of an active break-glass with
// pauseActuation, and for those it holds afterwards (resuming would undo
// the changes made in the cloud) (a managed.PauseFunc).
func (p *Policy) Pause(ctx context.Context, obj managed.Object) (bool, string, string) {
	shield, held, _, err := p.Index.shieldAndHold(ctx, p.kindOf(obj), obj)
	switch {
	case err != nil:
		return false, "", ""
	case shield != nil && shield.Spec.PauseActuation:
		return true, commonv1.ReasonBreakGlass, fmt.Sprintf("break-glass %s pauses actuation: the cloud is read and drift reported, never written, until %s",
			describe(shield), ExpiresAt(shield).UTC().Format(time.RFC3339))
	case held != nil && held.Spec.PauseActuation:
		return true, commonv1.ReasonHeld, fmt.Sprintf("held after break-glass %s, which paused actuation: writing now would undo the changes made in the cloud; `infraplane breakglass revert %s` resumes it", held.Name, held.Name)
	}
	return false, "", ""
}

// Hold reports a target held after its break-glass ended diverged (a
// managed.HoldFunc: the Diverged condition).
func (p *Policy) Hold(ctx context.Context, obj managed.Object) (bool, string, string) {
	bg, t, err := p.Index.Held(ctx, p.kindOf(obj), obj)
	if err != nil || bg == nil {
		return false, "", ""
	}
	return true, commonv1.ReasonHeld, heldMessage(bg, t)
}

func heldMessage(bg *corev1alpha1.BreakGlass, t *corev1alpha1.BreakGlassTargetStatus) string {
	paths := make([]string, 0, len(t.Fields))
	for _, f := range t.Fields {
		paths = append(paths, f.Path)
	}
	if t.Instance != "" {
		return heldChildMessage(bg, t, paths)
	}
	what := "differs from git"
	if len(paths) > 0 {
		what = "differs from git in " + strings.Join(paths, ", ")
	}
	return fmt.Sprintf("break-glass %s ended and this object %s; the syncer leaves it alone until git matches (`infraplane breakglass backport %s`, then merge) or someone reverts it (`infraplane breakglass revert %s`)",
		bg.Name, what, bg.Name, bg.Name)
}

// Exclude tells the syncer to leave an object alone while an active
// break-glass covers it or a break-glass holds it.
func (p *Policy) Exclude(ctx context.Context, namespace string, obj *unstructured.Unstructured) (bool, string) {
	probe := obj
	if obj.GetNamespace() != namespace {
		probe = obj.DeepCopy()
		probe.SetNamespace(namespace)
	}
	shield, held, _, err := p.Index.shieldAndHold(ctx, obj.GetKind(), probe)
	switch {
	case err != nil:
		// Not knowing is no reason to overwrite: skip, the next sync retries.
		return true, "reading break-glasses: " + err.Error()
	case shield != nil:
		return true, "break-glass " + describe(shield) + " is open"
	case held != nil:
		return true, "held after break-glass " + held.Name + ": it differs from git"
	}
	return false, ""
}

// Wake makes a break-glass's changes (opened, ended, released) reconcile
// its targets at once, so Paused and Diverged follow without waiting for
// a resync.
func (p *Policy) Wake() managed.Wake {
	return managed.Wake{
		Source: &corev1alpha1.BreakGlass{},
		// The targets of the kind, named or resolved (an instance's
		// children among them).
		Map: p.InstancesOf,
	}
}

// EditedUnder names the active break-glass a direct edit of kind
// namespace/name by user happened under ("" if none), for the ledger.
func (p *Policy) EditedUnder(ctx context.Context, kind, namespace, name, user string) string {
	items, err := p.Index.list(ctx, nil, namespace)
	if err != nil {
		return ""
	}
	now := p.Index.now()
	for i := range items {
		bg := &items[i]
		if ActiveAt(bg, now) && OpenedBy(bg) == user && coversByName(bg, kind, name) {
			return bg.Name
		}
	}
	return ""
}

// coversByName is Covers without the object's labels: targets by name and
// the targets resolved when opened.
func coversByName(bg *corev1alpha1.BreakGlass, kind, name string) bool {
	for _, t := range bg.Status.Targets {
		if t.Kind == kind && t.Name == name {
			return true
		}
	}
	for _, t := range bg.Spec.Targets {
		if strings.EqualFold(t.Kind, kind) && t.Name == name {
			return true
		}
	}
	return false
}
