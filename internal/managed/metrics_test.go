package managed

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// The condition counts and the oldest unready time follow the objects'
// passes and deletions.
func TestObjectSetGauges(t *testing.T) {
	const kind = "MetricsTestKind"
	s := newObjectSet(kind)
	count := func(cond, status string) float64 {
		return gaugeValue(t, managedObjects.WithLabelValues(kind, cond, status))
	}
	oldest := func() (float64, bool) {
		ch := make(chan prometheus.Metric, 64)
		oldestNotReady.Collect(ch)
		close(ch)
		for m := range ch {
			var d dto.Metric
			if err := m.Write(&d); err != nil {
				t.Fatal(err)
			}
			if d.GetLabel()[0].GetValue() == kind {
				return d.GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	conds := func(ready metav1.ConditionStatus, since time.Time, drifted metav1.ConditionStatus) []metav1.Condition {
		return []metav1.Condition{
			{Type: "Ready", Status: ready, LastTransitionTime: metav1.NewTime(since)},
			{Type: "Synced", Status: ready, LastTransitionTime: metav1.NewTime(since)},
			{Type: "Drifted", Status: drifted, LastTransitionTime: metav1.NewTime(since)},
		}
	}
	a, b := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}

	if _, ok := oldest(); ok {
		t.Fatalf("an oldest unready time with no objects")
	}
	s.mark(a, conds(metav1.ConditionTrue, t0, metav1.ConditionFalse))
	s.mark(b, conds(metav1.ConditionFalse, t0.Add(time.Minute), metav1.ConditionTrue))
	if r, nr, d := count("Ready", "True"), count("Ready", "False"), gaugeValue(t, driftedObjects.WithLabelValues(kind)); r != 1 || nr != 1 || d != 1 {
		t.Fatalf("Ready=True %v, Ready=False %v, drifted %v; want 1, 1, 1", r, nr, d)
	}
	if v, ok := oldest(); !ok || v != float64(t0.Add(time.Minute).Unix()) {
		t.Fatalf("oldest unready %v (%v), want b's transition time", v, ok)
	}
	// a turning unready now is younger than b: b stays the oldest.
	s.mark(a, conds(metav1.ConditionFalse, t0.Add(2*time.Minute), metav1.ConditionFalse))
	if v, _ := oldest(); v != float64(t0.Add(time.Minute).Unix()) {
		t.Fatalf("oldest unready %v, want still b's", v)
	}
	if nr := count("Ready", "False"); nr != 2 {
		t.Fatalf("Ready=False %v, want 2", nr)
	}
	s.forget(b)
	if v, _ := oldest(); v != float64(t0.Add(2*time.Minute).Unix()) {
		t.Fatalf("after b is gone: oldest unready %v, want a's", v)
	}
	if d := gaugeValue(t, driftedObjects.WithLabelValues(kind)); d != 0 {
		t.Fatalf("drifted %v after the drifted object went, want 0", d)
	}
	s.mark(a, conds(metav1.ConditionTrue, t0.Add(3*time.Minute), metav1.ConditionFalse))
	if _, ok := oldest(); ok {
		t.Fatalf("an oldest unready time while every object is Ready")
	}
	if r, nr := count("Ready", "True"), count("Ready", "False"); r != 1 || nr != 0 {
		t.Fatalf("Ready=True %v, Ready=False %v; want 1, 0", r, nr)
	}
}
