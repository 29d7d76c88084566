package breakglass

import (
	"context"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Blueprint instances. A break-glass can name an instance of a kind a
// Blueprint defines (Queue); it then covers the instance and its children
// (the Topic and Subscription the instance controller made). Children live
// in no repository: git holds the instance, and a child's "git" value is
// what the Blueprint renders for the instance.

// RenderedFunc is what the Blueprint instance controller would make of a
// child of an instance now: the rendering through a server-side dry-run
// apply with its field manager (blueprint.Controller.DryRunChild), and a
// name for what rendered it ("Blueprint queue revision 2").
type RenderedFunc func(ctx context.Context, instance *unstructured.Unstructured, resourceID string) (*unstructured.Unstructured, string, error)

// blueprintKinds are the kinds Blueprints define, by kind name. A kind
// a managed kind already has is left out (managed kinds come first).
func blueprintKinds(ctx context.Context, r client.Reader, managed Kinds) Kinds {
	var list corev1alpha1.BlueprintList
	if err := r.List(ctx, &list); err != nil {
		return Kinds{} // no Blueprints (or none readable): managed kinds only
	}
	out := Kinds{}
	for _, bp := range list.Items {
		gvk := bp.Spec.GroupVersionKind()
		if _, ok := managed[gvk.Kind]; ok || gvk.Kind == "" {
			continue
		}
		out[gvk.Kind] = gvk
	}
	return out
}

// coverable are the kinds a break-glass can cover now: the managed kinds
// and the Blueprints' kinds.
func coverable(ctx context.Context, r client.Reader, managed Kinds) (all, instances Kinds) {
	instances = blueprintKinds(ctx, r, managed)
	all = Kinds{}
	for k, gvk := range managed {
		all[k] = gvk
	}
	for k, gvk := range instances {
		all[k] = gvk
	}
	return all, instances
}

// parentRef is the controller reference of a Blueprint child: an object
// with the blueprint-instance label whose controller is that instance.
func parentRef(obj metav1.Object) *metav1.OwnerReference {
	if obj.GetLabels()[corev1alpha1.BlueprintInstanceLabel] == "" {
		return nil
	}
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Name != obj.GetLabels()[corev1alpha1.BlueprintInstanceLabel] {
		return nil
	}
	return ref
}

// parentInstance reads the Blueprint instance obj is a child of (nil when
// it is not a child, or its instance is gone).
func parentInstance(ctx context.Context, r client.Reader, obj metav1.Object) (*unstructured.Unstructured, error) {
	ref := parentRef(obj)
	if ref == nil {
		return nil, nil
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, nil
	}
	inst := &unstructured.Unstructured{}
	inst.SetGroupVersionKind(gv.WithKind(ref.Kind))
	if err := r.Get(ctx, client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}, inst); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, err
	}
	if inst.GetUID() != ref.UID {
		return nil, nil // another object of the same name
	}
	return inst, nil
}

// childrenOf reads the children of an instance that a break-glass can
// cover (those of managed kinds), as its status lists them. Children of
// other kinds (a ConfigMap) are not covered: the instance controller
// leaves them alone while the instance is shielded, and writes them again
// afterwards.
func childrenOf(ctx context.Context, r client.Reader, managed Kinds, inst *unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	list, _, _ := unstructured.NestedSlice(inst.Object, "status", "resources")
	var out []*unstructured.Unstructured
	var seen []string
	for _, x := range list {
		m, _ := x.(map[string]any)
		apiVersion, _ := m["apiVersion"].(string)
		kind, _ := m["kind"].(string)
		name, _ := m["name"].(string)
		gvk, ok := managed[kind]
		if !ok || name == "" || gvk.GroupVersion().String() != apiVersion || slices.Contains(seen, kind+"/"+name) {
			continue
		}
		seen = append(seen, kind+"/"+name)
		child := &unstructured.Unstructured{}
		child.SetGroupVersionKind(gvk)
		if err := r.Get(ctx, client.ObjectKey{Namespace: inst.GetNamespace(), Name: name}, child); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if ref := parentRef(child); ref == nil || ref.UID != inst.GetUID() {
			continue
		}
		out = append(out, child)
	}
	return out, nil
}

// describeKinds lists what a break-glass covers, for refusals.
func describeKinds(managed, instances Kinds) string {
	s := strings.Join(sortedKinds(managed), ", ")
	if len(instances) == 0 {
		return s + ", and instances of Blueprint kinds (with their children)"
	}
	return s + ", and instances of the Blueprint kinds " + strings.Join(sortedKinds(instances), ", ") + " (with their children)"
}
