package pubsub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A topic is created with its spec and our ownership label, a spec edit
// reaches the cloud, and deleting the object deletes the topic.
func TestTopicLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		topic := s.topic("orders", func(tp *pubsubv1.Topic) {
			tp.Spec.Labels = map[string]commonv1.LabelValue{"team": "checkout"}
			tp.Spec.MessageRetentionDuration = duration(time.Hour)
		})
		env.Create(t, topic)
		env.WaitReady(t, topic)
		if topic.Status.SelfLink != s.topicName("orders") || topic.Status.ResourceID != "orders" {
			t.Fatalf("status: selfLink %q resourceID %q", topic.Status.SelfLink, topic.Status.ResourceID)
		}
		got, err := s.getTopic(t, "orders")
		if err != nil {
			t.Fatalf("topic not in the cloud: %v", err)
		}
		if got.Labels["team"] != "checkout" || got.Labels[managed.OwnerLabelKey] != managed.OwnerValue(s.ns, "orders") {
			t.Errorf("labels in the cloud: %v", got.Labels)
		}
		if got.GetMessageRetentionDuration().AsDuration() != time.Hour {
			t.Errorf("retention in the cloud: %v", got.GetMessageRetentionDuration())
		}

		// Edit a field every implementation can update.
		testenv.Update(t, env, topic, func(tp *pubsubv1.Topic) { tp.Spec.MessageRetentionDuration = duration(2 * time.Hour) })
		testenv.Eventually(t, 20*time.Second, func() error {
			got, err := s.getTopic(t, "orders")
			if err != nil {
				return err
			}
			if d := got.GetMessageRetentionDuration().AsDuration(); d != 2*time.Hour {
				return fmt.Errorf("retention still %v", d)
			}
			return nil
		})
		// The cloud is updated before status is written: wait for both.
		testenv.Eventually(t, 20*time.Second, func() error {
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(topic), topic); err != nil {
				return err
			}
			if topic.Status.ObservedGeneration != topic.Generation {
				return fmt.Errorf("observedGeneration %d, generation %d", topic.Status.ObservedGeneration, topic.Generation)
			}
			return nil
		})
		env.WaitFor(t, topic, commonv1.TypeSynced, metav1.ConditionTrue, commonv1.ReasonReconcileSuccess)

		if err := env.Client.Delete(context.Background(), topic); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, topic)
		if _, err := s.getTopic(t, "orders"); !managed.IsNotFound(err) {
			t.Fatalf("topic still in the cloud after delete: %v", err)
		}
	})
}

// An existing topic this object did not create is not taken over unless
// the spec asks for it or the topic carries this object's ownership label;
// a topic owned by another object is never taken.
func TestTopicAdoption(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		mk := func(id string, labels map[string]string) {
			if _, err := s.b.topics.CreateTopic(ctx, &pubsubpb.Topic{Name: s.topicName(id), Labels: labels}); err != nil {
				t.Fatal(err)
			}
		}
		mk("foreign", map[string]string{"team": "x"})
		mk("ours-already", map[string]string{managed.OwnerLabelKey: managed.OwnerValue(s.ns, "ours-already")})
		mk("someone-elses", map[string]string{managed.OwnerLabelKey: "other--object"})

		refused := s.topic("foreign", func(tp *pubsubv1.Topic) { tp.Spec.Labels = map[string]commonv1.LabelValue{"team": "x"} })
		env.Create(t, refused)
		c := env.WaitFor(t, refused, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonAlreadyExists)
		if !strings.Contains(c.Message, "spec.adopt") {
			t.Errorf("message should say how to adopt: %q", c.Message)
		}
		if refused.Status.ResourceID != "" {
			t.Errorf("refused topic recorded as ours: %q", refused.Status.ResourceID)
		}

		// Asking for adoption takes it over, without recreating it.
		testenv.Update(t, env, refused, func(tp *pubsubv1.Topic) { tp.Spec.Adopt = true })
		env.WaitFor(t, refused, commonv1.TypeSynced, metav1.ConditionTrue, "")
		env.WaitReady(t, refused)
		if refused.Status.ResourceID != "foreign" {
			t.Errorf("adopted topic resourceID %q", refused.Status.ResourceID)
		}

		owned := s.topic("ours-already")
		env.Create(t, owned)
		env.WaitReady(t, owned)

		conflict := s.topic("someone-elses", func(tp *pubsubv1.Topic) { tp.Spec.Adopt = true })
		env.Create(t, conflict)
		c = env.WaitFor(t, conflict, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonAlreadyExists)
		if !strings.Contains(c.Message, "other--object") {
			t.Errorf("message should name the owner: %q", c.Message)
		}
		// Deleting the refused object must not delete someone else's topic.
		if err := env.Client.Delete(ctx, conflict); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, conflict)
		if _, err := s.getTopic(t, "someone-elses"); err != nil {
			t.Fatalf("deleting an object that never owned the topic deleted it: %v", err)
		}
	})
}

// A topic deleted and re-created behind infraplane's back by another
// object's owner is released: the object reports the conflict, never
// writes to it, and deleting the object leaves it alone.
func TestTopicReplacedByAnotherOwnerIsReleased(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		topic := s.topic("swapped", func(tp *pubsubv1.Topic) {
			tp.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		})
		env.Create(t, topic)
		env.WaitReady(t, topic)

		// Paused while the topic is swapped, so the controller cannot
		// re-create it in the gap.
		testenv.Update(t, env, topic, func(tp *pubsubv1.Topic) { tp.Annotations = map[string]string{managed.PausedAnnotation: "true"} })
		env.WaitFor(t, topic, commonv1.TypePaused, metav1.ConditionTrue, "")
		if err := s.b.topics.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: s.topicName("swapped")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.b.topics.CreateTopic(ctx, &pubsubpb.Topic{Name: s.topicName("swapped"),
			Labels: map[string]string{managed.OwnerLabelKey: "other--owner"}}); err != nil {
			t.Fatal(err)
		}
		testenv.Update(t, env, topic, func(tp *pubsubv1.Topic) { tp.Annotations = nil })
		c := env.WaitFor(t, topic, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonAlreadyExists)
		if !strings.Contains(c.Message, "other--owner") {
			t.Errorf("message should name the owner: %q", c.Message)
		}
		if topic.Status.ResourceID != "" {
			t.Errorf("still claims the resource: resourceID %q", topic.Status.ResourceID)
		}
		if err := env.Client.Delete(ctx, topic); err != nil {
			t.Fatal(err)
		}
		env.WaitGone(t, topic)
		got, err := s.getTopic(t, "swapped")
		if err != nil {
			t.Fatalf("the other owner's topic was deleted: %v", err)
		}
		if got.Labels[managed.OwnerLabelKey] != "other--owner" {
			t.Errorf("the other owner's topic was changed: %v", got.Labels)
		}
	})
}
