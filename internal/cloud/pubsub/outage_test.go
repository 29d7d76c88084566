package pubsub_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// condition reads one condition of a managed object.
func condition(t *testing.T, obj client.Object, typ string) *metav1.Condition {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(obj.(interface {
		ManagedStatus() *commonv1.ManagedStatus
	}).ManagedStatus().Conditions, typ)
}

// A resource that vanished from the cloud is not Ready while it cannot be
// made again (here a subscription, whose topic is gone too and paused), and
// once its topic is created again the subscription follows.
func TestMissingResourceIsNotReady(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		fast := &metav1.Duration{Duration: time.Second}
		tp := s.topic("vanishing", func(tp *pubsubv1.Topic) { tp.Spec.ResyncInterval = fast })
		sub := s.subscription("vanishing-sub", "vanishing", func(sb *pubsubv1.Subscription) { sb.Spec.ResyncInterval = fast })
		env.Create(t, tp)
		env.Create(t, sub)
		env.WaitReady(t, sub)

		// The topic object is paused, so it is not created again: the
		// subscription cannot be.
		patch := client.MergeFrom(tp.DeepCopy())
		tp.Annotations = map[string]string{managed.PausedAnnotation: "true"}
		if err := env.Client.Patch(ctx, tp, patch); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // a paused object would hold its namespace's deletion
			u := &pubsubv1.Topic{}
			if env.Client.Get(ctx, client.ObjectKeyFromObject(tp), u) == nil && u.Annotations[managed.PausedAnnotation] != "" {
				p := client.MergeFrom(u.DeepCopy())
				delete(u.Annotations, managed.PausedAnnotation)
				_ = env.Client.Patch(ctx, u, p)
			}
		})
		// Once the controller has seen the pause (else it could make the
		// topic again below), the topic first: a subscription deleted
		// first could be made again on it in between.
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			if c := condition(t, &pubsubv1.Topic{ObjectMeta: tp.ObjectMeta}, commonv1.TypePaused); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("topic Paused %+v", c)
			}
			return nil
		})
		if err := s.b.topics.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: s.topicName("vanishing")}); err != nil {
			t.Fatal(err)
		}
		if err := s.b.subs.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: s.subName("vanishing-sub")}); err != nil {
			t.Fatal(err)
		}
		// Read from the cloud now, with a Get (the requested-at
		// annotation): a pass only woken by an edit may be answered from
		// a batched listing taken before the deletes, and in CI the next
		// listing once came after the 30 s wait.
		nudge := &pubsubv1.Subscription{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(sub), nudge); err != nil {
			t.Fatal(err)
		}
		p := client.MergeFrom(nudge.DeepCopy())
		nudge.Annotations = map[string]string{commonv1.RequestedAtAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}
		if err := env.Client.Patch(ctx, nudge, p); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			// Either it failed to create itself again, or it saw its
			// topic missing first and waits for it: not Ready.
			if c := condition(t, &pubsubv1.Subscription{ObjectMeta: sub.ObjectMeta}, commonv1.TypeReady); c == nil || c.Status != metav1.ConditionFalse ||
				!(strings.Contains(c.Message, "re-creating") || strings.Contains(c.Message, "does not exist")) {
				return fmt.Errorf("subscription Ready %+v, want False: it is not in the cloud", c)
			}
			return nil
		})

		patch = client.MergeFrom(tp.DeepCopy())
		tp.Annotations = nil
		if err := env.Client.Patch(ctx, tp, patch); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			c := condition(t, &pubsubv1.Subscription{ObjectMeta: sub.ObjectMeta}, commonv1.TypeReady)
			if c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("subscription Ready %+v", c)
			}
			return nil
		})
		if _, err := s.getSub(t, "vanishing-sub"); err != nil {
			t.Fatalf("the subscription is not in the cloud again: %v", err)
		}
	})
}

// After an outage the endpoint comes back empty (an emulator restarted):
// the objects that failed meanwhile are woken when the endpoint answers
// again (not at the end of their backoff), their resources are created
// again, and the subscription follows its topic.
func TestRecoveryAfterOutage(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	first := pstest.NewServerWithPort(port)
	pc := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "outage"},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   "outage",
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: first.Addr},
		},
	}
	if err := env.Client.Create(ctx, pc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, pc) })
	ns := env.Namespace(t, pc.Name)
	fast := &metav1.Duration{Duration: time.Second}
	tp := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns}}
	tp.Spec.ResyncInterval = fast
	// The endpoint is gone when the test's namespace is deleted.
	tp.Spec.DeletionPolicy = commonv1.DeletionAbandon
	sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Name: "orders-sub", Namespace: ns}}
	sub.Spec.TopicRef = commonv1.ResourceRef{Name: "orders"}
	sub.Spec.ResyncInterval = fast
	sub.Spec.DeletionPolicy = commonv1.DeletionAbandon
	env.Create(t, tp)
	env.Create(t, sub)
	env.WaitReady(t, sub)

	first.Close() // the outage
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		for _, o := range []client.Object{&pubsubv1.Topic{ObjectMeta: tp.ObjectMeta}, &pubsubv1.Subscription{ObjectMeta: sub.ObjectMeta}} {
			if c := condition(t, o, commonv1.TypeSynced); c == nil || !strings.Contains(c.Message, "does not answer") {
				return fmt.Errorf("%s: Synced %+v, want the breaker's message", o.GetName(), c)
			}
		}
		return nil
	})
	time.Sleep(10 * time.Second) // the failing objects' backoff grows meanwhile (1, 2, 4, 8 s…)

	second := pstest.NewServerWithPort(port) // back, and empty
	t.Cleanup(func() { second.Close() })
	back := time.Now()
	for _, o := range []client.Object{&pubsubv1.Topic{ObjectMeta: tp.ObjectMeta}, &pubsubv1.Subscription{ObjectMeta: sub.ObjectMeta}} {
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			var events corev1.EventList
			if err := env.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, e := range events.Items {
				if e.InvolvedObject.Name == o.GetName() && e.Reason == "Recreated" {
					return nil
				}
			}
			return fmt.Errorf("%s: no Recreated event yet", o.GetName())
		})
		t.Logf("%s created again %s after the endpoint came back", o.GetName(), time.Since(back).Round(100*time.Millisecond))
		// The event is emitted in the pass, before its status write: wait
		// for the status to say so too.
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			if c := condition(t, o, commonv1.TypeReady); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("%s: Ready %+v after it was created again", o.GetName(), c)
			}
			return nil
		})
	}
	conn, err := grpc.NewClient(second.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	subs, err := pubsubapi.NewSubscriptionAdminClient(ctx, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := subs.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: "projects/outage/subscriptions/orders-sub"}); err != nil {
		t.Fatalf("the subscription is not in the cloud again: %v", err)
	}
}
