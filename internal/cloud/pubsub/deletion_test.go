package pubsub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
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
		waitAbandonedEvent(t, s.ns, "kept", "deletionPolicy is Abandon")

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

// Deleting an ObserveOnly object never deletes what it observed, and the
// object's events say so: whoever deleted it may expect the topic gone.
func TestObserveOnlyDeleteKeepsTheResource(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		topic := s.topic("observed")
		env.Create(t, topic)
		env.WaitReady(t, topic)
		testenv.Update(t, env, topic, func(tp *pubsubv1.Topic) { tp.Spec.ManagementPolicy = commonv1.ManagementObserveOnly })
		if err := env.Client.Delete(context.Background(), topic); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, topic)
		if _, err := s.getTopic(t, "observed"); err != nil {
			t.Fatalf("observed topic gone from the cloud: %v", err)
		}
		waitAbandonedEvent(t, s.ns, "observed", "managementPolicy is ObserveOnly")
	})
}

// waitAbandonedEvent waits for the event saying the cloud resource of the
// object name was left in place, and why.
func waitAbandonedEvent(t *testing.T, ns, name, why string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		var events corev1.EventList
		if err := env.Client.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Name == name && e.Reason == "Abandoned" {
				if !strings.Contains(e.Message, "left in place") || !strings.Contains(e.Message, why) {
					return fmt.Errorf("Abandoned event does not say %q: %s", why, e.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("no Abandoned event for %s", name)
	})
}
