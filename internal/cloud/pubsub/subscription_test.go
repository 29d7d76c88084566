package pubsub_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A subscription waits, with a condition that says for what, until its
// topic and dead-letter topic are Ready, then becomes Ready itself with
// every field in the cloud.
func TestSubscriptionWaitsForTopics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		sub := s.subscription("worker", "jobs", func(sb *pubsubv1.Subscription) {
			sb.Spec.AckDeadlineSeconds = 30
			sb.Spec.MessageRetentionDuration = duration(24 * time.Hour)
			sb.Spec.RetainAckedMessages = true
			sb.Spec.Filter = `attributes.kind = "order"`
			sb.Spec.EnableMessageOrdering = true
			sb.Spec.DeadLetterPolicy = &pubsubv1.DeadLetterPolicy{DeadLetterTopicRef: commonv1.ResourceRef{Name: "jobs-dead"}, MaxDeliveryAttempts: 7}
			sb.Spec.RetryPolicy = &pubsubv1.RetryPolicy{MinimumBackoff: duration(5 * time.Second), MaximumBackoff: duration(60 * time.Second)}
			sb.Spec.ExpirationPolicy = &pubsubv1.ExpirationPolicy{TTL: duration(48 * time.Hour)}
			sb.Spec.Labels = map[string]commonv1.LabelValue{"team": "jobs"}
		})
		env.Create(t, sub)
		c := env.WaitFor(t, sub, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonWaitingForRef)
		if !strings.Contains(c.Message, `Topic "jobs"`) || !strings.Contains(c.Message, "does not exist") {
			t.Errorf("waiting message: %q", c.Message)
		}

		env.Create(t, s.topic("jobs"))
		env.WaitForMessage(t, sub, commonv1.TypeSynced, `waiting for Topic "jobs-dead" (spec.deadLetterPolicy.deadLetterTopicRef)`)
		env.Create(t, s.topic("jobs-dead"))
		env.WaitReady(t, sub)

		got, err := s.getSub(t, "worker")
		if err != nil {
			t.Fatal(err)
		}
		if got.Topic != s.topicName("jobs") || got.AckDeadlineSeconds != 30 || !got.RetainAckedMessages ||
			got.Filter != `attributes.kind = "order"` || !got.EnableMessageOrdering ||
			got.GetDeadLetterPolicy().GetDeadLetterTopic() != s.topicName("jobs-dead") ||
			got.GetDeadLetterPolicy().GetMaxDeliveryAttempts() != 7 ||
			got.GetRetryPolicy().GetMinimumBackoff().AsDuration() != 5*time.Second ||
			got.GetExpirationPolicy().GetTtl().AsDuration() != 48*time.Hour ||
			got.GetMessageRetentionDuration().AsDuration() != 24*time.Hour || got.Labels["team"] != "jobs" {
			t.Errorf("cloud subscription does not match the spec: %v", got)
		}
		if sub.Status.Topic != s.topicName("jobs") || sub.Status.Observed == nil || sub.Status.Observed.AckDeadlineSeconds != 30 {
			t.Errorf("status: topic %q observed %+v", sub.Status.Topic, sub.Status.Observed)
		}

		// An update goes out with only the changed field in the mask.
		testenv.Update(t, env, sub, func(sb *pubsubv1.Subscription) { sb.Spec.AckDeadlineSeconds = 120 })
		testenv.Eventually(t, 20*time.Second, func() error {
			got, err := s.getSub(t, "worker")
			if err != nil {
				return err
			}
			if got.AckDeadlineSeconds != 120 {
				return fmt.Errorf("ack deadline %d", got.AckDeadlineSeconds)
			}
			return nil
		})
	})
}

// A cloud error ends in the condition with the cloud's own message: here
// a subscription to a topic that does not exist in the cloud.
func TestSubscriptionCloudError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		sub := s.subscription("orphan", "", func(sb *pubsubv1.Subscription) {
			sb.Spec.TopicRef = commonv1.ResourceRef{External: s.topicName("no-such-topic")}
		})
		env.Create(t, sub)
		c := env.WaitFor(t, sub, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonCloudError)
		if !strings.Contains(c.Message, "NotFound") || !strings.Contains(c.Message, s.subName("orphan")) {
			t.Errorf("condition should carry the cloud's answer and the resource: %q", c.Message)
		}
		env.WaitFor(t, sub, commonv1.TypeReady, metav1.ConditionFalse, commonv1.ReasonCloudError)
	})
}
