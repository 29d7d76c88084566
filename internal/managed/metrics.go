package managed

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// Metrics are registered with controller-runtime's registry, so the
// manager's /metrics endpoint serves them next to the workqueue metrics.
var (
	reconcilesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_reconciles_total",
		Help: "Reconciles of managed objects by kind and result (success, error, waiting).",
	}, []string{"kind", "result"})

	reconcileSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "infraplane_reconcile_duration_seconds",
		Help:    "Time to reconcile one managed object, by kind.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"kind"})

	cloudWritesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_cloud_writes_total",
		Help: "Create, update and delete calls made by controllers, by kind, operation and outcome.",
	}, []string{"kind", "operation", "outcome"})

	driftedObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "infraplane_drifted_objects",
		Help: "Managed objects whose cloud resource currently differs from the spec, by kind.",
	}, []string{"kind"})

	driftRepairsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_drift_repairs_total",
		Help: "Drift found on resync and written back to the cloud, by kind.",
	}, []string{"kind"})

	managedObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "infraplane_managed_objects",
		Help: "Managed objects by kind and the status (True, False, Unknown) of each of their conditions (Ready, Synced, Drifted, Paused, Diverged), as of their last reconcile.",
	}, []string{"kind", "condition", "status"})

	// A time stamp rather than an age: Prometheus computes the age, and
	// the gauge changes only when an object becomes or stops being unready.
	oldestNotReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "infraplane_managed_oldest_not_ready_timestamp_seconds",
		Help: "Since when (Unix time of its Ready condition's last transition) the longest-unready object of a kind has not been Ready; absent while all are Ready.",
	}, []string{"kind"})

	// Batched reads (listing.go): how many listings were taken, and how
	// each resync read the cloud. infraplane_cloud_calls_total counts the
	// List calls themselves (one per page).
	cloudListingsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_cloud_listings_total",
		Help: "Listings of a kind's cloud resources (all pages of one project) taken to answer resyncs, by kind, ProviderConfig and result (ok, error).",
	}, []string{"kind", "providerconfig", "result"})

	cloudObservesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_cloud_observes_total",
		Help: "Reads of one object's cloud resource, by kind, ProviderConfig and source: get (a Get call) or listing (answered from a shared listing, no call).",
	}, []string{"kind", "providerconfig", "source"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(reconcilesTotal, reconcileSeconds, cloudWritesTotal, driftedObjects, driftRepairsTotal,
		managedObjects, oldestNotReady, cloudListingsTotal, cloudObservesTotal)
}

// objectSet keeps what the gauges need to know of each object of one
// kind: its conditions' statuses and, while it is not Ready, since when.
type objectSet struct {
	kind   string
	mu     sync.Mutex
	objs   map[types.NamespacedName]objectState
	counts map[condStatus]int
}

type condStatus struct{ cond, status string }

type objectState struct {
	conds []condStatus
	// notReadySince is the Ready condition's last transition to False or
	// Unknown (zero while Ready, or with no Ready condition yet).
	notReadySince time.Time
}

func newObjectSet(kind string) *objectSet {
	driftedObjects.WithLabelValues(kind).Set(0)
	// The standard conditions show from the start, at 0.
	for _, c := range []string{commonv1.TypeReady, commonv1.TypeSynced, commonv1.TypeDrifted, commonv1.TypePaused} {
		for _, st := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse} {
			managedObjects.WithLabelValues(kind, c, string(st)).Set(0)
		}
	}
	return &objectSet{kind: kind, objs: map[types.NamespacedName]objectState{}, counts: map[condStatus]int{}}
}

// mark records an object's conditions after a pass.
func (s *objectSet) mark(key types.NamespacedName, conds []metav1.Condition) {
	st := objectState{conds: make([]condStatus, len(conds))}
	for i, c := range conds {
		st.conds[i] = condStatus{c.Type, string(c.Status)}
		if c.Type == commonv1.TypeReady && c.Status != metav1.ConditionTrue {
			st.notReadySince = c.LastTransitionTime.Time
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.objs[key]
	s.objs[key] = st
	s.update(old, st, had)
}

// forget drops an object that is gone.
func (s *objectSet) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.objs[key]
	if !had {
		return
	}
	delete(s.objs, key)
	s.update(old, objectState{}, true)
}

// update moves the counts from old to st; s.mu is held.
func (s *objectSet) update(old, st objectState, had bool) {
	if had {
		for _, c := range old.conds {
			s.counts[c]--
			managedObjects.WithLabelValues(s.kind, c.cond, c.status).Set(float64(s.counts[c]))
		}
	}
	for _, c := range st.conds {
		s.counts[c]++
		managedObjects.WithLabelValues(s.kind, c.cond, c.status).Set(float64(s.counts[c]))
	}
	driftedObjects.WithLabelValues(s.kind).Set(float64(s.counts[condStatus{commonv1.TypeDrifted, string(metav1.ConditionTrue)}]))
	if old.notReadySince.Equal(st.notReadySince) {
		return
	}
	// Only when this object became or stopped being unready (rare next to
	// passes) can the oldest have changed: then look at every object.
	var oldest time.Time
	for _, o := range s.objs {
		if !o.notReadySince.IsZero() && (oldest.IsZero() || o.notReadySince.Before(oldest)) {
			oldest = o.notReadySince
		}
	}
	if oldest.IsZero() {
		oldestNotReady.DeleteLabelValues(s.kind)
		return
	}
	oldestNotReady.WithLabelValues(s.kind).Set(float64(oldest.Unix()))
}

func observeReconcile(kind, result string, start time.Time) {
	reconcilesTotal.WithLabelValues(kind, result).Inc()
	reconcileSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// Listings returns how many listings of kind were taken with ProviderConfig
// pc and ended in result (ok, error); tests and benchmarks count with it.
func Listings(kind, pc, result string) float64 {
	return counterValue(cloudListingsTotal.WithLabelValues(kind, pc, result))
}

// Observes returns how many resyncs of kind under ProviderConfig pc read
// the cloud from source (get, listing).
func Observes(kind, pc, source string) float64 {
	return counterValue(cloudObservesTotal.WithLabelValues(kind, pc, source))
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
