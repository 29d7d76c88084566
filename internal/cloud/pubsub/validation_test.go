package pubsub_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
)

// Input the cloud would refuse is refused by the API server at apply time,
// with a message that names the field.
func TestInvalidSpecsRefused(t *testing.T) {
	s := &scenario{ns: "default"}
	cases := []struct {
		name string
		obj  func() any
		want []string // substrings of the error
	}{
		{"ack deadline too short", func() any {
			return s.subscription("bad-ack", "t", func(sb *pubsubv1.Subscription) { sb.Spec.AckDeadlineSeconds = 5 })
		}, []string{"spec.ackDeadlineSeconds", "10"}},
		{"retention too long", func() any {
			return s.subscription("bad-retention", "t", func(sb *pubsubv1.Subscription) {
				sb.Spec.MessageRetentionDuration = duration(30 * 24 * time.Hour)
			})
		}, []string{"spec.messageRetentionDuration", "168h"}},
		{"label key", func() any {
			return s.topic("bad-label", func(tp *pubsubv1.Topic) { tp.Spec.Labels = map[string]commonv1.LabelValue{"Team": "x"} })
		}, []string{"spec.labels", "lowercase"}},
		{"label value", func() any {
			return s.topic("bad-label-value", func(tp *pubsubv1.Topic) { tp.Spec.Labels = map[string]commonv1.LabelValue{"team": "Check Out"} })
		}, []string{"spec.labels.team"}},
		{"reserved label", func() any {
			return s.topic("reserved-label", func(tp *pubsubv1.Topic) {
				tp.Spec.Labels = map[string]commonv1.LabelValue{"infraplane-owner": "me"}
			})
		}, []string{"spec.labels", "reserved"}},
		{"topic id from name", func() any { return s.topic("go") }, []string{"metadata.name", "at least 3"}},
		{"goog prefix", func() any { return s.topic("googly") }, []string{"goog"}},
		{"both ref forms", func() any {
			return s.subscription("two-refs", "t", func(sb *pubsubv1.Subscription) { sb.Spec.TopicRef.External = "projects/p/topics/t" })
		}, []string{"spec.topicRef", "exactly one"}},
		{"external ref format", func() any {
			return s.subscription("bad-external", "", func(sb *pubsubv1.Subscription) { sb.Spec.TopicRef.External = "orders" })
		}, []string{"spec.topicRef", "projects/PROJECT/topics/TOPIC"}},
		{"dead-letter attempts", func() any {
			return s.subscription("bad-dlq", "t", func(sb *pubsubv1.Subscription) {
				sb.Spec.DeadLetterPolicy = &pubsubv1.DeadLetterPolicy{DeadLetterTopicRef: commonv1.ResourceRef{Name: "d"}, MaxDeliveryAttempts: 500}
			})
		}, []string{"spec.deadLetterPolicy.maxDeliveryAttempts"}},
		{"retry bounds", func() any {
			return s.subscription("bad-retry", "t", func(sb *pubsubv1.Subscription) {
				sb.Spec.RetryPolicy = &pubsubv1.RetryPolicy{MinimumBackoff: duration(time.Minute), MaximumBackoff: duration(time.Second)}
			})
		}, []string{"spec.retryPolicy", "minimumBackoff must not exceed maximumBackoff"}},
		{"deletion policy", func() any {
			return s.topic("bad-policy", func(tp *pubsubv1.Topic) { tp.Spec.DeletionPolicy = "Keep" })
		}, []string{"spec.deletionPolicy", "Abandon"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env.CreateRefused(t, tc.obj().(client.Object), tc.want...)
		})
	}
}

// Fields the cloud cannot change in place are immutable in the API.
func TestImmutableFieldsRefused(t *testing.T) {
	s := &scenario{ns: "default"}
	sub := s.subscription("immutable", "some-topic", func(sb *pubsubv1.Subscription) {
		sb.Spec.Filter = `attributes.a = "1"`
		sb.Spec.ManagementPolicy = commonv1.ManagementObserveOnly // no cloud needed
		sb.Spec.ResourceID = "immutable-id"
	})
	env.Create(t, sub)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), sub) })
	for _, tc := range []struct {
		name   string
		mutate func(*pubsubv1.Subscription)
		want   string
	}{
		{"filter", func(sb *pubsubv1.Subscription) { sb.Spec.Filter = `attributes.a = "2"` }, "filter cannot change"},
		{"topic", func(sb *pubsubv1.Subscription) { sb.Spec.TopicRef.Name = "other" }, "topicRef cannot change"},
		{"ordering", func(sb *pubsubv1.Subscription) { sb.Spec.EnableMessageOrdering = true }, "enableMessageOrdering cannot change"},
		{"resource id", func(sb *pubsubv1.Subscription) { sb.Spec.ResourceID = "another" }, "resourceID cannot change"},
		{"resource id removed", func(sb *pubsubv1.Subscription) { sb.Spec.ResourceID = "" }, "resourceID cannot change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			for range 10 { // the controller writes too: retry conflicts
				cur := &pubsubv1.Subscription{}
				if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(sub), cur); err != nil {
					t.Fatal(err)
				}
				tc.mutate(cur)
				if err = env.Client.Update(context.Background(), cur); !apierrors.IsConflict(err) {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error %q, got %v", tc.want, err)
			}
		})
	}
}
