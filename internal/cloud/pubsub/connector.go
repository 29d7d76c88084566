// Package pubsub is the cloud client for the Pub/Sub kinds, Topic and
// Subscription, on the official Google Cloud Pub/Sub admin clients. It
// talks to real GCP, the gcloud Pub/Sub emulator or pstest alike; which one
// is the ProviderConfig's business.
package pubsub

import (
	"context"
	"fmt"
	"sync"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"

	"github.com/infraplane/infraplane/internal/provider"
)

// Service is the service name used in metrics and ProviderConfig endpoints.
const Service = "pubsub"

// Clients caches admin clients per ProviderConfig version: connecting is
// expensive (a gRPC connection), reconciling happens often.
type Clients struct {
	mu     sync.Mutex
	byName map[string]*conn // ProviderConfig name -> clients of its newest version
}

type conn struct {
	key    string
	topics *pubsubapi.TopicAdminClient
	subs   *pubsubapi.SubscriptionAdminClient
}

// NewClients returns an empty cache.
func NewClients() *Clients { return &Clients{byName: map[string]*conn{}} }

// get returns the clients for p, replacing (and closing) those built from
// an older version of the same ProviderConfig.
func (c *Clients) get(ctx context.Context, p *provider.Config) (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.byName[p.Name]; ok && cur.key == p.Key() {
		return cur, nil
	}
	opts := p.GRPCOptions(Service, p.Endpoints.PubSub)
	// Use a background context: the clients outlive this reconcile.
	topics, err := pubsubapi.NewTopicAdminClient(context.WithoutCancel(ctx), opts...)
	if err != nil {
		return nil, fmt.Errorf("creating Pub/Sub topic client: %w", err)
	}
	subs, err := pubsubapi.NewSubscriptionAdminClient(context.WithoutCancel(ctx), opts...)
	if err != nil {
		topics.Close()
		return nil, fmt.Errorf("creating Pub/Sub subscription client: %w", err)
	}
	if old, ok := c.byName[p.Name]; ok {
		old.close()
	}
	cn := &conn{key: p.Key(), topics: topics, subs: subs}
	c.byName[p.Name] = cn
	return cn, nil
}

// Close closes every cached client.
func (c *Clients) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, cn := range c.byName {
		cn.close()
		delete(c.byName, name)
	}
}

func (cn *conn) close() {
	_ = cn.topics.Close()
	_ = cn.subs.Close()
}
