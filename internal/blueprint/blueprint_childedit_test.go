package blueprint_test

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Someone else's edit of a child's spec is seen although the rendering did
// not change (a value the rendering sets differs), and the Blueprint's
// rendering is applied again.
func TestEditedChildIsReapplied(t *testing.T) {
	ns := queueNamespace(t)
	q := newInstance(queueGVK, ns, "edited", map[string]any{"retentionDays": int64(3)})
	env.Create(t, q)
	waitInstance(t, q, isReady)

	ctx := context.Background()
	edit := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": pubsubv1.GroupVersion.String(),
		"kind":       "Topic",
		"metadata":   map[string]any{"name": "edited", "namespace": ns},
		"spec":       map[string]any{"labels": map[string]any{"queue": "someone-else"}},
	}}
	//nolint:staticcheck // server-side apply of an unstructured object, as kubectl apply --server-side --force-conflicts
	if err := env.Client.Patch(ctx, edit, client.Apply, client.FieldOwner("someone"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		topic := &pubsubv1.Topic{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "edited"}, topic); err != nil {
			return err
		}
		if got := topic.Spec.Labels["queue"]; got != "edited" {
			return fmt.Errorf("topic label queue=%q, want the Blueprint's %q back", got, "edited")
		}
		return nil
	})
}

// A field manager's name is anyone's to use: an edit made under the
// Blueprint's own name is taken back all the same.
func TestChildEditUnderTheBlueprintsNameIsReapplied(t *testing.T) {
	ns := queueNamespace(t)
	q := newInstance(queueGVK, ns, "spoofed", map[string]any{"retentionDays": int64(3)})
	env.Create(t, q)
	waitInstance(t, q, isReady)

	// The whole child as the Blueprint applied it (owner reference and
	// rendered hash included), one value changed, applied under the
	// Blueprint's manager name: its managedFields then name nobody else.
	ctx := context.Background()
	edit := &unstructured.Unstructured{}
	edit.SetGroupVersionKind(pubsubv1.GroupVersion.WithKind("Topic"))
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "spoofed"}, edit); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "finalizers"} {
		unstructured.RemoveNestedField(edit.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(edit.Object, "status")
	if err := unstructured.SetNestedField(edit.Object, "someone-else", "spec", "labels", "queue"); err != nil {
		t.Fatal(err)
	}
	//nolint:staticcheck // server-side apply of an unstructured object
	if err := env.Client.Patch(ctx, edit, client.Apply, client.FieldOwner(blueprint.FieldManager), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		topic := &pubsubv1.Topic{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "spoofed"}, topic); err != nil {
			return err
		}
		if got := topic.Spec.Labels["queue"]; got != "spoofed" {
			return fmt.Errorf("topic label queue=%q, want the Blueprint's %q back", got, "spoofed")
		}
		return nil
	})
}
