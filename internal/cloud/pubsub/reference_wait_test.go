package pubsub_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/scheme"
)

// A subscription applied right after its topic waits for the topic's
// first reconcile without writing status: every version of it the API
// server holds is the create (carrying the finalizer, from the admission
// policy installed as by infraplane up) and the Ready status, never a
// WaitingForReference one, and it is created once, with no Adopted
// event.
func TestReferenceWaitWritesNothing(t *testing.T) {
	s := scenarioOn(t, "test-refwait")

	wc, err := client.NewWithWatch(env.Config(), client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := wc.Watch(ctx, &pubsubv1.SubscriptionList{}, client.InNamespace(s.ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	const n = 10
	for i := range n {
		env.Create(t, s.topic(fmt.Sprintf("pair-%02d", i)))
		env.Create(t, s.subscription(fmt.Sprintf("pair-%02d-sub", i), fmt.Sprintf("pair-%02d", i)))
	}
	// Every subscription's versions, until each is Ready.
	versions := map[string]int{}
	ready := map[string]bool{}
	for len(ready) < n {
		ev, ok := <-w.ResultChan()
		if !ok {
			t.Fatal("watch ended")
		}
		sub, isSub := ev.Object.(*pubsubv1.Subscription)
		if !isSub || ev.Type == watch.Deleted {
			continue
		}
		versions[sub.Name]++
		if c := meta.FindStatusCondition(sub.Status.Conditions, commonv1.TypeSynced); c != nil && c.Reason == commonv1.ReasonWaitingForRef {
			t.Errorf("%s: wrote status while its topic was on its way: %s", sub.Name, c.Message)
		}
		if meta.IsStatusConditionTrue(sub.Status.Conditions, commonv1.TypeReady) {
			ready[sub.Name] = true
		}
	}
	for name, v := range versions {
		if v > 2 {
			t.Errorf("%s: %d versions until Ready, want 2 (create, status)", name, v)
		}
	}
	var events corev1.EventList
	if err := env.Client.List(context.Background(), &events, client.InNamespace(s.ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Reason == "Adopted" || e.Reason == "CloudError" {
			t.Errorf("%s %s: %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
}
