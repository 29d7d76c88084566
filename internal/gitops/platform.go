package gitops

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A GitSource in the platform namespace may apply Blueprints as well as
// namespaced objects, so platform teams review and merge Blueprints like
// everything else. Check refuses them anywhere else; what follows is the
// syncer's side: placement, ownership between sources, and pruning.

// platform says whether gs lives in the platform namespace.
func (s *Syncer) platform(gs *corev1alpha1.GitSource) bool {
	return gs.Namespace == s.opts.PlatformNamespace
}

// namespaceFor is where the syncer applies u: the target namespace, or
// none for a Blueprint (Check let it through only from the platform
// namespace).
func namespaceFor(u *unstructured.Unstructured, target string) string {
	if PlatformClusterScoped(u.GroupVersionKind()) {
		return ""
	}
	return target
}

// claimedElsewhere finds Blueprints in objs that another GitSource already
// applied: a cluster-scoped object is shared by every source in the
// platform namespace, and the one that applied it first keeps it until it
// drops it (prune only touches objects with its own source label).
// Blueprints with no source label (kubectl apply) are adopted.
func (s *Syncer) claimedElsewhere(ctx context.Context, objs []Object, gs *corev1alpha1.GitSource) Problems {
	mine := gs.Namespace + "." + gs.Name
	var ps Problems
	for _, o := range objs {
		if !PlatformClusterScoped(o.GroupVersionKind()) {
			continue
		}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		if err := s.client.Get(ctx, client.ObjectKey{Name: o.GetName()}, live); err != nil {
			continue // absent (or unreadable: apply will say)
		}
		if owner := live.GetLabels()[corev1alpha1.SourceLabel]; owner != "" && owner != mine {
			ps = append(ps, Problem{Source: o.Source, Object: o.ID(), Field: "metadata.name",
				Msg: fmt.Sprintf("Blueprint %q is applied by GitSource %s; keep it in one repository: remove it from this one, or from that one first (it is then pruned) and sync again", o.GetName(), owner)})
		}
	}
	return ps
}

// blueprintInUse says why a Blueprint that left git cannot be pruned yet:
// it still has instances. Deleting it would leave it terminating until they
// are gone (its finalizer waits), so the syncer keeps it and says so.
// Empty for anything else, or a Blueprint with no instances.
func (s *Syncer) blueprintInUse(ctx context.Context, r corev1alpha1.ObjectRef) (string, error) {
	bp := &corev1alpha1.Blueprint{}
	if r.Kind != "Blueprint" || r.APIVersion != corev1alpha1.GroupVersion.String() {
		return "", nil
	}
	if err := s.client.Get(ctx, client.ObjectKey{Name: r.Name}, bp); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	if !bp.DeletionTimestamp.IsZero() || bp.Status.CRDName == "" {
		return "", nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion(bp.Spec.Group + "/" + bp.Spec.Version)
	list.SetKind(bp.Spec.Kind + "List")
	if err := s.client.List(ctx, list); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", err
	}
	if n := len(list.Items); n > 0 {
		first := list.Items[0]
		return fmt.Sprintf("Blueprint/%s left git but %d %s instances remain (e.g. %s/%s): delete them (or move them to another Blueprint), then it is pruned at the next sync",
			r.Name, n, bp.Spec.Kind, first.GetNamespace(), first.GetName()), nil
	}
	return "", nil
}
