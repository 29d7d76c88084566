package managed

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
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
)

func init() {
	ctrlmetrics.Registry.MustRegister(reconcilesTotal, reconcileSeconds, cloudWritesTotal, driftedObjects, driftRepairsTotal)
}

// driftSet tracks which objects of one kind are drifted, for the gauge.
type driftSet struct {
	kind string
	mu   sync.Mutex
	set  map[types.NamespacedName]struct{}
}

func newDriftSet(kind string) *driftSet {
	driftedObjects.WithLabelValues(kind).Set(0)
	return &driftSet{kind: kind, set: map[types.NamespacedName]struct{}{}}
}

func (d *driftSet) mark(key types.NamespacedName, drifted bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if drifted {
		d.set[key] = struct{}{}
	} else {
		delete(d.set, key)
	}
	driftedObjects.WithLabelValues(d.kind).Set(float64(len(d.set)))
}

func observeReconcile(kind, result string, start time.Time) {
	reconcilesTotal.WithLabelValues(kind, result).Inc()
	reconcileSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}
