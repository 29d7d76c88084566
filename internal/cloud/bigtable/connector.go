// Package bigtable is the cloud client for the BigtableTable kind, on the
// official cloud.google.com/go/bigtable AdminClient. It talks to real GCP,
// the gcloud Bigtable emulator (cbtemulator) or bttest alike; which one is
// the ProviderConfig's business (its bigtable endpoint).
package bigtable

import (
	"context"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/bigtable"

	"github.com/infraplane/infraplane/internal/provider"
)

// Service is the service name used in metrics and ProviderConfig endpoints.
const Service = "bigtable"

// Clients caches admin clients per ProviderConfig version and instance: an
// AdminClient is bound to one instance and holds a gRPC connection, and
// reconciling happens often.
type Clients struct {
	mu     sync.Mutex
	byName map[string]*conn // ProviderConfig name -> clients of its newest version
}

type conn struct {
	key    string
	admins map[string]*cachedAdmin // instance full name -> client
}

type cachedAdmin struct {
	*bigtable.AdminClient
	used time.Time
}

// maxAdminsPerConfig bounds the clients (each a gRPC connection) kept per
// ProviderConfig: the instance names are its objects' input, and naming a
// new instance per object must not grow the shared controller's
// connections without end. Past it the least recently used client is
// closed; only that ProviderConfig's objects can be affected (a call in
// flight on it fails and is retried).
const maxAdminsPerConfig = 64

// NewClients returns an empty cache.
func NewClients() *Clients { return &Clients{byName: map[string]*conn{}} }

// admin returns the AdminClient for inst under p, replacing (and closing)
// the clients built from an older version of the same ProviderConfig.
func (c *Clients) admin(ctx context.Context, p *provider.Config, inst instance) (*bigtable.AdminClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn, ok := c.byName[p.Name]
	if !ok || cn.key != p.Key() {
		if ok {
			cn.close()
		}
		cn = &conn{key: p.Key(), admins: map[string]*cachedAdmin{}}
		c.byName[p.Name] = cn
	}
	if ac, ok := cn.admins[inst.name()]; ok {
		ac.used = time.Now()
		return ac.AdminClient, nil
	}
	if len(cn.admins) >= maxAdminsPerConfig {
		cn.closeLeastUsed()
	}
	// A background context: the client outlives this reconcile.
	ac, err := bigtable.NewAdminClient(context.WithoutCancel(ctx), inst.project, inst.id,
		p.GRPCOptions(Service, p.Endpoints.Bigtable)...)
	if err != nil {
		return nil, fmt.Errorf("creating Bigtable admin client for %s: %w", inst.name(), err)
	}
	cn.admins[inst.name()] = &cachedAdmin{AdminClient: ac, used: time.Now()}
	return ac, nil
}

// closeLeastUsed closes and forgets the client used longest ago.
func (cn *conn) closeLeastUsed() {
	var oldest string
	for name, ac := range cn.admins {
		if oldest == "" || ac.used.Before(cn.admins[oldest].used) {
			oldest = name
		}
	}
	_ = cn.admins[oldest].Close()
	delete(cn.admins, oldest)
}

// open is how many clients are cached, for the tests.
func (c *Clients) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, cn := range c.byName {
		n += len(cn.admins)
	}
	return n
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
	for _, ac := range cn.admins {
		_ = ac.Close()
	}
}
