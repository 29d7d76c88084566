package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/pgtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	code := testenv.Main(m, &env, testenv.Options{})
	_ = pgtest.StopShared()
	os.Exit(code)
}

// providerName is the ProviderConfig every test namespace uses: the shared
// throwaway server, administered as its superuser.
const providerName = "test-postgres"

var providerOnce sync.Once

// scenario is one test's namespace plus an independent connection to the
// server, for checking what really exists.
type scenario struct {
	ns    string
	srv   *pgtest.Server
	admin *pgx.Conn
}

func setup(t *testing.T) *scenario {
	t.Helper()
	srv := pgtest.Shared(t)
	providerOnce.Do(func() { applyProvider(t, srv) })
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.AdminDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &scenario{ns: env.Namespace(t, providerName), srv: srv, admin: conn}
}

// applyProvider stores the superuser's credentials in a Secret and points a
// ProviderConfig at the server.
func applyProvider(t *testing.T, srv *pgtest.Server) {
	ctx := context.Background()
	u, err := url.Parse(srv.AdminDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pg-admin"}}
	if err := env.Client.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "admin", Namespace: "pg-admin"},
		Data:       map[string][]byte{"username": []byte(u.User.Username()), "password": []byte(password)},
	}
	if err := env.Client.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	pc := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: providerName},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   "local-project",
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Postgres: &corev1alpha1.PostgresServer{
				Host: srv.Host, Port: int32(srv.Port), Database: "postgres", SSLMode: "disable",
				CredentialsSecretRef: corev1alpha1.SecretReference{Namespace: "pg-admin", Name: "admin"},
			},
		},
	}
	if err := env.Client.Create(ctx, pc); err != nil {
		t.Fatal(err)
	}
}

// unique makes a name no other test uses on the shared server.
func (s *scenario) unique(base string) string { return base + "-" + strings.TrimPrefix(s.ns, "t-") }

// scalar runs a query returning one value.
func scalar[V any](t *testing.T, s *scenario, sql string, args ...any) V {
	t.Helper()
	var v V
	if err := s.admin.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func dbExists(t *testing.T, s *scenario, name string) bool {
	return scalar[bool](t, s, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name)
}

func roleExists(t *testing.T, s *scenario, name string) bool {
	return scalar[bool](t, s, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name)
}

// eventually checks cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		if !cond() {
			return fmt.Errorf("not yet: %s", what)
		}
		return nil
	})
}

func ptr[V any](v V) *V { return &v }
