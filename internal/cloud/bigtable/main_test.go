package bigtable_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/admin/apiv2/adminpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	btcloud "github.com/infraplane/infraplane/internal/cloud/bigtable"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	code := testenv.Main(m, &env, testenv.Options{})
	backends.stop()
	os.Exit(code)
}

// backend is one Bigtable implementation the tests run against.
type backend struct {
	name  string
	mode  localcloud.Mode
	once  sync.Once
	cloud *localcloud.Cloud
	err   error
}

type backendSet []*backend

// backends: Google's in-process fake (bttest) and the gcloud Bigtable
// emulator (cbtemulator). Both start in milliseconds, so every behaviour
// is checked on both.
var backends = backendSet{
	{name: "bttest", mode: localcloud.ModeFakes},
	{name: "emulator", mode: localcloud.ModeEmulators},
}

func (bs backendSet) stop() {
	for _, b := range bs {
		if b.cloud != nil {
			_ = b.cloud.Stop()
		}
	}
}

// start starts the backend once per test binary; a missing emulator skips
// (or, with CI=true, fails) the test.
func (b *backend) start(t *testing.T) {
	t.Helper()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b.cloud, b.err = localcloud.Start(ctx, localcloud.Options{
			Mode: b.mode, LogDir: os.TempDir(), Services: []localcloud.Service{localcloud.ServiceBigtable},
		})
	})
	if errors.Is(b.err, localcloud.ErrNotInstalled) {
		cloudtest.Unavailable(t, "%s: %v", b.name, b.err)
	}
	if b.err != nil {
		t.Fatalf("starting %s: %v", b.name, b.err)
	}
}

// instances numbers the instances scenarios use, so that tables of
// different subtests never meet (the emulators accept any instance).
var instances atomic.Int32

// forEachBackend runs fn as a subtest per backend, each in a fresh
// namespace whose ProviderConfig points at that backend and with an
// instance of its own.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *scenario)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.start(t)
			pc := env.ProviderConfig(t, "test-"+b.name, b.cloud)
			s := &scenario{b: b, ns: env.Namespace(t, pc), project: b.cloud.Project(),
				instance: fmt.Sprintf("inst-%04d", instances.Add(1))}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			admin, err := bigtable.NewAdminClient(ctx, s.project, s.instance,
				option.WithEndpoint(b.cloud.Endpoints().Bigtable),
				option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { admin.Close() })
			s.admin = admin
			fn(t, s)
		})
	}
}

// scenario is one subtest's namespace and instance on one backend.
type scenario struct {
	b        *backend
	ns       string
	project  string
	instance string
	admin    *bigtable.AdminClient // the test's own client, to look behind infraplane's back
}

func (s *scenario) instanceName() string {
	return fmt.Sprintf("projects/%s/instances/%s", s.project, s.instance)
}

func (s *scenario) tableName(id string) string { return s.instanceName() + "/tables/" + id }

func (s *scenario) table(name string, mutate ...func(*bigtablev1.BigtableTable)) *bigtablev1.BigtableTable {
	t := &bigtablev1.BigtableTable{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec:       bigtablev1.BigtableTableSpec{InstanceRef: bigtablev1.InstanceRef{External: s.instanceName()}},
	}
	for _, m := range mutate {
		m(t)
	}
	return t
}

// cloudTable is what the cloud has: the families' GC rules in canonical
// form, and deletion protection.
type cloudTable struct {
	families  map[string]string
	protected bool
}

// getTable reads a table with the test's own client.
func (s *scenario) getTable(t *testing.T, id string) (cloudTable, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := s.admin.TableAdminClientV2().GetTable(ctx, &adminpb.GetTableRequest{Name: s.tableName(id), View: adminpb.Table_SCHEMA_VIEW})
	if err != nil {
		return cloudTable{}, err
	}
	ct := cloudTable{families: map[string]string{}, protected: got.GetDeletionProtection()}
	for name, f := range got.GetColumnFamilies() {
		ct.families[name] = btcloud.RenderGCRule(f.GetGcRule())
	}
	return ct, nil
}

func family(name string, p *bigtablev1.GCPolicy) bigtablev1.ColumnFamily {
	return bigtablev1.ColumnFamily{Name: name, GCPolicy: p}
}

func versions(n int32) *bigtablev1.GCPolicy { return &bigtablev1.GCPolicy{MaxVersions: &n} }

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
