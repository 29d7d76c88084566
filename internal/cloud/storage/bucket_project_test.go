package storage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A ProviderConfig without spec.projectNumber (the usual case on GCP,
// where people give project ids): bucket names are global, so a team
// could declare or adopt a bucket of another project that no object
// manages and have infraplane change or delete it. infraplane asks Cloud
// Storage for the project's number (its service agent), and where that
// fails, manages only the buckets that carry the object's own ownership
// label.

// numberless is a scenario whose ProviderConfig (named pc) has no
// projectNumber and reaches Cloud Storage at endpoint.
func numberless(t *testing.T, pc, endpoint string) *scenario {
	t.Helper()
	cloud.start(t)
	cfg := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: pc},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   cloud.cloud.Project(),
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{Storage: endpoint},
		},
	}
	cfg.SetGroupVersionKind(corev1alpha1.GroupVersion.WithKind("ProviderConfig"))
	//nolint:staticcheck // typed server-side apply
	if err := env.Client.Patch(context.Background(), cfg, client.Apply, client.FieldOwner("bucket-project-test"), client.ForceOwnership); err != nil {
		t.Fatalf("apply ProviderConfig: %v", err)
	}
	return &scenario{ns: env.Namespace(t, pc), gcs: cloud.gcs}
}

// foreignBucket is a bucket of another project that no object manages,
// with labels, versioning and an object: what must stay as it is.
func foreignBucket(t *testing.T, s *scenario, base string) (string, *gcs.BucketAttrs) {
	t.Helper()
	ctx := context.Background()
	name := s.name(base)
	if err := s.gcs.Bucket(name).Create(ctx, "team-b-project", &gcs.BucketAttrs{
		Labels: map[string]string{"team": "b"}, VersioningEnabled: true,
	}); err != nil {
		t.Fatal(err)
	}
	s.putObject(t, name, "entries.csv")
	before, err := s.attrs(t, name)
	if err != nil {
		t.Fatal(err)
	}
	return name, before
}

// unchanged asserts that the foreign bucket is as it was, its object too.
func unchanged(t *testing.T, s *scenario, name string, before *gcs.BucketAttrs) {
	t.Helper()
	after, err := s.attrs(t, name)
	if err != nil {
		t.Fatalf("the other project's bucket is gone: %v", err)
	}
	if !reflect.DeepEqual(after.Labels, before.Labels) || after.VersioningEnabled != before.VersioningEnabled ||
		after.RetentionPolicy != nil || len(after.Lifecycle.Rules) != 0 || after.ProjectNumber != before.ProjectNumber {
		t.Errorf("the other project's bucket changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if _, err := s.gcs.Bucket(name).Object("entries.csv").Attrs(context.Background()); err != nil {
		t.Errorf("the other project's object is gone: %v", err)
	}
}

// hostile is a Bucket object that takes name and would change everything a
// team could: labels, versioning, retention, a lifecycle rule that deletes
// objects, and forceDestroy.
func hostile(s *scenario, objName, bucket string, adopt bool) *storagev1.Bucket {
	return &storagev1.Bucket{
		ObjectMeta: metav1.ObjectMeta{Name: objName, Namespace: s.ns},
		Spec: storagev1.BucketSpec{
			ManagedSpec:     commonv1.ManagedSpec{ResourceID: bucket, Adopt: adopt},
			Labels:          map[string]commonv1.LabelValue{"team": "a"},
			Versioning:      false,
			ForceDestroy:    true,
			RetentionPolicy: &storagev1.RetentionPolicy{RetentionPeriod: duration(time.Hour)},
			LifecycleRules: []storagev1.LifecycleRule{{
				Action:    storagev1.LifecycleAction{Type: "Delete"},
				Condition: storagev1.LifecycleCondition{Age: days(1)},
			}},
		},
	}
}

// refusedThenDeleted creates b, waits for its refusal (whose message holds
// every part of want), then deletes the object: it must go without
// having taken the bucket.
func refusedThenDeleted(t *testing.T, b *storagev1.Bucket, want ...string) {
	t.Helper()
	env.Create(t, b)
	c := env.WaitForMessage(t, b, commonv1.TypeSynced, want[0])
	for _, w := range want[1:] {
		if !strings.Contains(c.Message, w) {
			t.Errorf("Synced message lacks %q: %s", w, c.Message)
		}
	}
	if b.Status.ResourceID != "" {
		t.Errorf("took the bucket: status.resourceID %q", b.Status.ResourceID)
	}
	if err := env.Client.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, b)
}

