// Package postgres is the cloud client for the PostgreSQL kinds, Database
// and Role. It talks SQL (pgx) to the server a namespace's ProviderConfig
// names in spec.postgres, as the administrator whose credentials are in the
// Secret that config points at.
package postgres

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// Service is the service name used in metrics.
const Service = "postgres"

// Keys of the administrator's credentials Secret.
const (
	keyUsername = "username"
	keyPassword = "password"
	keyCA       = "ca.crt"
)

// The administrator's Secret (any namespace the ProviderConfig names) is
// read through the cache.
//
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Clients caches one connection pool per ProviderConfig version and
// credentials Secret version: connecting is expensive, reconciling often.
type Clients struct {
	cache provider.ClientCache[*server]

	// kube writes the password Secrets Roles generate; apiReader reads
	// them past the cache. Both are set by Bind; nil outside a manager.
	mu        sync.Mutex
	kube      client.Client
	apiReader client.Reader
}

// server is one administrator connection pool.
type server struct {
	pool    *connPool
	dbs     *dbConns // connections to the databases themselves, for extensions
	admin   string   // the administrator's role name
	adminDB string
}

// connectTimeout bounds opening a connection to the PostgreSQL server.
const connectTimeout = 10 * time.Second

func (s *server) close() {
	s.pool.close()
	s.dbs.close()
}

// NewClients returns an empty cache.
func NewClients() *Clients { return &Clients{} }

// Bind gives the clients the manager's client, for the Secrets a Role
// creates. It is called when the kind is set up with a manager.
func (c *Clients) Bind(mgr ctrl.Manager, _ *managed.Options) {
	c.UseKube(mgr.GetClient(), mgr.GetAPIReader())
}

// UseKube sets the client that writes password Secrets and the uncached
// reader that reads one just created.
func (c *Clients) UseKube(kube client.Client, apiReader client.Reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kube, c.apiReader = kube, apiReader
}

func (c *Clients) kubeClients() (client.Client, client.Reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kube, c.apiReader
}

// get returns the pool for p, replacing (and closing) one built from an
// older version of the ProviderConfig or of its credentials Secret.
func (c *Clients) get(ctx context.Context, p *provider.Config) (*server, error) {
	pg := p.Postgres
	if pg == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "ProviderConfig %q has no spec.postgres: it names no PostgreSQL server", p.Name)
	}
	if p.Reader == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "ProviderConfig %q: no Kubernetes reader to read its credentials Secret", p.Name)
	}
	ref := pg.CredentialsSecretRef
	var sec corev1.Secret
	if err := p.Reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, status.Errorf(codes.FailedPrecondition, "ProviderConfig %q: credentials Secret %s/%s (spec.postgres.credentialsSecretRef) does not exist", p.Name, ref.Namespace, ref.Name)
		}
		return nil, fmt.Errorf("reading credentials Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	key := p.Key() + "/" + sec.ResourceVersion

	return c.cache.Get(p.Name, key, func() (*server, func(), error) {
		cfg, err := poolConfig(pg, &sec)
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "ProviderConfig %q: %v", p.Name, err)
		}
		s := &server{pool: newConnPool(cfg, poolSize), dbs: newDBConns(cfg), admin: cfg.User, adminDB: cfg.Database}
		return s, s.close, nil
	})
}

// poolSize is the most administrator connections per ProviderConfig.
const poolSize = 4

// poolConfig builds the administrator's connection configuration. The URL form
// escapes every part, whatever the user name or password holds.
func poolConfig(pg *corev1alpha1.PostgresServer, sec *corev1.Secret) (*pgx.ConnConfig, error) {
	user, password := string(sec.Data[keyUsername]), string(sec.Data[keyPassword])
	if user == "" {
		return nil, fmt.Errorf("credentials Secret %s/%s has no %q", sec.Namespace, sec.Name, keyUsername)
	}
	port := pg.Port
	if port == 0 {
		port = 5432
	}
	db := pg.Database
	if db == "" {
		db = "postgres"
	}
	mode := string(pg.SSLMode)
	if mode == "" {
		mode = "verify-full"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(pg.Host, strconv.Itoa(int(port))),
		Path:     "/" + db,
		RawQuery: url.Values{"sslmode": {mode}, "application_name": {"infraplane"}}.Encode(),
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, err
	}
	// A server that does not answer (a dropped route, a stopped instance)
	// would otherwise hold a worker for the OS's TCP timeout, minutes.
	cfg.ConnectTimeout = connectTimeout
	if ca := sec.Data[keyCA]; len(ca) > 0 && cfg.TLSConfig != nil {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("credentials Secret %s/%s: %q holds no PEM certificate", sec.Namespace, sec.Name, keyCA)
		}
		// verify-ca's own check reads RootCAs from this same config.
		cfg.TLSConfig.RootCAs = roots
	}
	return cfg, nil
}

// Close closes every cached pool.
func (c *Clients) Close() { c.cache.Close() }
