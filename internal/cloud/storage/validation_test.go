package storage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Input the cloud would refuse is refused by the API server at apply time,
// with a message that names the field.
func TestBucketInvalidSpecsRefused(t *testing.T) {
	s := &scenario{ns: "default"}
	b := func(name string, m func(*storagev1.Bucket)) *storagev1.Bucket {
		return &storagev1.Bucket{ObjectMeta: s.bucket(name).ObjectMeta, Spec: func() storagev1.BucketSpec { x := &storagev1.Bucket{}; m(x); return x.Spec }()}
	}
	cases := []struct {
		name string
		obj  *storagev1.Bucket
		want []string
	}{
		{"storage class", b("bad-class", func(b *storagev1.Bucket) { b.Spec.StorageClass = "COLD" }), []string{"spec.storageClass", "NEARLINE"}},
		{"google in the name", b("my-google-bucket", func(*storagev1.Bucket) {}), []string{"metadata.name", "google"}},
		{"resourceID", b("ok-name", func(b *storagev1.Bucket) { b.Spec.ResourceID = "Bad_Name" }), []string{"spec.resourceID"}},
		{"label key", b("bad-label", func(b *storagev1.Bucket) { b.Spec.Labels = map[string]commonv1.LabelValue{"Team": "x"} }), []string{"spec.labels", "lowercase"}},
		{"location", b("bad-location", func(b *storagev1.Bucket) { b.Spec.Location = "europe west1" }), []string{"spec.location"}},
		{"lifecycle action", b("bad-action", func(b *storagev1.Bucket) {
			b.Spec.LifecycleRules = []storagev1.LifecycleRule{{Action: storagev1.LifecycleAction{Type: "SetStorageClass"}, Condition: storagev1.LifecycleCondition{Age: days(1)}}}
		}), []string{"spec.lifecycleRules[0].action", "storageClass is required"}},
		{"lifecycle condition", b("empty-condition", func(b *storagev1.Bucket) {
			b.Spec.LifecycleRules = []storagev1.LifecycleRule{{Action: storagev1.LifecycleAction{Type: "Delete"}}}
		}), []string{"spec.lifecycleRules[0].condition", "at least one"}},
		{"lifecycle date", b("bad-date", func(b *storagev1.Bucket) {
			b.Spec.LifecycleRules = []storagev1.LifecycleRule{{Action: storagev1.LifecycleAction{Type: "Delete"}, Condition: storagev1.LifecycleCondition{CreatedBefore: "2024-13-01"}}}
		}), []string{"spec.lifecycleRules[0].condition.createdBefore"}},
		{"retention", b("bad-retention", func(b *storagev1.Bucket) {
			b.Spec.RetentionPolicy = &storagev1.RetentionPolicy{RetentionPeriod: duration(200 * 365 * 24 * time.Hour)}
		}), []string{"spec.retentionPolicy.retentionPeriod", "100 years"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env.CreateRefused(t, tc.obj, tc.want...)
		})
	}
}

// The location cannot change: a bucket cannot move.
func TestBucketLocationImmutable(t *testing.T) {
	b := &storagev1.Bucket{}
	b.Name, b.Namespace = "immutable-location", "default"
	b.Spec.Location = "EU"
	b.Spec.ManagementPolicy = commonv1.ManagementObserveOnly // no cloud needed
	env.Create(t, b)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), b) })
	testenv.Update(t, env, b, func(b *storagev1.Bucket) { b.Spec.Location = "eu" }) // the same place
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(b), b); err != nil {
			return err
		}
		b.Spec.Location = "US"
		err := env.Client.Update(context.Background(), b)
		if err == nil || !strings.Contains(err.Error(), "location cannot change") {
			return fmt.Errorf("location change: %v", err)
		}
		return nil
	})
}
