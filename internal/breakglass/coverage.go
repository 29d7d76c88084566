package breakglass

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Kinds are the kinds a break-glass can cover, by kind name.
type Kinds map[string]schema.GroupVersionKind

// lookup finds a kind by name, case-insensitively, so `--target
// subscription/x` works.
func (k Kinds) lookup(name string) (schema.GroupVersionKind, bool) {
	if gvk, ok := k[name]; ok {
		return gvk, true
	}
	for n, gvk := range k {
		if strings.EqualFold(n, name) {
			return gvk, true
		}
	}
	return schema.GroupVersionKind{}, false
}

// ExpiresAt is when a break-glass's window closes: creation plus duration.
// It is derived, not stored first, so every reader agrees on it at once.
func ExpiresAt(bg *corev1alpha1.BreakGlass) time.Time {
	return bg.CreationTimestamp.Add(bg.Spec.Duration.Duration)
}

// ActiveAt reports whether the window is open at now.
func ActiveAt(bg *corev1alpha1.BreakGlass, now time.Time) bool {
	if bg.Spec.Closed || !bg.DeletionTimestamp.IsZero() {
		return false
	}
	if bg.Status.Phase != "" && bg.Status.Phase != corev1alpha1.BreakGlassActive {
		return false
	}
	return now.Before(ExpiresAt(bg))
}

// protecting reports whether bg still shields its targets from the syncer
// and, with pauseActuation, from the controllers: from creation until the
// controller has recorded its end and judged every target. Closing or
// expiry ends who may edit at once (ActiveAt); the shield stays until the
// hold decision is made, so nothing is reverted in between.
func protecting(bg *corev1alpha1.BreakGlass) bool {
	return bg.DeletionTimestamp.IsZero() && (bg.Status.Phase == "" || bg.Status.Phase == corev1alpha1.BreakGlassActive)
}

// OpenedBy is the user who opened bg, as the webhook stamped it.
func OpenedBy(bg *corev1alpha1.BreakGlass) string {
	if bg.Status.OpenedBy != "" {
		return bg.Status.OpenedBy
	}
	return bg.Annotations[corev1alpha1.OpenedByAnnotation]
}

// Covers reports whether bg covers the object kind/name with labels. Once
// opened, the targets resolved then (status.targets) are what it covers;
// before that, spec.targets and the selector.
func Covers(bg *corev1alpha1.BreakGlass, kind, name string, objLabels map[string]string) bool {
	if len(bg.Status.Targets) > 0 {
		for _, t := range bg.Status.Targets {
			if t.Kind == kind && t.Name == name {
				return true
			}
		}
		return false
	}
	for _, t := range bg.Spec.Targets {
		if strings.EqualFold(t.Kind, kind) && t.Name == name {
			return true
		}
	}
	if bg.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(bg.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(objLabels)) {
			return true
		}
	}
	return false
}

// heldTarget returns the target status of kind/name when bg holds it.
func heldTarget(bg *corev1alpha1.BreakGlass, kind, name string) *corev1alpha1.BreakGlassTargetStatus {
	for i, t := range bg.Status.Targets {
		if t.Kind == kind && t.Name == name && t.State == corev1alpha1.TargetHeld {
			return &bg.Status.Targets[i]
		}
	}
	return nil
}

// Index answers coverage questions from a (cached) reader of BreakGlass
// objects. A namespace has a handful of them, so a List per question is
// cheap against the informer cache.
type Index struct {
	Reader client.Reader
	Now    func() time.Time
}

func (x *Index) now() time.Time {
	if x.Now != nil {
		return x.Now()
	}
	return time.Now()
}

func (x *Index) list(ctx context.Context, r client.Reader, ns string) ([]corev1alpha1.BreakGlass, error) {
	if r == nil {
		r = x.Reader
	}
	var l corev1alpha1.BreakGlassList
	if err := r.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Active returns the active break-glass covering the object, if any.
func (x *Index) Active(ctx context.Context, kind string, obj metav1.Object) (*corev1alpha1.BreakGlass, error) {
	return x.activeFrom(ctx, nil, kind, obj)
}

func (x *Index) activeFrom(ctx context.Context, r client.Reader, kind string, obj metav1.Object) (*corev1alpha1.BreakGlass, error) {
	items, err := x.list(ctx, r, obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	now := x.now()
	for i := range items {
		bg := &items[i]
		if ActiveAt(bg, now) && Covers(bg, kind, obj.GetName(), obj.GetLabels()) {
			return bg, nil
		}
	}
	return nil, nil
}

// shieldAndHold returns, from one list, the break-glass shielding the
// object (see protecting) and the one holding it with its target, if any:
// the syncer and every reconcile ask both.
func (x *Index) shieldAndHold(ctx context.Context, kind string, obj metav1.Object) (shield, held *corev1alpha1.BreakGlass, target *corev1alpha1.BreakGlassTargetStatus, err error) {
	items, err := x.list(ctx, nil, obj.GetNamespace())
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range items {
		bg := &items[i]
		if shield == nil && protecting(bg) && Covers(bg, kind, obj.GetName(), obj.GetLabels()) {
			shield = bg
		}
		if held == nil {
			if t := heldTarget(bg, kind, obj.GetName()); t != nil {
				held, target = bg, t
			}
		}
	}
	return shield, held, target, nil
}

// Held returns the break-glass holding the object, if any.
func (x *Index) Held(ctx context.Context, kind string, obj metav1.Object) (*corev1alpha1.BreakGlass, *corev1alpha1.BreakGlassTargetStatus, error) {
	items, err := x.list(ctx, nil, obj.GetNamespace())
	if err != nil {
		return nil, nil, err
	}
	for i := range items {
		if t := heldTarget(&items[i], kind, obj.GetName()); t != nil {
			return &items[i], t, nil
		}
	}
	return nil, nil, nil
}

// describe names a break-glass for messages: "inc-4211 (opened by alice,
// until 15:04:05Z)".
func describe(bg *corev1alpha1.BreakGlass) string {
	return fmt.Sprintf("%s (opened by %s, until %s)", bg.Name, OpenedBy(bg), ExpiresAt(bg).UTC().Format(time.RFC3339))
}

func sortedKinds(k Kinds) []string {
	return slices.Sorted(maps.Keys(k))
}
