package bigtable_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/admin/apiv2/adminpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
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

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// update re-reads obj, applies mutate and writes it, retrying on conflict.
func update[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return env.Client.Update(context.Background(), obj)
	})
}

// waitFor waits until obj has condition typ with status (and reason, if
// given), and returns the condition.
func waitFor(t *testing.T, obj *bigtablev1.BigtableTable, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, typ)
		if c == nil {
			return fmt.Errorf("%s: no %s condition yet; conditions: %+v", obj.GetName(), typ, obj.Status.Conditions)
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("%s: %s=%s (%s: %s), want %s %s", obj.GetName(), typ, c.Status, c.Reason, c.Message, status, reason)
		}
		got = *c
		return nil
	})
	return got
}

// waitForMessage waits until obj's condition typ mentions want.
func waitForMessage(t *testing.T, obj *bigtablev1.BigtableTable, typ, want string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, typ)
		if c == nil || !strings.Contains(c.Message, want) {
			return fmt.Errorf("%s: %s condition %+v does not mention %q", obj.GetName(), typ, c, want)
		}
		got = *c
		return nil
	})
	return got
}

func waitReady(t *testing.T, obj *bigtablev1.BigtableTable) {
	t.Helper()
	waitFor(t, obj, commonv1.TypeReady, metav1.ConditionTrue, "")
}

// waitSynced waits until the object's current generation was applied.
func waitSynced(t *testing.T, obj *bigtablev1.BigtableTable) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, commonv1.TypeSynced)
		if obj.Status.ObservedGeneration != obj.Generation || c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("generation %d, observed %d, synced %+v", obj.Generation, obj.Status.ObservedGeneration, c)
		}
		return nil
	})
}

// waitGone waits until obj no longer exists in the API server.
func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if err == nil {
			return fmt.Errorf("%s still exists (finalizers %v)", obj.GetName(), obj.GetFinalizers())
		}
		return client.IgnoreNotFound(err)
	})
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func clientKey(obj client.Object) client.ObjectKey { return client.ObjectKeyFromObject(obj) }
