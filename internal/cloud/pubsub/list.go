package pubsub

import (
	"context"
	"strings"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
)

// Batched reads: ListTopics and ListSubscriptions return full resources,
// so a resync can be answered from one listing per project instead of a
// Get per object (managed.ListObserver; the reconciler decides when).

// listPageSize is the largest page both List calls allow: 20,000 topics
// are 20 calls.
const listPageSize = 1000

func (c *topicClient) List(ctx context.Context) (map[string]any, error) {
	prefix := "projects/" + c.env.Provider.ProjectID + "/topics/"
	it := c.cn.topics.ListTopics(ctx, &pubsubpb.ListTopicsRequest{Project: "projects/" + c.env.Provider.ProjectID, PageSize: listPageSize})
	out := map[string]any{}
	for {
		t, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		// Only this project's: some fakes match the project by prefix.
		if strings.HasPrefix(t.GetName(), prefix) {
			out[t.GetName()] = t
		}
	}
}

func (c *topicClient) ObserveListed(t *pubsubv1.Topic, item any) managed.Observation {
	return c.observe(t, item.(*pubsubpb.Topic))
}

func (c *subscriptionClient) List(ctx context.Context) (map[string]any, error) {
	prefix := "projects/" + c.env.Provider.ProjectID + "/subscriptions/"
	it := c.cn.subs.ListSubscriptions(ctx, &pubsubpb.ListSubscriptionsRequest{Project: "projects/" + c.env.Provider.ProjectID, PageSize: listPageSize})
	out := map[string]any{}
	for {
		s, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(s.GetName(), prefix) {
			out[s.GetName()] = s
		}
	}
}

func (c *subscriptionClient) ObserveListed(s *pubsubv1.Subscription, item any) managed.Observation {
	return c.observe(s, item.(*pubsubpb.Subscription))
}

var (
	_ managed.ListObserver[*pubsubv1.Topic]        = (*topicClient)(nil)
	_ managed.ListObserver[*pubsubv1.Subscription] = (*subscriptionClient)(nil)
)
