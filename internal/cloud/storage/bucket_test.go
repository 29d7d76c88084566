package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A bucket is created with its spec and our ownership label, spec edits
// reach the cloud with only the changed fields, and deleting the object
// deletes the (empty) bucket.
func TestBucketLifecycle(t *testing.T) {
	s := newScenario(t)
	b := s.bucket("assets", func(b *storagev1.Bucket) {
		b.Spec.Location = "europe-west1"
		b.Spec.StorageClass = "NEARLINE"
		b.Spec.Labels = map[string]commonv1.LabelValue{"team": "web"}
		b.Spec.Versioning = true
		b.Spec.UniformBucketLevelAccess = true
		b.Spec.LifecycleRules = []storagev1.LifecycleRule{{
			Action:    storagev1.LifecycleAction{Type: "Delete"},
			Condition: storagev1.LifecycleCondition{Age: days(30), WithState: "Archived"},
		}}
		b.Spec.RetentionPolicy = &storagev1.RetentionPolicy{RetentionPeriod: duration(24 * time.Hour)}
	})
	inserts := provider.CloudCalls("storage", "buckets.insert")
	env.Create(t, b)
	env.WaitReady(t, b)
	if n := provider.CloudCalls("storage", "buckets.insert") - inserts; n != 1 {
		t.Errorf("%v buckets.insert calls, want 1", n)
	}
	if b.Status.SelfLink != "projects/_/buckets/"+b.Name || b.Status.ResourceID != b.Name {
		t.Fatalf("status: selfLink %q resourceID %q", b.Status.SelfLink, b.Status.ResourceID)
	}
	if o := b.Status.Observed; o == nil || o.Location != "EUROPE-WEST1" || o.RetentionPolicy == nil || o.RetentionPolicy.IsLocked {
		t.Errorf("status.observed: %+v", o)
	}
	a, err := s.attrs(t, b.Name)
	if err != nil {
		t.Fatalf("bucket not in the cloud: %v", err)
	}
	if a.Location != "EUROPE-WEST1" || a.StorageClass != "NEARLINE" || !a.VersioningEnabled || !a.UniformBucketLevelAccess.Enabled ||
		a.RetentionPolicy == nil || a.RetentionPolicy.RetentionPeriod != 24*time.Hour || len(a.Lifecycle.Rules) != 1 ||
		a.Labels["team"] != "web" || a.Labels[managed.OwnerLabelKey] != managed.OwnerValue(s.ns, b.Name) {
		t.Errorf("bucket in the cloud: %+v", a)
	}

	patches := provider.CloudCalls("storage", "buckets.patch")
	testenv.Update(t, env, b, func(b *storagev1.Bucket) {
		b.Spec.StorageClass = "COLDLINE"
		b.Spec.Labels = map[string]commonv1.LabelValue{"env": "prod"}
		b.Spec.LifecycleRules = append(b.Spec.LifecycleRules, storagev1.LifecycleRule{
			Action:    storagev1.LifecycleAction{Type: "SetStorageClass", StorageClass: "ARCHIVE"},
			Condition: storagev1.LifecycleCondition{Age: days(365), MatchesStorageClass: []storagev1.StorageClass{"COLDLINE"}},
		})
		b.Spec.RetentionPolicy = nil
	})
	env.WaitSynced(t, b)
	a, err = s.attrs(t, b.Name)
	if err != nil {
		t.Fatal(err)
	}
	if a.StorageClass != "COLDLINE" || len(a.Lifecycle.Rules) != 2 || a.RetentionPolicy != nil || !a.VersioningEnabled ||
		a.Labels["env"] != "prod" || a.Labels["team"] != "" || a.Labels[managed.OwnerLabelKey] == "" {
		t.Errorf("after update: %+v", a)
	}
	if n := provider.CloudCalls("storage", "buckets.patch") - patches; n != 1 {
		t.Errorf("%v buckets.patch calls for one spec edit, want 1", n)
	}

	if err := env.Client.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, b)
	if _, err := s.attrs(t, b.Name); !errors.Is(err, gcs.ErrBucketNotExist) {
		t.Fatalf("bucket still in the cloud after delete: %v", err)
	}
}

// A bucket that holds objects is not deleted without forceDestroy: the
// condition says why and the object stays; with it, the objects go first.
func TestBucketNonEmptyNeedsForceDestroy(t *testing.T) {
	s := newScenario(t)
	b := s.bucket("full", func(b *storagev1.Bucket) { b.Spec.Versioning = true })
	env.Create(t, b)
	env.WaitReady(t, b)
	s.putObject(t, b.Name, "a.txt")
	s.putObject(t, b.Name, "a.txt") // a noncurrent version too

	if err := env.Client.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(t, b, commonv1.TypeSynced, "spec.forceDestroy")
	if b.DeletionTimestamp == nil || len(b.Finalizers) == 0 {
		t.Fatalf("object should wait with its finalizer: %+v", b.ObjectMeta)
	}
	if _, err := s.attrs(t, b.Name); err != nil {
		t.Fatalf("non-empty bucket deleted without forceDestroy: %v", err)
	}

	testenv.Update(t, env, b, func(b *storagev1.Bucket) { b.Spec.ForceDestroy = true })
	env.WaitGone(t, b)
	testenv.Eventually(t, 10*time.Second, func() error {
		if _, err := s.attrs(t, b.Name); !errors.Is(err, gcs.ErrBucketNotExist) {
			return errors.New("bucket still in the cloud")
		}
		return nil
	})
}