// No projectNumber, and Cloud Storage names the project's number: a
// bucket of another project is refused, adopted or declared, and left as
// it was when the object goes; a bucket of the project is adopted.
func TestBucketProjectNumberLookedUp(t *testing.T) {
	cloud.start(t)
	s := numberless(t, "storage-no-number", cloud.cloud.Endpoints().Storage)
	bucket, before := foreignBucket(t, s, "team-b")
	number := fmt.Sprint(localcloud.ProjectNumber(cloud.cloud.Project()))

	refusedThenDeleted(t, hostile(s, "adopt", bucket, true), "a bucket of another project is never adopted, changed or deleted",
		bucket, fmt.Sprintf("(number %s)", number), `ProviderConfig "storage-no-number"`, "nothing was changed")
	unchanged(t, s, bucket, before)
	refusedThenDeleted(t, hostile(s, "declare", bucket, false), "a bucket of another project is never adopted, changed or deleted",
		bucket, fmt.Sprintf("(number %s)", number))
	unchanged(t, s, bucket, before)

	// The project's own bucket, made by hand, is adopted as before.
	mine := s.name("ours")
	if err := s.gcs.Bucket(mine).Create(context.Background(), cloud.cloud.Project(), nil); err != nil {
		t.Fatal(err)
	}
	b := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: "ours", Namespace: s.ns},
		Spec: storagev1.BucketSpec{ManagedSpec: commonv1.ManagedSpec{ResourceID: mine, Adopt: true, DeletionPolicy: commonv1.DeletionAbandon}}}
	env.Create(t, b)
	env.WaitReady(t, b)
	if b.Status.ResourceID != mine {
		t.Errorf("not adopted: %+v", b.Status)
	}
}

// lookupBreaker stands in front of the local Cloud Storage and spoils
// only the project-number lookup (projects.serviceAccount.get) with
// answer; everything else passes through.
func lookupBreaker(t *testing.T, answer http.HandlerFunc) (endpoint string, asked *atomic.Int64) {
	t.Helper()
	target, err := url.Parse(cloud.cloud.Endpoints().Storage)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	proxy := httputil.NewSingleHostReverseProxy(target)
	asked = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/serviceAccount") {
			asked.Add(1)
			answer(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/storage/v1/", asked
}

// No projectNumber, and the lookup fails (denied, or an answer that is
// not a service agent's address): a bucket that may be another project's
// is refused with what to do, and nothing in it changes; the object's own
// bucket (created by it) is still created, reconciled and deleted.
func TestBucketProjectLookupFails(t *testing.T) {
	cloud.start(t)
	for _, tc := range []struct {
		name   string
		answer http.HandlerFunc
		why    string
	}{
		{"denied", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"code":403,"message":"caller does not have resourcemanager.projects.get"}}`))
		}, "PermissionDenied: caller does not have resourcemanager.projects.get"},
		{"garbage", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"kind":"storage#serviceAccount","email_address":"service-1@evil.example.com"}`))
		}, "is not a service agent's address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			endpoint, asked := lookupBreaker(t, tc.answer)
			pc := "storage-lookup-" + tc.name
			s := numberless(t, pc, endpoint)
			bucket, before := foreignBucket(t, s, "team-b")

			refusedThenDeleted(t, hostile(s, "adopt", bucket, true), "its project could not be confirmed",
				bucket, tc.why, fmt.Sprintf("set spec.projectNumber on ProviderConfig %q", pc), "nothing was changed")
			unchanged(t, s, bucket, before)
			refusedThenDeleted(t, hostile(s, "declare", bucket, false), "its project could not be confirmed", bucket)
			unchanged(t, s, bucket, before)
			if asked.Load() == 0 {
				t.Error("the project number was never asked for")
			}

			// A new bucket is created; it carries this object's label, so
			// it is still managed: a spec change reaches it, and deleting
			// the object deletes it.
			own := s.bucket("own", func(b *storagev1.Bucket) { b.Spec.Labels = map[string]commonv1.LabelValue{"team": "a"} })
			env.Create(t, own)
			env.WaitReady(t, own)
			testenv.Update(t, env, own, func(b *storagev1.Bucket) { b.Spec.Versioning = true })
			env.WaitSynced(t, own)
			got, err := s.attrs(t, own.Name)
			if err != nil || !got.VersioningEnabled || got.Labels[managed.OwnerLabelKey] != managed.OwnerValue(s.ns, own.Name) {
				t.Fatalf("own bucket not reconciled: %+v, %v", got, err)
			}
			if err := env.Client.Delete(context.Background(), own); err != nil {
				t.Fatal(err)
			}
			env.WaitGone(t, own)
			if _, err := s.attrs(t, own.Name); err == nil {
				t.Error("own bucket not deleted with its object")
			}
		})
	}
}
