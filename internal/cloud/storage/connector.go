// Package storage is the cloud client for the Cloud Storage kind, Bucket,
// on the official Go client (JSON API). It talks to real GCP or the local
// cloud's fake-gcs-server alike; which one is the ProviderConfig's business.
package storage

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	gcs "cloud.google.com/go/storage"

	"github.com/infraplane/infraplane/internal/provider"
)

// Service is the service name used in metrics and ProviderConfig endpoints.
const Service = "storage"

// Clients caches Storage clients per ProviderConfig version: reconciling
// happens often, and a client holds a connection pool.
type Clients struct {
	cache provider.ClientCache[*conn]
}

type conn struct {
	gcs *gcs.Client
	// project is the ProviderConfig's project number, looked up once per
	// version when the ProviderConfig does not say it (project.go).
	project projectNumber
}

// NewClients returns an empty cache.
func NewClients() *Clients { return &Clients{} }

// get returns the client for p, replacing (and closing) one built from an
// older version of the same ProviderConfig.
func (c *Clients) get(ctx context.Context, p *provider.Config) (*conn, error) {
	return c.cache.Get(p.Name, p.Key(), func() (*conn, func(), error) {
		opts, err := p.HTTPOptions(ctx, Service, p.Endpoints.Storage, MethodName)
		if err != nil {
			return nil, nil, err
		}
		// A background context: the client outlives this reconcile.
		cl, err := gcs.NewClient(context.WithoutCancel(ctx), opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("creating Cloud Storage client: %w", err)
		}
		// The client retries transient errors until the context ends; the
		// reconciler has its own backoff, and a person should see a dead
		// endpoint in the object's condition within seconds.
		cl.SetRetry(gcs.WithMaxAttempts(3))
		return &conn{gcs: cl}, func() { _ = cl.Close() }, nil
	})
}

// Close closes every cached client.
func (c *Clients) Close() { c.cache.Close() }

// MethodName names a JSON API request the way the API reference does
// ("buckets.insert", "objects.delete"), for the call metrics.
func MethodName(r *http.Request) string {
	path := r.URL.Path
	upload := strings.Contains(path, "/upload/")
	_, rest, ok := strings.Cut(path, "/storage/v1/")
	if !ok {
		return "other"
	}
	seg := strings.Split(strings.Trim(rest, "/"), "/")
	verb := r.Method
	if o := r.Header.Get("X-HTTP-Method-Override"); o != "" {
		verb = o
	}
	switch {
	case seg[0] == "projects" && len(seg) == 3 && seg[2] == "serviceAccount":
		return "projects.serviceAccount.get"
	case seg[0] != "b":
		return "other"
	case len(seg) == 1:
		return collectionVerb("buckets", verb)
	case len(seg) == 2:
		return itemVerb("buckets", verb)
	case seg[2] != "o":
		return "buckets.other"
	case len(seg) == 3 && upload:
		return "objects.insert"
	case len(seg) == 3:
		return collectionVerb("objects", verb)
	}
	return itemVerb("objects", verb)
}

func collectionVerb(coll, verb string) string {
	if verb == http.MethodPost {
		return coll + ".insert"
	}
	return coll + ".list"
}

func itemVerb(coll, verb string) string {
	switch verb {
	case http.MethodGet, http.MethodHead:
		return coll + ".get"
	case http.MethodPatch:
		return coll + ".patch"
	case http.MethodPut:
		return coll + ".update"
	case http.MethodDelete:
		return coll + ".delete"
	}
	return coll + ".other"
}
