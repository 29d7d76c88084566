package breakglass

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// compareChild compares a Blueprint child with what the instance
// controller would write once the shield lifts: the Blueprint's rendering
// of the live instance, through a server-side dry-run apply with the
// controller's field manager (forced). What that apply would change is
// what diverged, exactly as for git; the report's "git" column is the
// Blueprint's value.
func (r *Reconciler) compareChild(ctx context.Context, t corev1alpha1.BreakGlassTargetStatus, live *unstructured.Unstructured, cloudToo bool) (comparison, error) {
	inst, err := parentInstance(ctx, r.client, live)
	if err != nil {
		return comparison{}, fmt.Errorf("reading its instance %s: %w", t.Instance, err)
	}
	if inst == nil {
		return comparison{message: fmt.Sprintf("its instance %s is gone: nothing to compare", t.Instance)}, nil
	}
	if r.rendered == nil {
		return comparison{}, fmt.Errorf("the Blueprint controller does not run here: cannot render %s for %s", t.Kind+"/"+t.Name, t.Instance)
	}
	want, from, err := r.rendered(ctx, inst, live.GetLabels()[corev1alpha1.BlueprintResourceLabel])
	if err != nil {
		return comparison{}, fmt.Errorf("rendering it from %s: %w", t.Instance, err)
	}
	c := comparison{source: inst.GetLabels()[corev1alpha1.SourceLabel], revision: from}
	var paths []string
	var cloudChanged bool
	c.fields, paths, cloudChanged = divergedFields(want, live, cloudToo)
	if c.diverged() {
		c.message = fmt.Sprintf("differs from what %s renders for %s in %s", from, t.Instance, strings.Join(paths, ", "))
		if cloudChanged {
			c.message += "; the cloud was changed directly (actuation was paused), so actuation stays paused while held: to keep the cloud's values make the instance (in git) or the Blueprint render them, then revert; or revert to put the cloud back to the Blueprint's values"
		}
	}
	return c, nil
}
