package managed

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// conditions sets the four standard conditions on an object. Every
// reconcile sets all four, so `kubectl wait --for=condition=X=false` works
// and tools never have to guess what a missing condition means.
type conditions struct {
	st  *commonv1.ManagedStatus
	gen int64
}

func conditionsOf(obj Object) conditions {
	return conditions{st: obj.ManagedStatus(), gen: obj.GetGeneration()}
}

func (c conditions) set(typ string, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&c.st.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: c.gen,
	})
}

func (c conditions) ready(ok bool, reason, msg string)  { c.set(commonv1.TypeReady, ok, reason, msg) }
func (c conditions) synced(ok bool, reason, msg string) { c.set(commonv1.TypeSynced, ok, reason, msg) }
func (c conditions) drifted(ok bool, reason, msg string) {
	c.set(commonv1.TypeDrifted, ok, reason, msg)
}
func (c conditions) paused(ok bool, reason, msg string) { c.set(commonv1.TypePaused, ok, reason, msg) }

// failed records a reconcile that could not do its work: Synced=False with
// the reason and message, and Ready=False unless the resource is known to
// exist and serve (then Ready keeps its last value: a failed label update
// does not make a working topic unready).
func (c conditions) failed(reason, msg string) {
	c.synced(false, reason, msg)
	if r := meta.FindStatusCondition(c.st.Conditions, commonv1.TypeReady); r == nil || r.Status != metav1.ConditionTrue {
		c.ready(false, reason, msg)
	}
	c.ensureDefaults()
}

// ensureDefaults adds Drifted and Paused as False when a reconcile ended
// before deciding them, so every object always has all four.
func (c conditions) ensureDefaults() {
	if meta.FindStatusCondition(c.st.Conditions, commonv1.TypeDrifted) == nil {
		c.drifted(false, commonv1.ReasonInSync, "")
	}
	if meta.FindStatusCondition(c.st.Conditions, commonv1.TypePaused) == nil {
		c.paused(false, commonv1.ReasonActive, "")
	}
}
