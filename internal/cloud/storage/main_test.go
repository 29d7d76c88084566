package storage_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/option"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	// The controllers mint impersonation tokens at an in-process stand-in
	// for the IAM Credentials API (identity_test.go).
	iam = startIAMStandIn()
	code := testenv.Main(m, &env, testenv.Options{Controllers: controllers.Options{
		IAMCredentialsEndpoint: iam.URL + "/",
		IAMCredentialsOptions:  []option.ClientOption{option.WithoutAuthentication()},
	}})
	cloud.stop()
	iam.Close()
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

func days(n int32) *int32 { return &n }

func duration(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
