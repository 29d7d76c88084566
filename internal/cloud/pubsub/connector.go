// Package pubsub is the cloud client for the Pub/Sub kinds, Topic and
// Subscription, on the official Google Cloud Pub/Sub admin clients. It
// talks to real GCP, the gcloud Pub/Sub emulator or pstest alike; which one
// is the ProviderConfig's business.
package pubsub

import (
	"context"
	"fmt"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"

	"github.com/infraplane/infraplane/internal/provider"
)

// Service is the service name used in metrics and ProviderConfig endpoints.
const Service = "pubsub"

// Clients caches admin clients per ProviderConfig version: connecting is
// expensive (a gRPC connection), reconciling happens often.
type Clients struct {
	cache provider.ClientCache[*conn]
}

type conn struct {
	topics *pubsubapi.TopicAdminClient
	subs   *pubsubapi.SubscriptionAdminClient
}

// NewClients returns an empty cache.
func NewClients() *Clients { return &Clients{} }

// get returns the clients for p, replacing (and closing) those built from
// an older version of the same ProviderConfig.
func (c *Clients) get(ctx context.Context, p *provider.Config) (*conn, error) {
	return c.cache.Get(p.Name, p.Key(), func() (*conn, func(), error) {
		opts := p.GRPCOptions(Service, p.Endpoints.PubSub)
		// Use a background context: the clients outlive this reconcile.
		topics, err := pubsubapi.NewTopicAdminClient(context.WithoutCancel(ctx), opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("creating Pub/Sub topic client: %w", err)
		}
		subs, err := pubsubapi.NewSubscriptionAdminClient(context.WithoutCancel(ctx), opts...)
		if err != nil {
			topics.Close()
			return nil, nil, fmt.Errorf("creating Pub/Sub subscription client: %w", err)
		}
		cn := &conn{topics: topics, subs: subs}
		return cn, cn.close, nil
	})
}

// Close closes every cached client.
func (c *Clients) Close() { c.cache.Close() }

func (cn *conn) close() {
	_ = cn.topics.Close()
	_ = cn.subs.Close()
}
