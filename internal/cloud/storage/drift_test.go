package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// changeBehindOurBack edits a bucket directly in the cloud, as a person
// with gcloud would.
func (s *scenario) changeBehindOurBack(t *testing.T, name string, ua gcs.BucketAttrsToUpdate) {
	t.Helper()
	if _, err := s.gcs.Bucket(name).Update(context.Background(), ua); err != nil {
		t.Fatal(err)
	}
}

// A change made directly in the cloud is found on the next resync and
// written back, with a DriftRepaired record in the Drifted condition.
func TestBucketDriftRepaired(t *testing.T) {
	s := newScenario(t)
	b := s.bucket("drifty", func(b *storagev1.Bucket) {
		b.Spec.StorageClass = "NEARLINE"
		b.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
	})
	env.Create(t, b)
	env.WaitReady(t, b)

	s.changeBehindOurBack(t, b.Name, gcs.BucketAttrsToUpdate{StorageClass: "ARCHIVE", VersioningEnabled: true})
	c := env.WaitFor(t, b, commonv1.TypeDrifted, metav1.ConditionFalse, commonv1.ReasonDriftRepaired)
	if !strings.Contains(c.Message, "spec.storageClass") || !strings.Contains(c.Message, "spec.versioning") {
		t.Errorf("repair record should name the fields: %q", c.Message)
	}
	a, err := s.attrs(t, b.Name)
	if err != nil {
		t.Fatal(err)
	}
	if a.StorageClass != "NEARLINE" || a.VersioningEnabled {
		t.Errorf("after repair: class %s versioning %v", a.StorageClass, a.VersioningEnabled)
	}
}

// ObserveOnly reports drift with desired and actual values and never
// writes to the cloud.
func TestBucketObserveOnlyReportsDrift(t *testing.T) {
	s := newScenario(t)
	b := s.bucket("watched", func(b *storagev1.Bucket) {
		b.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
	})
	env.Create(t, b)
	env.WaitReady(t, b)
	testenv.Update(t, env, b, func(b *storagev1.Bucket) { b.Spec.ManagementPolicy = commonv1.ManagementObserveOnly })
	env.WaitSynced(t, b)

	writes := provider.CloudCalls("storage", "buckets.patch")
	s.changeBehindOurBack(t, b.Name, gcs.BucketAttrsToUpdate{StorageClass: "COLDLINE"})
	c := env.WaitFor(t, b, commonv1.TypeDrifted, metav1.ConditionTrue, commonv1.ReasonDriftDetected)
	if !strings.Contains(c.Message, "ObserveOnly") {
		t.Errorf("drift message should say why it is not repaired: %q", c.Message)
	}
	if len(b.Status.Drift) != 1 || b.Status.Drift[0].Field != "spec.storageClass" ||
		b.Status.Drift[0].Desired != "STANDARD" || b.Status.Drift[0].Actual != "COLDLINE" {
		t.Errorf("status.drift = %+v", b.Status.Drift)
	}
	time.Sleep(2 * time.Second) // two more resyncs
	if n := provider.CloudCalls("storage", "buckets.patch") - writes; n != 0 {
		t.Errorf("ObserveOnly made %v buckets.patch calls", n)
	}
	if a, err := s.attrs(t, b.Name); err != nil || a.StorageClass != "COLDLINE" {
		t.Errorf("ObserveOnly changed the cloud: %+v %v", a, err)
	}
}
