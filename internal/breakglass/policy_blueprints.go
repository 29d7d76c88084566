package breakglass

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// What the Blueprint instance controller asks about break-glass: a
// break-glass on an instance covers its children, so while it is open
// (until its end is judged), and while it holds children, the controller
// must not write them (blueprint.Options.Shield and Wake).

// Shield says whether an instance's children must be left as they are (a
// blueprint.ShieldFunc): a break-glass covering the instance is open or
// not judged yet, or holds children that differ from the Blueprint.
func (p *Policy) Shield(ctx context.Context, inst client.Object) (bool, string, string) {
	kind := p.kindOf(inst)
	items, err := p.Index.list(ctx, nil, inst.GetNamespace())
	if err != nil {
		// Not knowing is no reason to overwrite: the next pass asks again.
		return true, commonv1.ReasonBreakGlass, "reading break-glasses: " + err.Error()
	}
	for i := range items {
		bg := &items[i]
		if protecting(bg) && Covers(bg, kind, inst.GetName(), inst.GetLabels()) {
			return true, commonv1.ReasonBreakGlass, fmt.Sprintf("break-glass %s covers this instance: direct edits of its children stand until the window ends and they are compared with the Blueprint", describe(bg))
		}
	}
	ref := kind + "/" + inst.GetName()
	for i := range items {
		bg := &items[i]
		var held []string
		for _, t := range bg.Status.Targets {
			if t.Instance == ref && t.State == corev1alpha1.TargetHeld {
				held = append(held, t.Kind+"/"+t.Name)
			}
		}
		if len(held) > 0 {
			return true, commonv1.ReasonHeld, fmt.Sprintf("held after break-glass %s: %s differ from what the Blueprint renders; its children are not written until the rendering matches (change the instance in git, or the Blueprint) or someone reverts (`infraplane breakglass revert %s`)",
				bg.Name, strings.Join(held, ", "), bg.Name)
		}
	}
	return false, "", ""
}

// InstancesOf maps a break-glass to the objects of kind gk it covers:
// its targets, named or resolved, and the instances whose children it
// covers (a managed.Wake's and a blueprint.Wake's Map): its opening, end
// and revert reconcile them at once.
func (p *Policy) InstancesOf(_ context.Context, gk schema.GroupKind, o client.Object) []types.NamespacedName {
	bg, ok := o.(*corev1alpha1.BreakGlass)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var out []types.NamespacedName
	add := func(kind, name string) {
		if strings.EqualFold(kind, gk.Kind) && !seen[name] {
			seen[name] = true
			out = append(out, types.NamespacedName{Namespace: bg.Namespace, Name: name})
		}
	}
	for _, t := range bg.Spec.Targets {
		add(t.Kind, t.Name)
	}
	for _, t := range bg.Status.Targets {
		add(t.Kind, t.Name)
		if kind, name, ok := strings.Cut(t.Instance, "/"); ok {
			add(kind, name)
		}
	}
	return out
}

// heldChildMessage is the Diverged message of a held Blueprint child.
func heldChildMessage(bg *corev1alpha1.BreakGlass, t *corev1alpha1.BreakGlassTargetStatus, paths []string) string {
	what := "differs from what its Blueprint renders for " + t.Instance
	if len(paths) > 0 {
		what += " in " + strings.Join(paths, ", ")
	}
	return fmt.Sprintf("break-glass %s ended and this object %s; %s's controller leaves its children alone until the rendering matches (change the instance in git, or the Blueprint: git holds the instance, not its children) or someone reverts it (`infraplane breakglass revert %s`)",
		bg.Name, what, t.Instance, bg.Name)
}
