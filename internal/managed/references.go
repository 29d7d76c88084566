package managed

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// ReferenceTarget is a kind that objects of another kind may reference.
type ReferenceTarget struct {
	// Kind is the target's kind name, for messages and the watch index.
	Kind string
	// New returns an empty object of the target kind.
	New func() Object
	// CloudName is the full cloud name of a target with resource id id in
	// project: what a reference resolves to. `plan` uses it for targets
	// that do not exist yet.
	CloudName func(project, id string) string
}

// Reference is one reference field of one object.
type Reference struct {
	// Field is the spec path of the reference, e.g. "spec.topicRef".
	Field string
	// Ref is the reference as written in the spec.
	Ref commonv1.ResourceRef
	// Target is the kind it points at.
	Target ReferenceTarget
}

// refIndexKey is the cache index from a target kind to the names its
// referencing objects point at, so a change of the target wakes them up.
func refIndexKey(targetKind string) string { return "infraplane.ref." + targetKind }

// waitingError says a referenced object is not ready yet. It is not a
// failure: the object waits, with a condition that says for what.
type waitingError struct {
	msg string
	// unreconciled: the target exists but its controller has not reported
	// on it yet (no Ready condition), as when both were applied together.
	unreconciled bool
	// missing: the target was not found (in a cache: maybe not yet).
	missing bool
}

func (e *waitingError) Error() string { return e.msg }

// resolveReferences turns every reference into the full cloud name it
// points at. A reference by name resolves only once the target is Ready;
// until then a waitingError says which object it waits for and why.
func resolveReferences(ctx context.Context, c client.Reader, namespace string, refs []Reference) (map[string]string, error) {
	out := make(map[string]string, len(refs))
	for _, r := range refs {
		if r.Ref.External != "" {
			out[r.Field] = r.Ref.External
			continue
		}
		target := r.Target.New()
		err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: r.Ref.Name}, target)
		if apierrors.IsNotFound(err) {
			return nil, &waitingError{msg: fmt.Sprintf("waiting for %s %q (%s): it does not exist in namespace %q", r.Target.Kind, r.Ref.Name, r.Field, namespace), missing: true}
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s %q for %s: %w", r.Target.Kind, r.Ref.Name, r.Field, err)
		}
		if !target.GetDeletionTimestamp().IsZero() {
			return nil, &waitingError{msg: fmt.Sprintf("waiting for %s %q (%s): it is being deleted", r.Target.Kind, r.Ref.Name, r.Field)}
		}
		st := target.ManagedStatus()
		ready := meta.FindStatusCondition(st.Conditions, commonv1.TypeReady)
		if ready == nil || ready.Status != "True" || st.SelfLink == "" {
			if ready == nil {
				return nil, &waitingError{msg: fmt.Sprintf("waiting for %s %q (%s): it has not been reconciled yet", r.Target.Kind, r.Ref.Name, r.Field), unreconciled: true}
			}
			why := "it has not been reconciled yet"
			if ready != nil && ready.Message != "" {
				why = "it is not Ready: " + ready.Message
			} else if ready != nil {
				why = "it is not Ready (" + ready.Reason + ")"
			}
			return nil, &waitingError{msg: fmt.Sprintf("waiting for %s %q (%s): %s", r.Target.Kind, r.Ref.Name, r.Field, why)}
		}
		out[r.Field] = st.SelfLink
	}
	return out, nil
}
