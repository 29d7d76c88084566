package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	gcs "cloud.google.com/go/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Attack 2 of the tenancy issue: bucket names are global, and an adopted
// or imported bucket carried no ownership label, so a team-a object with
// resourceID: <team-b's bucket>, adopt: true and forceDestroy: true, then
// deleted, destroyed the bucket and its objects. The object that adopted
// it first holds a ResourceClaim (adopting stays free of cloud writes, as
// imported manifests promise), so the second adopter is refused; and the
// bucket with its objects is still there after the attacker's object is
// deleted (checked with the Storage API directly).
func TestTenancyAdoptAnotherTeamsBucketRefused(t *testing.T) {
	ctx := context.Background()
	teamB, teamA := newScenario(t), newScenario(t)
	bucket := teamB.name("ledger")
	if err := teamB.gcs.Bucket(bucket).Create(ctx, cloud.cloud.Project(), nil); err != nil {
		t.Fatal(err)
	}
	w := teamB.gcs.Bucket(bucket).Object("entries.csv").NewWriter(ctx)
	_, _ = w.Write([]byte("42\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// team-b imports (adopts) its bucket: the ownership label is stamped.
	own := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: teamB.ns},
		Spec: storagev1.BucketSpec{ManagedSpec: commonv1.ManagedSpec{ResourceID: bucket, Adopt: true}}}
	env.Create(t, own)
	env.WaitReady(t, own)
	if err := env.Client.Get(ctx, client.ObjectKey{Name: managed.ClaimName("projects/_/buckets/" + bucket)}, &corev1alpha1.ResourceClaim{}); err != nil {
		t.Fatalf("no claim for the adopted bucket: %v", err)
	}

	steal := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: "steal", Namespace: teamA.ns},
		Spec: storagev1.BucketSpec{ManagedSpec: commonv1.ManagedSpec{ResourceID: bucket, Adopt: true}, ForceDestroy: true}}
	env.Create(t, steal)
	c := env.WaitFor(t, steal, commonv1.TypeSynced, metav1.ConditionFalse, commonv1.ReasonAlreadyExists)
	if !strings.Contains(c.Message, "managed by an object in another namespace") {
		t.Errorf("Synced: %s", c.Message)
	}
	if err := env.Client.Delete(ctx, steal); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, steal)
	if _, err := teamB.gcs.Bucket(bucket).Object("entries.csv").Attrs(ctx); err != nil {
		t.Fatalf("team-b's object is gone: %v", err)
	}
}

// forceDestroy set on the adopting generation does not destroy what is in
// an adopted bucket: the spec must change after the adoption.
func TestTenancyAdoptedBucketNotForceDestroyed(t *testing.T) {
	ctx := context.Background()
	s := newScenario(t)
	bucket := s.name("legacy")
	if err := s.gcs.Bucket(bucket).Create(ctx, cloud.cloud.Project(), nil); err != nil {
		t.Fatal(err)
	}
	w := s.gcs.Bucket(bucket).Object("keep.txt").NewWriter(ctx)
	_, _ = w.Write([]byte("data"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: s.ns},
		Spec: storagev1.BucketSpec{ManagedSpec: commonv1.ManagedSpec{ResourceID: bucket, Adopt: true}, ForceDestroy: true}}
	env.Create(t, b)
	env.WaitReady(t, b)
	if err := env.Client.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(t, b, commonv1.TypeSynced, "adopting is never a way to destroy its contents")
	if _, err := s.gcs.Bucket(bucket).Object("keep.txt").Attrs(ctx); errors.Is(err, gcs.ErrObjectNotExist) {
		t.Fatal("the adopted bucket's object was destroyed")
	}
	// Let it go, keeping the bucket.
	testenv.Update(t, env, b, func(b *storagev1.Bucket) { b.Spec.DeletionPolicy = commonv1.DeletionAbandon })
	env.WaitGone(t, b)
}

// The other half of attack 2: team-b's bucket that no object manages
// (made by hand in team-b's project). Bucket names are global, but the
// cloud says which project a bucket belongs to (by number): a team-a
// object may not adopt it, and deleting that object changes nothing.
func TestTenancyAdoptAnotherProjectsBucketRefused(t *testing.T) {
	ctx := context.Background()
	s := newScenario(t)
	bucket := s.name("team-b-unmanaged")
	if err := s.gcs.Bucket(bucket).Create(ctx, "team-b-project", nil); err != nil {
		t.Fatal(err)
	}
	w := s.gcs.Bucket(bucket).Object("entries.csv").NewWriter(ctx)
	_, _ = w.Write([]byte("42\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	steal := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Name: "steal", Namespace: s.ns},
		Spec: storagev1.BucketSpec{ManagedSpec: commonv1.ManagedSpec{ResourceID: bucket, Adopt: true}, ForceDestroy: true}}
	env.Create(t, steal)
	c := env.WaitForMessage(t, steal, commonv1.TypeSynced, "a bucket of another project is never adopted")
	if !strings.Contains(c.Message, bucket) || !strings.Contains(c.Message, `ProviderConfig "test-storage"`) {
		t.Errorf("Synced: %s", c.Message)
	}
	if steal.Status.ResourceID != "" {
		t.Errorf("adopted: %q", steal.Status.ResourceID)
	}
	if err := env.Client.Delete(ctx, steal); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, steal)
	if _, err := s.gcs.Bucket(bucket).Object("entries.csv").Attrs(ctx); err != nil {
		t.Fatalf("team-b's object is gone: %v", err)
	}
}
