package blueprint_test

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Someone else's edit of a child's spec is seen although the rendering did
// not change (the child's managedFields, which the controllers' cache keeps
// for Blueprint children, name another manager), and the Blueprint's
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
