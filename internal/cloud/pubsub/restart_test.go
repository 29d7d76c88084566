package pubsub_test

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/provider"
)

// zzRestart runs last (file order): restarting the API server and the
// controllers keeps every object, and neither duplicates nor deletes cloud
// resources.
func TestZZRestartKeepsObjectsAndCloud(t *testing.T) {
	env.WaitNamespacesGone(t) // earlier tests' deletions must not count here
	forEachBackend(t, func(t *testing.T, s *scenario) {
		topic := s.topic("durable")
		sub := s.subscription("durable-sub", "durable")
		env.Create(t, topic)
		env.Create(t, sub)
		env.WaitReady(t, topic)
		env.WaitReady(t, sub)

		creates := provider.CloudCalls("pubsub", "CreateTopic") + provider.CloudCalls("pubsub", "CreateSubscription")
		deletes := provider.CloudCalls("pubsub", "DeleteTopic") + provider.CloudCalls("pubsub", "DeleteSubscription")

		env.Restart(t)

		env.WaitReady(t, topic)
		env.WaitReady(t, sub)
		// Let the controllers' first pass over everything finish.
		time.Sleep(2 * time.Second)
		if n := provider.CloudCalls("pubsub", "CreateTopic") + provider.CloudCalls("pubsub", "CreateSubscription") - creates; n != 0 {
			t.Errorf("%v create calls after restart", n)
		}
		if n := provider.CloudCalls("pubsub", "DeleteTopic") + provider.CloudCalls("pubsub", "DeleteSubscription") - deletes; n != 0 {
			t.Errorf("%v delete calls after restart", n)
		}
		if _, err := s.getTopic(t, "durable"); err != nil {
			t.Errorf("topic gone after restart: %v", err)
		}
		if _, err := s.getSub(t, "durable-sub"); err != nil {
			t.Errorf("subscription gone after restart: %v", err)
		}
		if topic.Status.ResourceID != "durable" || topic.Status.SelfLink == "" {
			t.Errorf("status lost across restart: %+v", topic.Status)
		}
		// Deleted here, not by the namespace's deletion after the subtest:
		// those cloud deletes would land in the next backend's count.
		for _, o := range []client.Object{sub, topic} {
			if err := env.Client.Delete(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			env.WaitGone(t, o)
		}
	})
}
