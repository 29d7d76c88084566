package storage_test

import (
	"context"
	"testing"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
)

// deletionPolicy Abandon releases the object and leaves the bucket;
// applying the object again finds it by its ownership label.
func TestBucketDeletionPolicyAbandon(t *testing.T) {
	s := newScenario(t)
	b := s.bucket("kept", func(b *storagev1.Bucket) { b.Spec.DeletionPolicy = commonv1.DeletionAbandon })
	env.Create(t, b)
	env.WaitReady(t, b)
	if err := env.Client.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, b)
	if _, err := s.attrs(t, b.Name); err != nil {
		t.Fatalf("abandoned bucket gone from the cloud: %v", err)
	}
	again := s.bucket("kept")
	env.Create(t, again)
	env.WaitReady(t, again)
	if again.Status.ResourceID != again.Name {
		t.Errorf("re-applied object did not take its bucket back: %+v", again.Status)
	}
}
