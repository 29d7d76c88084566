package pubsub_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A label change on a topic and on a subscription reaches the cloud and the
// objects end Ready and Synced, on both backends: under the emulator the
// local cloud's proxy does what Pub/Sub does and the emulator refuses.
func TestLabelUpdates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		team := map[string]commonv1.LabelValue{"team": "a"}
		topic := s.topic("labelled", func(tp *pubsubv1.Topic) { tp.Spec.Labels = team })
		sub := s.subscription("labelled-sub", "labelled", func(sb *pubsubv1.Subscription) { sb.Spec.Labels = team })
		env.Create(t, topic)
		env.Create(t, sub)
		env.WaitReady(t, topic)
		env.WaitReady(t, sub)

		b := map[string]commonv1.LabelValue{"team": "b", "tier": "gold"}
		testenv.Update(t, env, topic, func(tp *pubsubv1.Topic) { tp.Spec.Labels = b })
		testenv.Update(t, env, sub, func(sb *pubsubv1.Subscription) { sb.Spec.Labels = b })

		testenv.Eventually(t, 20*time.Second, func() error {
			gt, err := s.getTopic(t, "labelled")
			if err != nil {
				return err
			}
			if gt.Labels["team"] != "b" || gt.Labels["tier"] != "gold" || gt.Labels[managed.OwnerLabelKey] == "" {
				return fmt.Errorf("topic labels %v", gt.Labels)
			}
			gs, err := s.getSub(t, "labelled-sub")
			if err != nil {
				return err
			}
			if gs.Labels["team"] != "b" || gs.Labels["tier"] != "gold" || gs.Labels[managed.OwnerLabelKey] == "" {
				return fmt.Errorf("subscription labels %v", gs.Labels)
			}
			return nil
		})
		for _, o := range []managed.Object{topic, sub} {
			env.WaitFor(t, o, commonv1.TypeSynced, metav1.ConditionTrue, "")
			env.WaitFor(t, o, commonv1.TypeReady, metav1.ConditionTrue, "")
		}
	})
}
