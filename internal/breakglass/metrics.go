package breakglass

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

var (
	heldObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "infraplane_breakglass_held_objects",
		Help: "Objects held apart from git after a break-glass ended with them diverged, by namespace. Alert when it stays above 0.",
	}, []string{"namespace"})
	activeBreakGlasses = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "infraplane_breakglass_active",
		Help: "Break-glasses whose window is open, by namespace.",
	}, []string{"namespace"})
	expiryLateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "infraplane_breakglass_expiry_lateness_seconds",
		Help:    "How long after its expiry time a break-glass was ended.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30},
	})
	deniedEdits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_breakglass_denied_edits_total",
		Help: "Direct writes to GitOps-managed objects the admission webhook denied, by kind.",
	}, []string{"kind"})
)

func init() {
	metrics.Registry.MustRegister(heldObjects, activeBreakGlasses, expiryLateness, deniedEdits)
}

// updateMetrics recounts held objects and active break-glasses from the
// cache (a handful of objects), with current in place of its cached copy
// (the cache may not have seen the write just made).
func updateMetrics(ctx context.Context, c client.Reader, current *corev1alpha1.BreakGlass) {
	var list corev1alpha1.BreakGlassList
	if err := c.List(ctx, &list); err != nil {
		return
	}
	heldObjects.Reset()
	activeBreakGlasses.Reset()
	now := time.Now()
	for i := range list.Items {
		bg := list.Items[i]
		if bg.UID == current.UID {
			bg = *current
		}
		heldObjects.WithLabelValues(bg.Namespace).Add(float64(len(bg.Status.Held)))
		if ActiveAt(&bg, now) {
			activeBreakGlasses.WithLabelValues(bg.Namespace).Inc()
		}
	}
}
