package blueprint

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// rolloutHalted is 1 for a Blueprint whose latest revision failed on
// judged instances: the rest of the fleet stays behind until a person
// fixes the revision or the instances. A halt never clears by waiting.
var rolloutHalted = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "infraplane_blueprint_rollout_halted",
	Help: "1 while a Blueprint's rollout is halted (instances failed on its latest revision; the others stay on older revisions), else 0.",
}, []string{"blueprint"})

func init() { ctrlmetrics.Registry.MustRegister(rolloutHalted) }

// observeRollout sets the gauge from a Blueprint's status.
func observeRollout(bp *corev1alpha1.Blueprint) {
	v := 0.0
	if ro := bp.Status.Rollout; ro != nil && ro.Phase == corev1alpha1.RolloutHalted {
		v = 1
	}
	rolloutHalted.WithLabelValues(bp.Name).Set(v)
}
