// Package spanner is the cloud client for the Spanner kinds,
// SpannerInstance and SpannerDatabase, on the official Cloud Spanner
// instance and database admin clients. It talks to real GCP or the Cloud
// Spanner emulator alike; which one is the ProviderConfig's business.
package spanner

import (
	"context"
	"fmt"
	"sync"

	database "cloud.google.com/go/spanner/admin/database/apiv1"
	instance "cloud.google.com/go/spanner/admin/instance/apiv1"

	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
)

// Service is the service name used in metrics and ProviderConfig endpoints.
const Service = "spanner"

// Clients caches admin clients per ProviderConfig version: connecting is
// expensive (a gRPC connection), reconciling happens often.
type Clients struct {
	cache provider.ClientCache[*conn]
	// created remembers the databases this process created (full name ->
	// *createdDatabase). Databases carry no labels, so this is the only
	// ownership mark there is; and a status write can be lost after a
	// successful cloud write (a conflict with a newer version of the
	// object): a later reconcile then finds here who created the database
	// and which DDL was applied, instead of reporting it as someone else's
	// or applying the same statements twice.
	created sync.Map
}

// createdDatabase is what this process knows about a database it created.
type createdDatabase struct {
	owner string
	ddl   spannerv1.DDLStatus
}

type conn struct {
	instances *instance.InstanceAdminClient
	databases *database.DatabaseAdminClient
}

// NewClients returns an empty cache.
func NewClients() *Clients { return &Clients{} }

// createdDB returns what this process recorded about a database it
// created, or nil.
func (c *Clients) createdDB(name string) *createdDatabase {
	v, _ := c.created.Load(name)
	d, _ := v.(*createdDatabase)
	return d
}

// remember records that owner created database name with ddl applied.
func (c *Clients) remember(name, owner string, ddl *spannerv1.DDLStatus) {
	c.created.Store(name, &createdDatabase{owner: owner, ddl: *ddl})
}

// get returns the clients for p, replacing (and closing) those built from
// an older version of the same ProviderConfig.
func (c *Clients) get(ctx context.Context, p *provider.Config) (*conn, error) {
	return c.cache.Get(p.Name, p.Key(), func() (*conn, func(), error) {
		opts := p.GRPCOptions(Service, p.Endpoints.Spanner)
		// A background context: the clients outlive this reconcile.
		bg := context.WithoutCancel(ctx)
		instances, err := instance.NewInstanceAdminClient(bg, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("creating Spanner instance admin client: %w", err)
		}
		databases, err := database.NewDatabaseAdminClient(bg, opts...)
		if err != nil {
			instances.Close()
			return nil, nil, fmt.Errorf("creating Spanner database admin client: %w", err)
		}
		cn := &conn{instances: instances, databases: databases}
		return cn, cn.close, nil
	})
}

// Close closes every cached client.
func (c *Clients) Close() { c.cache.Close() }

func (cn *conn) close() {
	_ = cn.instances.Close()
	_ = cn.databases.Close()
}
