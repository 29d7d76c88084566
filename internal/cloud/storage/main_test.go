package storage_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	code := testenv.Main(m, &env, testenv.Options{})
	cloud.stop()
	os.Exit(code)
}

// local is the local Cloud Storage (fake-gcs-server behind localcloud's
// field-keeping layer), started once per test binary. It needs nothing
// installed, so it is never skipped.
type local struct {
	once  sync.Once
	cloud *localcloud.Cloud
	gcs   *gcs.Client
	err   error
}

var cloud local

func (l *local) start(t *testing.T) {
	t.Helper()
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.cloud, l.err = localcloud.Start(ctx, localcloud.Options{Mode: localcloud.ModeFakes, Services: []localcloud.Service{localcloud.ServiceStorage}})
		if l.err != nil {
			return
		}
		l.gcs, l.err = gcs.NewClient(ctx, option.WithEndpoint(l.cloud.Endpoints().Storage), option.WithoutAuthentication())
	})
	if l.err != nil {
		t.Fatalf("starting the local Cloud Storage: %v", l.err)
	}
}

func (l *local) stop() {
	if l.cloud != nil {
		_ = l.gcs.Close()
		_ = l.cloud.Stop()
	}
}

// scenario is one test's namespace, whose ProviderConfig points at the
// local Cloud Storage.
type scenario struct {
	ns  string
	gcs *gcs.Client
}

func newScenario(t *testing.T) *scenario {
	cloud.start(t)
	pc := env.ProviderConfig(t, "test-storage", cloud.cloud)
	return &scenario{ns: env.Namespace(t, pc), gcs: cloud.gcs}
}

// name makes a bucket name unique to this scenario: bucket names are global.
func (s *scenario) name(base string) string { return s.ns + "-" + base }

func (s *scenario) bucket(base string, mutate ...func(*storagev1.Bucket)) *storagev1.Bucket {
	b := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: s.name(base), Namespace: s.ns}}
	for _, m := range mutate {
		m(b)
	}
	return b
}

func (s *scenario) attrs(t *testing.T, name string) (*gcs.BucketAttrs, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.gcs.Bucket(name).Attrs(ctx)
}

// putObject writes a small object into a bucket, as a user would.
func (s *scenario) putObject(t *testing.T, bucket, name string) {
	t.Helper()
	w := s.gcs.Bucket(bucket).Object(name).NewWriter(context.Background())
	if _, err := w.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

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

// waitFor waits until b has condition typ with status (and reason, if
// given), and returns the condition.
func waitFor(t *testing.T, b *storagev1.Bucket, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), b); err != nil {
			return err
		}
		c := meta.FindStatusCondition(b.Status.Conditions, typ)
		if c == nil {
			return fmt.Errorf("%s: no %s condition yet; conditions: %+v", b.Name, typ, b.Status.Conditions)
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("%s: %s=%s (%s: %s), want %s %s", b.Name, typ, c.Status, c.Reason, c.Message, status, reason)
		}
		got = *c
		return nil
	})
	return got
}

// waitForMessage waits until b's condition typ mentions want.
func waitForMessage(t *testing.T, b *storagev1.Bucket, typ, want string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), b); err != nil {
			return err
		}
		c := meta.FindStatusCondition(b.Status.Conditions, typ)
		if c == nil || !strings.Contains(c.Message, want) {
			return fmt.Errorf("%s: %s condition %+v does not mention %q", b.Name, typ, c, want)
		}
		got = *c
		return nil
	})
	return got
}

func waitReady(t *testing.T, b *storagev1.Bucket) {
	t.Helper()
	waitFor(t, b, commonv1.TypeReady, metav1.ConditionTrue, "")
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

// waitSynced waits until the controller acted on b's current generation.
func waitSynced(t *testing.T, b *storagev1.Bucket) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), b); err != nil {
			return err
		}
		if b.Status.ObservedGeneration != b.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", b.Status.ObservedGeneration, b.Generation)
		}
		return nil
	})
	waitFor(t, b, commonv1.TypeSynced, metav1.ConditionTrue, "")
}

func days(n int32) *int32 { return &n }

func duration(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
