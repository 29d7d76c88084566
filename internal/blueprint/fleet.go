package blueprint

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// FleetInstance is one instance in a fleet report.
type FleetInstance struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Revision is the revision the instance is to run; Applied the one
	// it last rendered.
	Revision int64  `json:"revision"`
	Applied  int64  `json:"applied"`
	Ready    bool   `json:"ready"`
	Canary   bool   `json:"canary,omitempty"`
	Message  string `json:"message,omitempty"`
}

// FleetBlueprint is one Blueprint and (when asked for) its instances.
type FleetBlueprint struct {
	Name   string                       `json:"name"`
	Kind   string                       `json:"kind"`
	Status corev1alpha1.BlueprintStatus `json:"status"`
	Items  []FleetInstance              `json:"instances,omitempty"`
}

// Fleet reads the Blueprints (one when name is set) and, with instances,
// every instance of their kinds.
func Fleet(ctx context.Context, c client.Reader, name string, instances bool) ([]FleetBlueprint, error) {
	var bps []corev1alpha1.Blueprint
	if name != "" {
		bp := corev1alpha1.Blueprint{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &bp); err != nil {
			return nil, err
		}
		bps = append(bps, bp)
	} else {
		list := &corev1alpha1.BlueprintList{}
		if err := c.List(ctx, list); err != nil {
			return nil, err
		}
		bps = list.Items
	}
	out := make([]FleetBlueprint, 0, len(bps))
	for _, bp := range bps {
		fb := FleetBlueprint{Name: bp.Name, Kind: bp.Spec.Kind, Status: bp.Status}
		if instances {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(bp.Spec.GroupVersionKind().GroupVersion().WithKind(bp.Spec.Kind + "List"))
			if err := c.List(ctx, list); err != nil && !meta.IsNoMatchError(err) {
				return nil, fmt.Errorf("listing %s instances: %w", bp.Spec.Kind, err)
			}
			for i := range list.Items {
				v := viewOf(&list.Items[i])
				fb.Items = append(fb.Items, FleetInstance{Namespace: v.Namespace, Name: v.Name, Revision: v.Revision, Applied: v.Applied, Ready: v.Ready, Canary: v.Canary, Message: v.Message})
			}
			// Not Ready first, then by revision (oldest first), then name.
			slices.SortFunc(fb.Items, func(a, b FleetInstance) int {
				if a.Ready != b.Ready {
					return boolFirst(!a.Ready)
				}
				return cmp.Or(cmp.Compare(a.Revision, b.Revision), cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
			})
		}
		out = append(out, fb)
	}
	return out, nil
}

// WriteFleet prints a fleet report: one line per Blueprint with its
// rollout, then (when read) the instances, not Ready ones first.
func WriteFleet(w io.Writer, fleet []FleetBlueprint) {
	if len(fleet) == 0 {
		fmt.Fprintln(w, "no Blueprints")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BLUEPRINT\tKIND\tLATEST\tSTABLE\tROLLOUT\tINSTANCES\tREADY\tBY REVISION")
	for _, fb := range fleet {
		phase := "-"
		if fb.Status.Rollout != nil {
			phase = fb.Status.Rollout.Phase
		}
		var by []string
		for _, c := range fb.Status.Revisions {
			by = append(by, fmt.Sprintf("r%d: %d (%d ready)", c.Revision, c.Instances, c.Ready))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\n", fb.Name, fb.Kind, fb.Status.LatestRevision, fb.Status.StableRevision, phase, fb.Status.Instances, fb.Status.ReadyInstances, orDash(strings.Join(by, ", ")))
	}
	tw.Flush()
	for _, fb := range fleet {
		if ro := fb.Status.Rollout; ro != nil && ro.Phase != corev1alpha1.RolloutComplete && ro.Message != "" {
			fmt.Fprintf(w, "\n%s: %s\n", fb.Name, ro.Message)
			for _, f := range ro.Failed {
				fmt.Fprintf(w, "  FAILED %s/%s: %s\n", f.Namespace, f.Name, f.Message)
			}
		}
		if c := meta.FindStatusCondition(fb.Status.Conditions, corev1alpha1.BlueprintReady); c != nil && c.Status != metav1.ConditionTrue {
			fmt.Fprintf(w, "\n%s is not ready: %s: %s\n", fb.Name, c.Reason, c.Message)
		}
		if len(fb.Items) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s instances:\n", fb.Kind)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAMESPACE\tNAME\tREVISION\tAPPLIED\tREADY\tMESSAGE")
		for _, it := range fb.Items {
			name := it.Name
			if it.Canary {
				name += " (canary)"
			}
			msg := it.Message
			if it.Ready {
				msg = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%v\t%s\n", it.Namespace, name, it.Revision, it.Applied, it.Ready, orDash(truncate(msg, 120)))
		}
		tw.Flush()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// Rollback sets a Blueprint's spec back to one of its revisions (0: its
// stable revision), keeping its rollout settings. The result is a new
// revision with that revision's hash, so the instances still on it move
// at once and the others roll out in stages. It returns the revision
// rolled back to, and false when the Blueprint already renders as it.
func Rollback(ctx context.Context, c client.Client, name string, to int64) (int64, bool, error) {
	var rev int64
	var changed bool
	// The controller writes the Blueprint's status all the time: a
	// conflict is retried with a fresh read.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		rev, changed, err = rollbackOnce(ctx, c, name, to)
		return err
	})
	return rev, changed, err
}

func rollbackOnce(ctx context.Context, c client.Client, name string, to int64) (int64, bool, error) {
	bp := &corev1alpha1.Blueprint{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, bp); err != nil {
		return 0, false, err
	}
	if to == 0 {
		to = bp.Status.StableRevision
		if to == 0 {
			return 0, false, fmt.Errorf("Blueprint %s has no stable revision yet: name one with --to", name)
		}
	}
	rev := &corev1alpha1.BlueprintRevision{}
	if err := c.Get(ctx, client.ObjectKey{Name: RevisionName(name, to)}, rev); err != nil {
		return 0, false, fmt.Errorf("revision %d of Blueprint %s: %w (kubectl get bprev -l %s=%s lists those kept)", to, name, err, corev1alpha1.BlueprintLabel, name)
	}
	if hash, err := revisionHash(bp.Spec); err == nil && hash == rev.Spec.Hash {
		return to, false, nil
	}
	before := bp.DeepCopy()
	rollout := bp.Spec.Rollout
	bp.Spec = *rev.Spec.Template.DeepCopy()
	bp.Spec.Rollout = rollout
	if err := c.Patch(ctx, bp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return 0, false, err
		}
		return 0, false, fmt.Errorf("rolling Blueprint %s back to revision %d: %w", name, to, err)
	}
	return to, true, nil
}

// SetPaused pauses or resumes a Blueprint's rollout (spec.rollout.paused).
func SetPaused(ctx context.Context, c client.Client, name string, paused bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return setPausedOnce(ctx, c, name, paused) })
}

func setPausedOnce(ctx context.Context, c client.Client, name string, paused bool) error {
	bp := &corev1alpha1.Blueprint{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, bp); err != nil {
		return err
	}
	before := bp.DeepCopy()
	if bp.Spec.Rollout == nil {
		bp.Spec.Rollout = &corev1alpha1.BlueprintRollout{}
	}
	bp.Spec.Rollout.Paused = paused
	return c.Patch(ctx, bp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}
