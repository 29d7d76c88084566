package gitops

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	syncsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_gitops_syncs_total",
		Help: "GitSource syncs by result (applied, failed).",
	}, []string{"result"})
	syncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "infraplane_gitops_sync_duration_seconds",
		Help:    "Time of one GitSource sync: fetch, render, check, apply, prune.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	})
	objectsApplied = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "infraplane_gitops_objects_applied_total",
		Help: "Objects created or changed by GitSource syncs.",
	})
	objectsPruned = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "infraplane_gitops_objects_pruned_total",
		Help: "Objects deleted because they left git.",
	})
	// Per GitSource, so an alert can name the failing one (the counters
	// above are totals).
	sourceFailing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "infraplane_gitops_source_failing",
		Help: "1 while a GitSource's last sync failed (nothing applied: fetch, render, validation, authorization or apply failed), 0 after one applied or held its prune; absent while suspended.",
	}, []string{"namespace", "gitsource"})
	// By endpoint and answer only (no GitSource): a flood shows as 404s
	// or 429s without naming whose path it hit.
	hookRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_gitops_hook_requests_total",
		Help: "Push-hook requests by endpoint (source: a GitSource's own path; shared: /hooks/git) and HTTP status code.",
	}, []string{"endpoint", "code"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(syncsTotal, syncSeconds, objectsApplied, objectsPruned, sourceFailing, hookRequests)
}
