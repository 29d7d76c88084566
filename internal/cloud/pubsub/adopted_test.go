package pubsub_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Subscriptions applied next to their topics, all at once: each one is
// created once, and no brand-new subscription reports an adoption of its
// own resource (a pass that started from a cache not yet showing the
// creating pass's status write used to create again, get AlreadyExists,
// and emit Adopted; seen on 30 of 200 subscriptions applied with kubectl
// against the emulator; not reproduced here, where this guards the
// outcome).
func TestNoSpuriousAdoptionAfterCreate(t *testing.T) {
	s := scenarioOn(t, "test-adopted")

	const n = 60
	var wg sync.WaitGroup
	subs := make([]*pubsubv1.Subscription, n)
	for i := range n {
		subs[i] = s.subscription(fmt.Sprintf("burst-%02d-sub", i), fmt.Sprintf("burst-%02d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			env.Create(t, s.topic(fmt.Sprintf("burst-%02d", i)))
			env.Create(t, subs[i])
		}()
	}
	wg.Wait()
	for _, sub := range subs {
		env.WaitReady(t, sub)
	}
	var events corev1.EventList
	if err := env.Client.List(context.Background(), &events, client.InNamespace(s.ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		switch e.Reason {
		case "Adopted":
			t.Errorf("%s %s: Adopted: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
		case "Created":
			t.Errorf("%s %s: a Created event (Ready says it): %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
		}
	}
	// Each one created its resource: Ready says so (an adopted one's
	// Ready would not).
	for i, sub := range subs {
		topic := &pubsubv1.Topic{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: fmt.Sprintf("burst-%02d", i)}, topic); err != nil {
			t.Fatal(err)
		}
		for _, obj := range []testenv.Managed{topic, sub} {
			st := obj.ManagedStatus()
			ready := meta.FindStatusCondition(st.Conditions, commonv1.TypeReady)
			if want := "created " + st.SelfLink; ready == nil || ready.Message != want {
				t.Errorf("%T %s: Ready %+v, want the message %q", obj, obj.GetName(), ready, want)
			}
		}
	}
}
