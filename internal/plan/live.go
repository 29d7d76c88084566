package plan

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/gitops"
)

// listMin is how many objects of one kind a directory must hold for the
// plan to list that kind in the namespace once instead of reading each
// object: below it a few reads cost less than a list of a namespace that
// may hold thousands.
const listMin = 20

// liveObjects reads the live objects of the kinds the directory holds
// listMin or more of: one list per kind in the namespace, as the person
// planning (the same rights as a read each). Kinds it could not list (a
// list refused, a kind not served yet) are left out: their objects are
// read one by one, as are those of the other kinds.
func liveObjects(ctx context.Context, c client.Reader, objs []gitops.Object, namespace string) map[schema.GroupVersionKind]map[string]*unstructured.Unstructured {
	count := map[schema.GroupVersionKind]int{}
	for _, o := range objs {
		if !gitops.PlatformClusterScoped(o.GroupVersionKind()) {
			count[o.GroupVersionKind()]++
		}
	}
	out := map[schema.GroupVersionKind]map[string]*unstructured.Unstructured{}
	for gvk, n := range count {
		if n < listMin {
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			continue // read one by one: a Get says what is wrong, if anything
		}
		byName := make(map[string]*unstructured.Unstructured, len(list.Items))
		for i := range list.Items {
			byName[list.Items[i].GetName()] = &list.Items[i]
		}
		out[gvk] = byName
	}
	return out
}
