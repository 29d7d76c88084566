package pubsub_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A resync may be answered from a listing up to half an interval old, so
// touching an object does not show a change made in the cloud since that
// listing. The requested-at annotation does: the pass it asks for reads
// with a Get, and status.lastHandledRequest says when it ran.
func TestRequestedReadUsesGet(t *testing.T) {
	s := newListingScene(t, "listing-request")
	objs := s.objects(t, "req", 1)
	topic := objs[0].(*pubsubv1.Topic)
	// Hourly resyncs: a listing answers for half an hour, so the test
	// controls every pass of the topic.
	testenv.Update(t, env, topic, func(tp *pubsubv1.Topic) {
		tp.Spec.ResyncInterval = &metav1.Duration{Duration: time.Hour}
	})
	env.WaitSynced(t, topic)

	poke := func(key, value string) {
		t.Helper()
		testenv.Update(t, env, topic, func(tp *pubsubv1.Topic) {
			if tp.Annotations == nil {
				tp.Annotations = map[string]string{}
			}
			tp.Annotations[key] = value
		})
	}
	listed := func() float64 { return managed.Observes("Topic", s.pc, "listing") }
	gets := func() float64 { return managed.Observes("Topic", s.pc, "get") }

	// A steady-state pass takes a listing of the topics.
	before := listed()
	poke("example.com/touched", "1")
	waitCount(t, "a pass answered from a listing", listed, before+1)

	// Someone changes the topic in the cloud after that listing.
	ctx := context.Background()
	name := "projects/" + s.project + "/topics/" + topic.Name
	if _, err := s.topics.UpdateTopic(ctx, &pubsubpb.UpdateTopicRequest{
		Topic:      &pubsubpb.Topic{Name: name, Labels: map[string]string{"changed": "in-the-console"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	}); err != nil {
		t.Fatal(err)
	}

	// Touching the object again is answered by the same listing: the
	// change does not show. (This is what the annotation is for.)
	before = listed()
	poke("example.com/touched", "2")
	waitCount(t, "a second pass answered from the listing", listed, before+1)
	if c := meta.FindStatusCondition(current(t, topic).Status.Conditions, commonv1.TypeDrifted); c != nil && c.Status == metav1.ConditionTrue {
		t.Logf("the listing showed the change after all (taken after it?): %s", c.Message)
	}

	// Asking for a read: one pass, with a Get, that finds the change and
	// repairs it; the status names the request it answered.
	getsBefore := gets()
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	poke(commonv1.RequestedAtAnnotation, stamp)
	var got *pubsubv1.Topic
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		got = current(t, topic)
		if got.Status.LastHandledRequest != stamp {
			return fmt.Errorf("status.lastHandledRequest = %q, want %q", got.Status.LastHandledRequest, stamp)
		}
		return nil
	})
	if g := gets() - getsBefore; g < 1 {
		t.Errorf("the requested pass made %v Gets, want one", g)
	}
	c := meta.FindStatusCondition(got.Status.Conditions, commonv1.TypeDrifted)
	if c == nil || c.Reason != commonv1.ReasonDriftRepaired {
		t.Errorf("Drifted after the requested read = %+v, want reason %s", c, commonv1.ReasonDriftRepaired)
	}
	cloud, err := s.topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name})
	if err != nil {
		t.Fatal(err)
	}
	if cloud.Labels["changed"] != "" {
		t.Errorf("the console's label is still there: %v", cloud.Labels)
	}
}

// current reads obj from the API server.
func current(t *testing.T, obj *pubsubv1.Topic) *pubsubv1.Topic {
	t.Helper()
	got := &pubsubv1.Topic{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// waitCount waits until count() reaches want.
func waitCount(t *testing.T, what string, count func() float64, want float64) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if n := count(); n < want {
			return fmt.Errorf("%s: count %v, want %v", what, n, want)
		}
		return nil
	})
}
