package managed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Some cloud resources carry no labels (Bigtable tables), so nothing on
// the resource says which object manages it, and spec.adopt alone would
// let any object anywhere take any of them. For such kinds the reconciler
// keeps a ResourceClaim per resource, named after the resource's full
// name: creating it is atomic (the API server refuses a second), so the
// first object to create or adopt a resource holds it until that object
// is gone. One claim is one write per object in its lifetime; later passes
// read it from the cache.

// +kubebuilder:rbac:groups=infraplane.dev,resources=resourceclaims,verbs=get;list;watch;create;delete

// ClaimName is the ResourceClaim name for a cloud resource.
func ClaimName(resource string) string {
	sum := sha256.Sum256([]byte(resource))
	return "claim-" + hex.EncodeToString(sum[:20])
}

// claim makes sure obj holds the claim on resource. It returns a message
// for the object's condition when another object holds it.
func (r *Reconciler[T]) claim(ctx context.Context, obj T, resource string) (string, error) {
	name := ClaimName(resource)
	for range 3 {
		have := &corev1alpha1.ResourceClaim{}
		err := r.client.Get(ctx, client.ObjectKey{Name: name}, have)
		if apierrors.IsNotFound(err) {
			// The cache may lag: the create decides.
			err = r.client.Create(ctx, &corev1alpha1.ResourceClaim{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1alpha1.ResourceClaimSpec{Resource: resource, Kind: r.kind.Name,
					Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID())},
			})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return "", err
		}
		if err != nil {
			return "", err
		}
		if have.Spec.UID == string(obj.GetUID()) {
			return "", nil
		}
		gone, err := r.claimantGone(ctx, have)
		if err != nil {
			return "", err
		}
		if !gone {
			who := "an object in another namespace"
			if have.Spec.Namespace == obj.GetNamespace() {
				who = fmt.Sprintf("%s %q", have.Spec.Kind, have.Spec.Name)
			}
			return fmt.Sprintf("%s is managed by %s (ResourceClaim %s); two objects never manage one resource, whatever spec.adopt says: choose another spec.resourceID", resource, who, name), nil
		}
		// Its object is gone without releasing it: take it over.
		if err := r.client.Delete(ctx, have, client.Preconditions{UID: &have.UID}); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return "", err
		}
	}
	return "", fmt.Errorf("the claim %s keeps changing", name)
}

// claimantGone reports whether the object a claim names no longer exists
// (or is another object of the same name).
func (r *Reconciler[T]) claimantGone(ctx context.Context, c *corev1alpha1.ResourceClaim) (bool, error) {
	if c.Spec.Kind != r.kind.Name {
		return false, nil // another kind's: never second-guessed here
	}
	o := r.kind.New()
	err := r.apiReader.Get(ctx, client.ObjectKey{Namespace: c.Spec.Namespace, Name: c.Spec.Name}, o)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return string(o.GetUID()) != c.Spec.UID, nil
}

// unclaim releases obj's claim on the resource it managed.
func (r *Reconciler[T]) unclaim(ctx context.Context, obj T) error {
	link := obj.ManagedStatus().SelfLink
	if link == "" {
		return nil
	}
	have := &corev1alpha1.ResourceClaim{}
	if err := r.client.Get(ctx, client.ObjectKey{Name: ClaimName(link)}, have); err != nil {
		return client.IgnoreNotFound(err)
	}
	if have.Spec.UID != string(obj.GetUID()) {
		return nil
	}
	return client.IgnoreNotFound(r.client.Delete(ctx, have, client.Preconditions{UID: &have.UID}))
}
