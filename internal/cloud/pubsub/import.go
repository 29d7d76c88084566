package pubsub

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// TopicLister lists a project's topics for `infraplane import`.
type TopicLister struct{ Clients *Clients }

// GVK is Topic's.
func (TopicLister) GVK() schema.GroupVersionKind { return pubsubv1.GroupVersion.WithKind("Topic") }

// List returns every topic of the project with the manifest adopting it.
func (l TopicLister) List(ctx context.Context, p *provider.Config) ([]importer.Found, error) {
	cn, err := l.Clients.get(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []importer.Found
	it := cn.topics.ListTopics(ctx, &pubsubpb.ListTopicsRequest{Project: "projects/" + p.ProjectID})
	for {
		got, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing topics of project %s: %w", p.ProjectID, err)
		}
		t := &pubsubv1.Topic{TypeMeta: metav1.TypeMeta{APIVersion: pubsubv1.GroupVersion.String(), Kind: "Topic"}}
		importer.SetIdentity(&t.ObjectMeta, &t.Spec.ManagedSpec, managed.LastSegment(got.GetName()))
		t.Spec.Labels = importer.Labels(got.GetLabels())
		if d := got.GetMessageRetentionDuration(); d != nil {
			t.Spec.MessageRetentionDuration = &metav1.Duration{Duration: d.AsDuration()}
		}
		if r := got.GetMessageStoragePolicy().GetAllowedPersistenceRegions(); len(r) > 0 {
			t.Spec.MessageStoragePolicy = &pubsubv1.MessageStoragePolicy{AllowedPersistenceRegions: r}
		}
		obj, err := importer.Manifest(t)
		if err != nil {
			return nil, err
		}
		out = append(out, importer.Found{SelfLink: got.GetName(), Owner: got.GetLabels()[managed.OwnerLabelKey], Object: obj})
	}
	return out, nil
}

// SubscriptionLister lists a project's subscriptions for `infraplane import`.
type SubscriptionLister struct{ Clients *Clients }

// GVK is Subscription's.
func (SubscriptionLister) GVK() schema.GroupVersionKind {
	return pubsubv1.GroupVersion.WithKind("Subscription")
}

// List returns every subscription of the project with the manifest
// adopting it. Topics are referenced by their full name (external): a
// reference by object name would break when the topic is not imported.
func (l SubscriptionLister) List(ctx context.Context, p *provider.Config) ([]importer.Found, error) {
	cn, err := l.Clients.get(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []importer.Found
	it := cn.subs.ListSubscriptions(ctx, &pubsubpb.ListSubscriptionsRequest{Project: "projects/" + p.ProjectID})
	for {
		got, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing subscriptions of project %s: %w", p.ProjectID, err)
		}
		s := &pubsubv1.Subscription{TypeMeta: metav1.TypeMeta{APIVersion: pubsubv1.GroupVersion.String(), Kind: "Subscription"}}
		importer.SetIdentity(&s.ObjectMeta, &s.Spec.ManagedSpec, managed.LastSegment(got.GetName()))
		sp := &s.Spec
		sp.TopicRef = commonv1.ResourceRef{External: got.GetTopic()}
		if v := got.GetAckDeadlineSeconds(); v != 10 {
			sp.AckDeadlineSeconds = v
		}
		if d := got.GetMessageRetentionDuration(); d != nil && d.AsDuration() != 7*24*time.Hour {
			sp.MessageRetentionDuration = &metav1.Duration{Duration: d.AsDuration()}
		}
		sp.RetainAckedMessages = got.GetRetainAckedMessages()
		sp.Filter = got.GetFilter()
		sp.EnableMessageOrdering = got.GetEnableMessageOrdering()
		if dl := got.GetDeadLetterPolicy(); dl.GetDeadLetterTopic() != "" {
			sp.DeadLetterPolicy = &pubsubv1.DeadLetterPolicy{DeadLetterTopicRef: commonv1.ResourceRef{External: dl.GetDeadLetterTopic()}}
			if n := dl.GetMaxDeliveryAttempts(); n != 5 {
				sp.DeadLetterPolicy.MaxDeliveryAttempts = n
			}
		}
		if rp := got.GetRetryPolicy(); rp != nil {
			sp.RetryPolicy = &pubsubv1.RetryPolicy{}
			if d := rp.GetMinimumBackoff(); d != nil && d.AsDuration() != defaultMinBackoff {
				sp.RetryPolicy.MinimumBackoff = &metav1.Duration{Duration: d.AsDuration()}
			}
			if d := rp.GetMaximumBackoff(); d != nil && d.AsDuration() != defaultMaxBackoff {
				sp.RetryPolicy.MaximumBackoff = &metav1.Duration{Duration: d.AsDuration()}
			}
		}
		if ttl := got.GetExpirationPolicy().GetTtl(); ttl != nil {
			sp.ExpirationPolicy = &pubsubv1.ExpirationPolicy{TTL: &metav1.Duration{Duration: ttl.AsDuration()}}
		}
		sp.Labels = importer.Labels(got.GetLabels())
		obj, err := importer.Manifest(s)
		if err != nil {
			return nil, err
		}
		out = append(out, importer.Found{SelfLink: got.GetName(), Owner: got.GetLabels()[managed.OwnerLabelKey], Object: obj})
	}
	return out, nil
}
