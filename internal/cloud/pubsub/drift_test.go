package pubsub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// changeAckDeadline changes a subscription behind infraplane's back, as a
// person with gcloud would.
func (s *scenario) changeAckDeadline(t *testing.T, id string, secs int32) {
	t.Helper()
	_, err := s.b.subs.UpdateSubscription(context.Background(), &pubsubpb.UpdateSubscriptionRequest{
		Subscription: &pubsubpb.Subscription{Name: s.subName(id), AckDeadlineSeconds: secs},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"ack_deadline_seconds"}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A change made directly in the cloud is found on the next resync and
// written back, with a DriftRepaired record in the Drifted condition.
func TestDriftRepaired(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		env.Create(t, s.topic("events"))
		sub := s.subscription("events-sub", "events", func(sb *pubsubv1.Subscription) {
			sb.Spec.AckDeadlineSeconds = 20
			sb.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		})
		env.Create(t, sub)
		env.WaitReady(t, sub)

		s.changeAckDeadline(t, "events-sub", 99)
		c := env.WaitFor(t, sub, commonv1.TypeDrifted, metav1.ConditionFalse, commonv1.ReasonDriftRepaired)
		if !strings.Contains(c.Message, "spec.ackDeadlineSeconds") {
			t.Errorf("repair record should name the field: %q", c.Message)
		}
		got, err := s.getSub(t, "events-sub")
		if err != nil {
			t.Fatal(err)
		}
		if got.AckDeadlineSeconds != 20 {
			t.Errorf("ack deadline in the cloud %d after repair, want 20", got.AckDeadlineSeconds)
		}
	})
}

// ObserveOnly reports drift with desired and actual values and never
// writes to the cloud.
func TestObserveOnlyReportsDrift(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		env.Create(t, s.topic("watched"))
		sub := s.subscription("watched-sub", "watched", func(sb *pubsubv1.Subscription) {
			sb.Spec.AckDeadlineSeconds = 20
			sb.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		})
		env.Create(t, sub)
		env.WaitReady(t, sub)
		testenv.Update(t, env, sub, func(sb *pubsubv1.Subscription) { sb.Spec.ManagementPolicy = commonv1.ManagementObserveOnly })
		testenv.Eventually(t, 20*time.Second, func() error {
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(sub), sub); err != nil {
				return err
			}
			if sub.Status.ObservedGeneration != sub.Generation {
				return fmt.Errorf("not yet observed generation %d", sub.Generation)
			}
			return nil
		})

		writes := provider.CloudCalls("pubsub", "UpdateSubscription")
		s.changeAckDeadline(t, "watched-sub", 77)
		c := env.WaitFor(t, sub, commonv1.TypeDrifted, metav1.ConditionTrue, commonv1.ReasonDriftDetected)
		if !strings.Contains(c.Message, "ObserveOnly") {
			t.Errorf("drift message should say why it is not repaired: %q", c.Message)
		}
		if len(sub.Status.Drift) != 1 || sub.Status.Drift[0].Field != "spec.ackDeadlineSeconds" ||
			sub.Status.Drift[0].Desired != "20" || sub.Status.Drift[0].Actual != "77" {
			t.Errorf("status.drift = %+v", sub.Status.Drift)
		}
		time.Sleep(2 * time.Second) // two more resyncs
		if n := provider.CloudCalls("pubsub", "UpdateSubscription") - writes; n != 0 {
			t.Errorf("ObserveOnly made %v UpdateSubscription calls", n)
		}
		got, err := s.getSub(t, "watched-sub")
		if err != nil {
			t.Fatal(err)
		}
		if got.AckDeadlineSeconds != 77 {
			t.Errorf("ObserveOnly changed the cloud: ack deadline %d", got.AckDeadlineSeconds)
		}
	})
}
