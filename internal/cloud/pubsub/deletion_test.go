package pubsub_test

import (
	"context"
	"testing"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// deletionPolicy Abandon releases the object and leaves the cloud
// resource; applying the object again finds it by its ownership label.
func TestDeletionPolicyAbandon(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		topic := s.topic("kept", func(tp *pubsubv1.Topic) { tp.Spec.DeletionPolicy = commonv1.DeletionAbandon })
		env.Create(t, topic)
		env.WaitReady(t, topic)
		if err := env.Client.Delete(ctx, topic); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, topic)
		if _, err := s.getTopic(t, "kept"); err != nil {
			t.Fatalf("abandoned topic gone from the cloud: %v", err)
		}

		again := s.topic("kept")
		env.Create(t, again)
		env.WaitReady(t, again)
		if again.Status.ResourceID != "kept" {
			t.Errorf("re-applied object did not take its topic back: %+v", again.Status)
		}

		// With the default policy, deleting deletes.
		if err := env.Client.Delete(ctx, again); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, again)
		if _, err := s.getTopic(t, "kept"); !managed.IsNotFound(err) {
			t.Fatalf("topic should be deleted now: %v", err)
		}
	})
}
