package pubsub

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// Reference fields of a Subscription.
const (
	fieldTopicRef      = "spec.topicRef"
	fieldDeadLetterRef = "spec.deadLetterPolicy.deadLetterTopicRef"
)

// Pub/Sub's own defaults for a retry policy's unset bounds.
const (
	defaultMinBackoff = 10 * time.Second
	defaultMaxBackoff = 600 * time.Second
)

// SubscriptionKind describes Subscription to the generic reconciler.
func SubscriptionKind(clients *Clients) managed.Kind[*pubsubv1.Subscription] {
	return managed.Kind[*pubsubv1.Subscription]{
		Name:    "Subscription",
		New:     func() *pubsubv1.Subscription { return &pubsubv1.Subscription{} },
		NewList: func() client.ObjectList { return &pubsubv1.SubscriptionList{} },
		Connector: managed.ConnectorFunc[*pubsubv1.Subscription](func(ctx context.Context, _ *pubsubv1.Subscription, env managed.Env) (managed.ExternalClient[*pubsubv1.Subscription], error) {
			cn, err := clients.get(ctx, env.Provider)
			if err != nil {
				return nil, err
			}
			return &subscriptionClient{cn: cn, env: env, name: SubscriptionName(env.Provider.ProjectID, env.ResourceID)}, nil
		}),
		References: subscriptionReferences,
		Targets:    []managed.ReferenceTarget{TopicTarget},
	}
}

func subscriptionReferences(s *pubsubv1.Subscription) []managed.Reference {
	refs := []managed.Reference{{Field: fieldTopicRef, Ref: s.Spec.TopicRef, Target: TopicTarget}}
	if p := s.Spec.DeadLetterPolicy; p != nil {
		refs = append(refs, managed.Reference{Field: fieldDeadLetterRef, Ref: p.DeadLetterTopicRef, Target: TopicTarget})
	}
	return refs
}

// SubscriptionName is a subscription's full name.
func SubscriptionName(project, id string) string {
	return fmt.Sprintf("projects/%s/subscriptions/%s", project, id)
}

// subscriptionMask maps spec fields to UpdateSubscription mask paths.
var subscriptionMask = map[string]string{
	"spec.ackDeadlineSeconds":                   "ack_deadline_seconds",
	"spec.messageRetentionDuration":             "message_retention_duration",
	"spec.retainAckedMessages":                  "retain_acked_messages",
	fieldDeadLetterRef:                          "dead_letter_policy",
	"spec.deadLetterPolicy.maxDeliveryAttempts": "dead_letter_policy",
	"spec.retryPolicy.minimumBackoff":           "retry_policy",
	"spec.retryPolicy.maximumBackoff":           "retry_policy",
	"spec.expirationPolicy.ttl":                 "expiration_policy",
	"spec.labels":                               "labels",
}

type subscriptionClient struct {
	cn   *conn
	env  managed.Env
	name string
}

func (c *subscriptionClient) Name() string { return c.name }

func (c *subscriptionClient) Observe(ctx context.Context, s *pubsubv1.Subscription) (managed.Observation, error) {
	s.Status.Topic = c.env.Refs[fieldTopicRef]
	got, err := c.cn.subs.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: c.name})
	if managed.IsNotFound(err) {
		s.Status.Observed = nil
		return managed.Observation{}, nil
	}
	if err != nil {
		return managed.Observation{}, err
	}
	return c.observe(s, got), nil
}

// observe diffs the spec against the subscription the cloud returned (by
// a Get or in a listing).
func (c *subscriptionClient) observe(s *pubsubv1.Subscription, got *pubsubpb.Subscription) managed.Observation {
	s.Status.Topic = c.env.Refs[fieldTopicRef]
	obs := subscriptionObservation(got)
	s.Status.Observed = obs

	sp := s.Spec
	var d managed.Differ
	d.Add(fieldTopicRef, c.env.Refs[fieldTopicRef], obs.Topic, true)
	d.Add("spec.ackDeadlineSeconds", strconv.Itoa(int(ackDeadline(sp))), strconv.Itoa(int(obs.AckDeadlineSeconds)), false)
	d.Add("spec.messageRetentionDuration", renderDuration(durationOr(sp.MessageRetentionDuration, 7*24*time.Hour)), obs.MessageRetentionDuration, false)
	d.Add("spec.retainAckedMessages", strconv.FormatBool(sp.RetainAckedMessages), strconv.FormatBool(obs.RetainAckedMessages), false)
	d.Add("spec.filter", sp.Filter, obs.Filter, true)
	d.Add("spec.enableMessageOrdering", strconv.FormatBool(sp.EnableMessageOrdering), strconv.FormatBool(obs.EnableMessageOrdering), true)

	wantDLT, wantAttempts := "", ""
	if p := sp.DeadLetterPolicy; p != nil {
		wantDLT, wantAttempts = c.env.Refs[fieldDeadLetterRef], strconv.Itoa(int(maxAttempts(p)))
	}
	gotAttempts := ""
	if obs.DeadLetterTopic != "" {
		gotAttempts = strconv.Itoa(int(obs.MaxDeliveryAttempts))
	}
	d.Add(fieldDeadLetterRef, wantDLT, obs.DeadLetterTopic, false)
	d.Add("spec.deadLetterPolicy.maxDeliveryAttempts", wantAttempts, gotAttempts, false)

	wantMin, wantMax := "", ""
	if p := sp.RetryPolicy; p != nil {
		wantMin = renderDuration(durationOr(p.MinimumBackoff, defaultMinBackoff))
		wantMax = renderDuration(durationOr(p.MaximumBackoff, defaultMaxBackoff))
	}
	d.Add("spec.retryPolicy.minimumBackoff", wantMin, obs.MinimumBackoff, false)
	d.Add("spec.retryPolicy.maximumBackoff", wantMax, obs.MaximumBackoff, false)

	// An unset expirationPolicy is not managed: the cloud applies its own
	// default (31 days) and that is not drift.
	if p := sp.ExpirationPolicy; p != nil {
		d.Add("spec.expirationPolicy.ttl", renderDuration(p.TTL), obs.ExpirationTTL, false)
	}
	d.Add("spec.labels", managed.RenderLabels(commonv1.LabelMap(sp.Labels)), managed.RenderLabels(managed.UserLabels(got.GetLabels())), false)

	return managed.Observation{Exists: true, Owner: got.GetLabels()[managed.OwnerLabelKey], Diff: d.Diffs}
}

