package managed

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A team's spec.resyncInterval below the controller's floor is raised to
// it (every team's objects share the kind's workers); unset, the default
// applies; without a floor, any interval is honoured.
func TestSpecResyncIntervalHasAFloor(t *testing.T) {
	d := func(v time.Duration) *metav1.Duration { return &metav1.Duration{Duration: v} }
	for _, c := range []struct {
		spec       *metav1.Duration
		def, floor time.Duration
		want       time.Duration
	}{
		{d(time.Millisecond), 5 * time.Minute, 10 * time.Second, 10 * time.Second},
		{d(time.Minute), 5 * time.Minute, 10 * time.Second, time.Minute},
		{nil, 5 * time.Minute, 10 * time.Second, 5 * time.Minute},
		{d(0), 5 * time.Minute, 10 * time.Second, 5 * time.Minute},
		{d(time.Second), 5 * time.Minute, 0, time.Second},
	} {
		if got := resyncOf(c.spec, c.def, c.floor); got != c.want {
			t.Errorf("spec %v, default %v, floor %v: %v, want %v", c.spec, c.def, c.floor, got, c.want)
		}
	}
}
