package localcloud_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// Under the emulator, the local cloud updates what Pub/Sub updates and the
// emulator refuses (labels, a topic's storage policy, a subscription's
// expiration policy), through gRPC and REST, and still refuses what Pub/Sub
// refuses (a filter). Messages still flow through it.
func TestPubSubUpdatesUnderEmulator(t *testing.T) {
	c := cloudtest.RequireEmulators(t)
	cl := newClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := "projects/" + project
	topic := p + "/topics/labelled-topic"
	sub := p + "/subscriptions/labelled-sub"
	if _, err := cl.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic, Labels: map[string]string{"team": "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: sub, Topic: topic, Labels: map[string]string{"team": "a"}, Filter: `attributes.kind = "order"`,
	}); err != nil {
		t.Fatal(err)
	}

	// Labels together with a field the emulator updates itself.
	got, err := cl.TopicAdminClient.UpdateTopic(ctx, &pubsubpb.UpdateTopicRequest{
		Topic: &pubsubpb.Topic{Name: topic, Labels: map[string]string{"team": "b"},
			MessageRetentionDuration: durationpb.New(time.Hour),
			MessageStoragePolicy:     &pubsubpb.MessageStoragePolicy{AllowedPersistenceRegions: []string{"europe-west1"}}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels", "message_retention_duration", "message_storage_policy"}},
	})
	if err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	if got.Labels["team"] != "b" || got.GetMessageRetentionDuration().AsDuration() != time.Hour {
		t.Errorf("UpdateTopic returned %v", got)
	}
	if _, err := cl.SubscriptionAdminClient.UpdateSubscription(ctx, &pubsubpb.UpdateSubscriptionRequest{
		Subscription: &pubsubpb.Subscription{Name: sub, Labels: map[string]string{"team": "b"}, AckDeadlineSeconds: 60,
			ExpirationPolicy: &pubsubpb.ExpirationPolicy{Ttl: durationpb.New(48 * time.Hour)}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels", "ack_deadline_seconds", "expiration_policy"}},
	}); err != nil {
		t.Fatalf("UpdateSubscription: %v", err)
	}

	// Read back by Get and List.
	gt, err := cl.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: topic})
	if err != nil || gt.Labels["team"] != "b" || len(gt.GetMessageStoragePolicy().GetAllowedPersistenceRegions()) != 1 {
		t.Errorf("GetTopic = %v, %v", gt, err)
	}
	gs, err := cl.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: sub})
	if err != nil || gs.Labels["team"] != "b" || gs.AckDeadlineSeconds != 60 || gs.GetExpirationPolicy().GetTtl().AsDuration() != 48*time.Hour {
		t.Errorf("GetSubscription = %v, %v", gs, err)
	}
	for s, err := range cl.SubscriptionAdminClient.ListSubscriptions(ctx, &pubsubpb.ListSubscriptionsRequest{Project: p}).All() {
		if err != nil {
			t.Fatal(err)
		}
		if s.Name == sub && s.Labels["team"] != "b" {
			t.Errorf("ListSubscriptions: %v", s)
		}
	}

	// What Pub/Sub refuses stays refused; a missing resource is NotFound.
	_, err = cl.SubscriptionAdminClient.UpdateSubscription(ctx, &pubsubpb.UpdateSubscriptionRequest{
		Subscription: &pubsubpb.Subscription{Name: sub, Filter: `attributes.kind = "refund"`},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"filter"}},
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("filter update: %v, want InvalidArgument", err)
	}
	_, err = cl.TopicAdminClient.UpdateTopic(ctx, &pubsubpb.UpdateTopicRequest{
		Topic: &pubsubpb.Topic{Name: p + "/topics/no-such-topic", Labels: map[string]string{"x": "y"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	})
	if status.Code(err) != codes.NotFound {
		t.Errorf("label update of a missing topic: %v, want NotFound", err)
	}

	// Publishing and streaming pull pass through.
	if _, err := cl.Publisher(topic).Publish(ctx, &pubsub.Message{Data: []byte("hello"), Attributes: map[string]string{"kind": "order"}}).Get(ctx); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	var data string
	err = cl.Subscriber(sub).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		data = string(m.Data)
		m.Ack()
		rcancel()
	})
	rcancel()
	if err != nil || data != "hello" {
		t.Errorf("Receive: %q, %v", data, err)
	}

	// REST, as gcloud reads it.
	resp, err := http.Get(c.Endpoints().PubSubREST + "v1/" + sub)
	if err != nil {
		t.Fatal(err)
	}
	var rest struct {
		Labels           map[string]string
		ExpirationPolicy struct{ TTL string }
	}
	err = json.NewDecoder(resp.Body).Decode(&rest)
	resp.Body.Close()
	if err != nil || rest.Labels["team"] != "b" || rest.ExpirationPolicy.TTL != "172800s" {
		t.Errorf("REST GET subscription: %+v, %v", rest, err)
	}

	t.Run("gcloud", func(t *testing.T) {
		cloudtest.RequireTool(t, "gcloud")
		gcloud := gcloudWith(t, c)
		gcloud("pubsub", "topics", "update", "labelled-topic", "--update-labels=team=c")
		if out := gcloud("pubsub", "topics", "describe", "labelled-topic", "--format=value(labels.team)"); strings.TrimSpace(out) != "c" {
			t.Errorf("gcloud sees team=%q", out)
		}
		gt, err := cl.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: topic})
		if err != nil || gt.Labels["team"] != "c" {
			t.Errorf("Go client after gcloud's update: %v, %v", gt, err)
		}
	})
}