func subscriptionObservation(got *pubsubpb.Subscription) *pubsubv1.SubscriptionObservation {
	obs := &pubsubv1.SubscriptionObservation{
		Topic:                    got.GetTopic(),
		AckDeadlineSeconds:       got.GetAckDeadlineSeconds(),
		MessageRetentionDuration: renderProtoDuration(got.GetMessageRetentionDuration()),
		RetainAckedMessages:      got.GetRetainAckedMessages(),
		Filter:                   got.GetFilter(),
		EnableMessageOrdering:    got.GetEnableMessageOrdering(),
		DeadLetterTopic:          got.GetDeadLetterPolicy().GetDeadLetterTopic(),
		MaxDeliveryAttempts:      got.GetDeadLetterPolicy().GetMaxDeliveryAttempts(),
		MinimumBackoff:           renderProtoDuration(got.GetRetryPolicy().GetMinimumBackoff()),
		MaximumBackoff:           renderProtoDuration(got.GetRetryPolicy().GetMaximumBackoff()),
		ExpirationTTL:            renderProtoDuration(got.GetExpirationPolicy().GetTtl()),
		Labels:                   got.GetLabels(),
	}
	if got.GetState() != pubsubpb.Subscription_STATE_UNSPECIFIED {
		obs.State = got.GetState().String()
	}
	return obs
}

func ackDeadline(sp pubsubv1.SubscriptionSpec) int32 {
	if sp.AckDeadlineSeconds == 0 {
		return 10
	}
	return sp.AckDeadlineSeconds
}

func maxAttempts(p *pubsubv1.DeadLetterPolicy) int32 {
	if p.MaxDeliveryAttempts == 0 {
		return 5
	}
	return p.MaxDeliveryAttempts
}

func (c *subscriptionClient) desired(s *pubsubv1.Subscription) *pubsubpb.Subscription {
	sp := s.Spec
	pb := &pubsubpb.Subscription{
		Name:                     c.name,
		Topic:                    c.env.Refs[fieldTopicRef],
		AckDeadlineSeconds:       ackDeadline(sp),
		MessageRetentionDuration: protoDuration(durationOr(sp.MessageRetentionDuration, 7*24*time.Hour)),
		RetainAckedMessages:      sp.RetainAckedMessages,
		Filter:                   sp.Filter,
		EnableMessageOrdering:    sp.EnableMessageOrdering,
		Labels:                   managed.WithOwner(commonv1.LabelMap(sp.Labels), c.env.Owner),
	}
	if p := sp.DeadLetterPolicy; p != nil {
		pb.DeadLetterPolicy = &pubsubpb.DeadLetterPolicy{DeadLetterTopic: c.env.Refs[fieldDeadLetterRef], MaxDeliveryAttempts: maxAttempts(p)}
	}
	if p := sp.RetryPolicy; p != nil {
		pb.RetryPolicy = &pubsubpb.RetryPolicy{
			MinimumBackoff: protoDuration(durationOr(p.MinimumBackoff, defaultMinBackoff)),
			MaximumBackoff: protoDuration(durationOr(p.MaximumBackoff, defaultMaxBackoff)),
		}
	}
	if p := sp.ExpirationPolicy; p != nil {
		pb.ExpirationPolicy = &pubsubpb.ExpirationPolicy{Ttl: protoDuration(p.TTL)}
	}
	return pb
}

func (c *subscriptionClient) Create(ctx context.Context, s *pubsubv1.Subscription) error {
	s.Status.Topic = c.env.Refs[fieldTopicRef]
	got, err := c.cn.subs.CreateSubscription(ctx, c.desired(s))
	if err == nil {
		s.Status.Observed = subscriptionObservation(got)
	}
	return err
}

func (c *subscriptionClient) Update(ctx context.Context, s *pubsubv1.Subscription, diff []managed.FieldDiff) error {
	got, err := c.cn.subs.UpdateSubscription(ctx, &pubsubpb.UpdateSubscriptionRequest{
		Subscription: c.desired(s),
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: maskPaths(diff, subscriptionMask)},
	})
	if err == nil {
		s.Status.Observed = subscriptionObservation(got)
	}
	return err
}

func (c *subscriptionClient) Delete(ctx context.Context, _ *pubsubv1.Subscription) error {
	return c.cn.subs.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: c.name})
}
