package storage_test

import (
	"fmt"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"

	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// In steady state buckets resync from one listing of the project (the
// bucket list returns full metadata) rather than a Get each, and drift
// made in the cloud meanwhile is still found (through the listing,
// confirmed by a Get) and repaired.
func TestBucketResyncsFromListing(t *testing.T) {
	s := newScenario(t)
	const n = 4
	for i := range n {
		b := s.bucket(fmt.Sprintf("listed-%d", i), func(b *storagev1.Bucket) {
			b.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
		})
		env.Create(t, b)
		env.WaitReady(t, b)
	}
	const pc = "test-storage"
	count := func() (gets, listed float64) {
		return managed.Observes("Bucket", pc, "get"), managed.Observes("Bucket", pc, "listing")
	}
	wait := func(since float64, more float64) (float64, float64) {
		var g, l float64
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			g, l = count()
			if l-since < more {
				return fmt.Errorf("%v resyncs answered from a listing, want %v", l-since, more)
			}
			return nil
		})
		return g, l
	}
	_, l0 := count()
	g1, l1 := wait(l0, 2*n) // past the first resyncs after the creates
	g2, l2 := wait(l1, 3*n)
	t.Logf("%.0f resyncs answered from listings, %.0f Gets", l2-l1, g2-g1)
	if g2-g1 > 0.05*(l2-l1)+2 {
		t.Errorf("%.0f Gets against %.0f resyncs answered from listings: want about none in steady state", g2-g1, l2-l1)
	}

	b := s.bucket("listed-0")
	s.changeBehindOurBack(t, b.Name, gcs.BucketAttrsToUpdate{VersioningEnabled: true, StorageClass: "COLDLINE"})
	env.WaitFor(t, b, commonv1.TypeDrifted, metav1.ConditionFalse, commonv1.ReasonDriftRepaired)
	if a, err := s.attrs(t, b.Name); err != nil || a.VersioningEnabled || a.StorageClass != "STANDARD" {
		t.Errorf("after the repair: %+v, %v", a, err)
	}
}
