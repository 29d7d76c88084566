package pubsub_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/pubsub"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
)

// Resources made outside infraplane are listed with their settings, the
// manifests adopt them, and adoption writes nothing to the cloud.
func TestImportAdoptsWithoutCloudWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *scenario) {
		ctx := context.Background()
		prefix := "imp-" + s.ns
		topicID, subID := prefix+"-orders", prefix+"-Worker_1" // not a valid object name
		if _, err := s.b.topics.CreateTopic(ctx, &pubsubpb.Topic{Name: s.topicName(topicID), Labels: map[string]string{"team": "checkout"},
			MessageRetentionDuration: durationpb.New(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.b.subs.CreateSubscription(ctx, &pubsubpb.Subscription{Name: s.subName(subID), Topic: s.topicName(topicID),
			AckDeadlineSeconds: 45, RetainAckedMessages: true, MessageRetentionDuration: durationpb.New(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}

		p, err := provider.NewResolver(env.Client, provider.Options{}).ForNamespace(ctx, s.ns)
		if err != nil {
			t.Fatal(err)
		}
		clients := pubsub.NewClients()
		defer clients.Close()
		found, _, err := importer.Collect(ctx, importer.Options{
			Listers:  []importer.Lister{pubsub.TopicLister{Clients: clients}, pubsub.SubscriptionLister{Clients: clients}},
			Provider: p, Namespace: s.ns,
		})
		if err != nil {
			t.Fatal(err)
		}
		var mine []importer.Resource
		for _, r := range found {
			if strings.Contains(r.SelfLink, prefix) {
				mine = append(mine, r)
			}
		}
		if len(mine) != 2 {
			t.Fatalf("found %d of this test's resources, want 2: %+v", len(mine), mine)
		}
		topic, sub := mine[0].Object, mine[1].Object
		if got, _, _ := unstructured.NestedString(topic.Object, "spec", "labels", "team"); got != "checkout" {
			t.Errorf("topic manifest labels: %v", topic.Object["spec"])
		}
		if got, _, _ := unstructured.NestedInt64(sub.Object, "spec", "ackDeadlineSeconds"); got != 45 {
			t.Errorf("subscription manifest: %v", sub.Object["spec"])
		}
		if id, _, _ := unstructured.NestedString(sub.Object, "spec", "resourceID"); id != subID || sub.GetName() != prefix+"-worker-1" {
			t.Errorf("subscription %s: name %q resourceID %q", subID, sub.GetName(), id)
		}

		writes := func() float64 {
			n := 0.0
			// Deletes are not counted: earlier tests' namespaces may still be
			// deleting their resources in the background.
			for _, m := range []string{"CreateTopic", "UpdateTopic", "CreateSubscription", "UpdateSubscription"} {
				n += provider.CloudCalls(pubsub.Service, m)
			}
			return n
		}
		before := writes()
		for _, r := range mine {
			//nolint:staticcheck // server-side apply of an unstructured manifest
			if err := env.Client.Patch(ctx, r.Object, client.Apply, client.FieldOwner("import-test")); err != nil {
				t.Fatalf("apply %s: %v", r.Name, err)
			}
		}
		to := &pubsubv1.Topic{}
		to.Namespace, to.Name = s.ns, topic.GetName()
		env.WaitReady(t, to)
		so := &pubsubv1.Subscription{}
		so.Namespace, so.Name = s.ns, sub.GetName()
		env.WaitReady(t, so)
		if so.Status.ResourceID != subID || to.Status.ResourceID != topicID {
			t.Errorf("adopted ids: topic %q, subscription %q", to.Status.ResourceID, so.Status.ResourceID)
		}
		if d := writes() - before; d != 0 {
			t.Errorf("adoption made %v cloud writes, want 0", d)
		}
		// Imported again: both are now managed and skipped.
		_, skipped, err := importer.Collect(ctx, importer.Options{
			Listers: []importer.Lister{pubsub.TopicLister{Clients: clients}}, Provider: p, Namespace: s.ns,
			Managed: func(kind, selfLink string) bool { return selfLink == s.topicName(topicID) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if !containsSkip(skipped, s.topicName(topicID)) {
			t.Errorf("a managed topic was offered again; skipped: %+v", skipped)
		}
	})
}

func containsSkip(ss []importer.Skipped, selfLink string) bool {
	for _, s := range ss {
		if s.SelfLink == selfLink {
			return true
		}
	}
	return false
}
