package pubsub

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// TopicKind describes Topic to the generic reconciler.
func TopicKind(clients *Clients) managed.Kind[*pubsubv1.Topic] {
	return managed.Kind[*pubsubv1.Topic]{
		Name:    "Topic",
		New:     func() *pubsubv1.Topic { return &pubsubv1.Topic{} },
		NewList: func() client.ObjectList { return &pubsubv1.TopicList{} },
		Connector: managed.ConnectorFunc[*pubsubv1.Topic](func(ctx context.Context, _ *pubsubv1.Topic, env managed.Env) (managed.ExternalClient[*pubsubv1.Topic], error) {
			cn, err := clients.get(ctx, env.Provider)
			if err != nil {
				return nil, err
			}
			return &topicClient{cn: cn, env: env, name: TopicName(env.Provider.ProjectID, env.ResourceID)}, nil
		}),
	}
}

// TopicTarget lets other kinds reference topics.
var TopicTarget = managed.ReferenceTarget{Kind: "Topic", New: func() managed.Object { return &pubsubv1.Topic{} }, CloudName: TopicName}

// TopicName is a topic's full name.
func TopicName(project, id string) string { return fmt.Sprintf("projects/%s/topics/%s", project, id) }

// topicMask maps spec fields to UpdateTopic mask paths.
var topicMask = map[string]string{
	"spec.labels":                   "labels",
	"spec.messageRetentionDuration": "message_retention_duration",
	"spec.messageStoragePolicy.allowedPersistenceRegions": "message_storage_policy",
}

type topicClient struct {
	cn   *conn
	env  managed.Env
	name string
}

func (c *topicClient) Name() string { return c.name }

func (c *topicClient) Observe(ctx context.Context, t *pubsubv1.Topic) (managed.Observation, error) {
	got, err := c.cn.topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: c.name})
	if managed.IsNotFound(err) {
		t.Status.Observed = nil
		return managed.Observation{}, nil
	}
	if err != nil {
		return managed.Observation{}, err
	}
	return c.observe(t, got), nil
}

// observe diffs the spec against the topic the cloud returned (by a Get
// or in a listing).
func (c *topicClient) observe(t *pubsubv1.Topic, got *pubsubpb.Topic) managed.Observation {
	obs := topicObservation(got)
	t.Status.Observed = obs

	var d managed.Differ
	d.Add("spec.labels", managed.RenderLabels(commonv1.LabelMap(t.Spec.Labels)), managed.RenderLabels(managed.UserLabels(got.GetLabels())), false)
	d.Add("spec.messageRetentionDuration", renderDuration(t.Spec.MessageRetentionDuration), obs.MessageRetentionDuration, false)
	if p := t.Spec.MessageStoragePolicy; p != nil {
		d.Add("spec.messageStoragePolicy.allowedPersistenceRegions", renderList(p.AllowedPersistenceRegions), renderList(obs.AllowedPersistenceRegions), false)
	}
	return managed.Observation{Exists: true, Owner: got.GetLabels()[managed.OwnerLabelKey], Diff: d.Diffs}
}

func topicObservation(got *pubsubpb.Topic) *pubsubv1.TopicObservation {
	obs := &pubsubv1.TopicObservation{
		Labels:                    got.GetLabels(),
		MessageRetentionDuration:  renderProtoDuration(got.GetMessageRetentionDuration()),
		AllowedPersistenceRegions: got.GetMessageStoragePolicy().GetAllowedPersistenceRegions(),
	}
	if got.GetState() != pubsubpb.Topic_STATE_UNSPECIFIED {
		obs.State = got.GetState().String()
	}
	return obs
}

func (c *topicClient) desired(t *pubsubv1.Topic) *pubsubpb.Topic {
	pb := &pubsubpb.Topic{
		Name:                     c.name,
		Labels:                   managed.WithOwner(commonv1.LabelMap(t.Spec.Labels), c.env.Owner),
		MessageRetentionDuration: protoDuration(t.Spec.MessageRetentionDuration),
	}
	if p := t.Spec.MessageStoragePolicy; p != nil {
		pb.MessageStoragePolicy = &pubsubpb.MessageStoragePolicy{AllowedPersistenceRegions: p.AllowedPersistenceRegions}
	}
	return pb
}

func (c *topicClient) Create(ctx context.Context, t *pubsubv1.Topic) error {
	got, err := c.cn.topics.CreateTopic(ctx, c.desired(t))
	if err == nil {
		t.Status.Observed = topicObservation(got)
	}
	return err
}

func (c *topicClient) Update(ctx context.Context, t *pubsubv1.Topic, diff []managed.FieldDiff) error {
	got, err := c.cn.topics.UpdateTopic(ctx, &pubsubpb.UpdateTopicRequest{
		Topic:      c.desired(t),
		UpdateMask: &fieldmaskpb.FieldMask{Paths: maskPaths(diff, topicMask)},
	})
	if err == nil {
		t.Status.Observed = topicObservation(got)
	}
	return err
}

func (c *topicClient) Delete(ctx context.Context, _ *pubsubv1.Topic) error {
	return c.cn.topics.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: c.name})
}
