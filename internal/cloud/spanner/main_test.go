package spanner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	database "cloud.google.com/go/spanner/admin/database/apiv1"
	instance "cloud.google.com/go/spanner/admin/instance/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	code := testenv.Main(m, &env, testenv.Options{})
	emu.stop()
	os.Exit(code)
}

// emulatorBackend is the real Cloud Spanner emulator, started once per
// test binary, with admin clients for checking what really exists, and an
// update-capable proxy in front of it (see proxy_test.go).
type emulatorBackend struct {
	once      sync.Once
	err       error
	cloud     *localcloud.Cloud
	instances *instance.InstanceAdminClient
	databases *database.DatabaseAdminClient
	proxy     *updateProxy
}

var emu emulatorBackend

func (b *emulatorBackend) start(t *testing.T) {
	t.Helper()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b.cloud, b.err = localcloud.Start(ctx, localcloud.Options{
			Mode: localcloud.ModeEmulators, Services: []localcloud.Service{localcloud.ServiceSpanner}, LogDir: os.TempDir(),
		})
		if b.err != nil {
			return
		}
		addr := b.cloud.Endpoints().Spanner
		opts := clientOptions(addr)
		if b.instances, b.err = instance.NewInstanceAdminClient(ctx, opts...); b.err != nil {
			return
		}
		if b.databases, b.err = database.NewDatabaseAdminClient(ctx, opts...); b.err != nil {
			return
		}
		b.proxy, b.err = startUpdateProxy(addr)
	})
	if errors.Is(b.err, localcloud.ErrNotInstalled) {
		cloudtest.Unavailable(t, "Spanner emulator: %v", b.err)
	}
	if b.err != nil {
		t.Fatalf("starting the Spanner emulator: %v", b.err)
	}
}

func (b *emulatorBackend) stop() {
	if b.proxy != nil {
		b.proxy.stop()
	}
	if b.cloud != nil {
		b.instances.Close()
		b.databases.Close()
		_ = b.cloud.Stop()
	}
}

func clientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// scenario is one test's namespace and project (a project of its own, so
// that listing instances sees only the test's).
type scenario struct {
	ns      string
	project string
}

var projects atomic.Int32

// onEmulator gives a test a namespace whose ProviderConfig points at the
// emulator itself.
func onEmulator(t *testing.T) *scenario {
	emu.start(t)
	return newScenario(t, emu.cloud.Endpoints().Spanner)
}

// onProxy gives a test a namespace whose ProviderConfig points at the
// update-capable proxy in front of the emulator.
func onProxy(t *testing.T) *scenario {
	emu.start(t)
	return newScenario(t, emu.proxy.addr)
}

func newScenario(t *testing.T, endpoint string) *scenario {
	t.Helper()
	n := projects.Add(1)
	project := fmt.Sprintf("spanner-test-%d", n)
	pc := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: project},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   project,
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{Spanner: endpoint},
		},
	}
	if err := env.Client.Create(context.Background(), pc); err != nil {
		t.Fatalf("create ProviderConfig: %v", err)
	}
	return &scenario{ns: env.Namespace(t, pc.Name), project: project}
}

func (s *scenario) instanceName(id string) string {
	return fmt.Sprintf("projects/%s/instances/%s", s.project, id)
}

func (s *scenario) databaseName(inst, id string) string {
	return s.instanceName(inst) + "/databases/" + id
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
