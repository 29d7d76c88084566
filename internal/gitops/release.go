package gitops

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// ReleaseFinalizer lets a GitSource release its objects before it goes:
// the syncer removes its source label from each, so the admission guard
// stops refusing direct edits in the name of a GitSource that no longer
// exists, and records the release in the ledger.
const ReleaseFinalizer = "infraplane.dev/release-objects"

// Releasing reads each object of the inventory past the cache and patches
// its source label away, as the controller (the GitSource's ServiceAccount
// may be gone with it): infraplane's kinds (granted where they are used),
// the kinds Blueprints define (the aggregated role for Blueprint groups,
// config/rbac/controller) and ConfigMaps.
//
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;patch
// +kubebuilder:rbac:groups=infraplane.dev,resources=blueprints,verbs=get;patch

// releaseAll releases every object in gs's inventory that still carries
// its label, records it, and lets gs go.
func (s *Syncer) releaseAll(ctx context.Context, gs *corev1alpha1.GitSource) error {
	if !controllerutil.ContainsFinalizer(gs, ReleaseFinalizer) {
		return nil
	}
	label := gs.Namespace + "." + gs.Name
	var released []string
	for _, r := range gs.Status.Inventory {
		ok, err := s.release(ctx, r, label)
		if err != nil {
			return fmt.Errorf("releasing %s/%s: %w", r.Kind, r.Name, err)
		}
		if ok {
			released = append(released, r.Kind+"/"+r.Namespace+"/"+r.Name)
		}
	}
	if s.opts.Recorder != nil {
		s.opts.Recorder.Synced(ctx, SyncEvent{Source: gs.Namespace + "/" + gs.Name, Result: "Released", Released: released})
	}
	patch := client.MergeFrom(gs.DeepCopy())
	controllerutil.RemoveFinalizer(gs, ReleaseFinalizer)
	return client.IgnoreNotFound(s.client.Patch(ctx, gs, patch))
}

// release removes the source label from one object, if it is still ours.
func (s *Syncer) release(ctx context.Context, r corev1alpha1.ObjectRef, label string) (bool, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(r.APIVersion)
	u.SetKind(r.Kind)
	if err := s.reader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, u); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return false, nil
		}
		return false, err
	}
	if u.GetLabels()[corev1alpha1.SourceLabel] != label {
		return false, nil
	}
	body := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, corev1alpha1.SourceLabel)
	if err := s.client.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(body))); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return true, nil
}
