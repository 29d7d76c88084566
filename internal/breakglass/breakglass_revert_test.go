package breakglass_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The same incident ending in a revert: the held object, and the cloud,
// go back to what git says.
func TestIncidentEndsInRevert(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	ctx := context.Background()

	bg := openFor(t, p.oncall, s, time.Hour, false)
	key := client.ObjectKeyFromObject(bg)
	if err := setAckDeadline(p.oncall, s, 90); err != nil {
		t.Fatal(err)
	}
	s.waitCloudAckDeadline(t, 90)
	bg, err := breakglass.Close(ctx, p.oncall, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(bg.Status.Held) != 1 {
		t.Fatalf("held: %+v", bg.Status.Targets)
	}

	// The colleague reverts (anyone allowed to update break-glasses may).
	bg, err = breakglass.Revert(ctx, p.colleague, key)
	if err != nil {
		t.Fatal(err)
	}
	if tg := bg.Status.Targets[0]; tg.State != corev1alpha1.TargetReverted || !strings.Contains(tg.Message, colleagueUser) {
		t.Fatalf("after revert: %+v", tg)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := s.subscription(t).Spec.AckDeadlineSeconds; got != 10 {
			return fmt.Errorf("object ack deadline %d, want git's 10", got)
		}
		return nil
	})
	s.waitCloudAckDeadline(t, 10)
	waitDiverged(t, s, "False")
	if err := setAckDeadline(p.oncall, s, 90); err == nil {
		t.Fatal("edit after revert allowed without a break-glass")
	}
}

// pauseActuation: a change made in the cloud console (here the SDK) during
// the window is reported as drift but not reverted; the window's end
// holds it (still paused) until someone reverts, which resumes actuation.
func TestPauseActuationKeepsCloudConsoleChanges(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	ctx := context.Background()

	bg := openFor(t, p.oncall, s, time.Hour, true)
	key := client.ObjectKeyFromObject(bg)
	waitCondition(t, s, commonv1.TypePaused, func(c *conditionView) error {
		if c.Status != "True" || c.Reason != commonv1.ReasonBreakGlass || !strings.Contains(c.Message, bg.Name) || !strings.Contains(c.Message, bg.Status.ExpiresAt.UTC().Format(time.RFC3339)) {
			return fmt.Errorf("Paused: %+v", c)
		}
		return nil
	})

	// The console change.
	if _, err := s.subs.UpdateSubscription(ctx, &pubsubpb.UpdateSubscriptionRequest{
		Subscription: &pubsubpb.Subscription{Name: fmt.Sprintf("projects/%s/subscriptions/orders-worker", s.cloud.Project()), AckDeadlineSeconds: 45},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"ack_deadline_seconds"}},
	}); err != nil {
		t.Fatal(err)
	}
	poke(t, s) // a pass now that reads the cloud
	waitCondition(t, s, commonv1.TypeDrifted, func(c *conditionView) error {
		if c.Status != "True" {
			return fmt.Errorf("Drifted: %+v", c)
		}
		return nil
	})
	if got := s.cloudAckDeadline(t); got != 45 {
		t.Fatalf("the console change was reverted during the window: %d", got)
	}

	bg, err := breakglass.Close(ctx, p.oncall, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(bg.Status.Held) != 1 || len(bg.Status.Targets[0].Fields) != 1 || bg.Status.Targets[0].Fields[0].Cloud != "45s" && bg.Status.Targets[0].Fields[0].Cloud != "45" {
		t.Fatalf("report: %+v", bg.Status.Targets)
	}
	t.Logf("report: %+v", bg.Status.Targets[0].Fields)
	poke(t, s)
	waitCondition(t, s, commonv1.TypePaused, func(c *conditionView) error {
		if c.Status != "True" || c.Reason != commonv1.ReasonHeld {
			return fmt.Errorf("Paused: %+v", c)
		}
		return nil
	})
	if got := s.cloudAckDeadline(t); got != 45 {
		t.Fatalf("the console change was reverted when the window closed: %d", got)
	}

	if _, err := breakglass.Revert(ctx, p.oncall, key); err != nil {
		t.Fatal(err)
	}
	s.waitCloudAckDeadline(t, 10)
}

type conditionView struct{ Status, Reason, Message string }

func waitCondition(t *testing.T, s *scenario, typ string, check func(*conditionView) error) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		c := meta.FindStatusCondition(s.subscription(t).Status.Conditions, typ)
		if c == nil {
			return fmt.Errorf("no %s condition", typ)
		}
		return check(&conditionView{string(c.Status), c.Reason, c.Message})
	})
}

// poke makes the controller reconcile the subscription now and read its
// cloud resource with a Get (requested-at: any other touch may be
// answered from a listing taken before the console change). Metadata
// only, which the guard allows.
func poke(t *testing.T, s *scenario) {
	t.Helper()
	sub := &pubsubv1.Subscription{}
	sub.Namespace, sub.Name = s.ns, "orders-worker"
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"%d"}}}`, commonv1.RequestedAtAnnotation, time.Now().UnixNano()))
	if err := env.Client.Patch(context.Background(), sub, patch); err != nil {
		t.Fatal(err)
	}
}
