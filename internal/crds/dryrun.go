package crds

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// DryRunCreate sends obj (named, and absent from the cluster) through
// admission as a create and returns what the API server would have stored;
// nothing is stored. It is a dry-run server-side apply rather than a
// dry-run create: both reach admission as a CREATE, but the API server
// holds every create of a custom kind for 2 s while the kind's CRD has been
// Established for less than 2 s (apiextensions' guard for HA peers that
// have not seen the CRD yet; there is one API server in `infraplane up`),
// and an apply is a PATCH, which it does not hold. So a probe right after
// the CRDs are installed learns what admission does at once instead of
// after that pause.
func DryRunCreate(ctx context.Context, c client.Client, obj client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return nil, err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	//nolint:staticcheck // client.Apply with an unstructured object is what we want here.
	err = c.Patch(ctx, u, client.Apply, client.DryRunAll, client.FieldOwner(FieldOwner), client.ForceOwnership)
	return u, err
}
