package managed

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	conds "github.com/infraplane/infraplane/internal/conditions"
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
	conds.Set(&c.st.Conditions, c.gen, typ, ok, reason, msg)
}

func (c conditions) ready(ok bool, reason, msg string) { c.set(commonv1.TypeReady, ok, reason, msg) }

// available sets Ready=True (Available), keeping the message of a Ready
// that already was (e.g. "created ..."): a resync that finds the resource
// as it was must not rewrite status for a message.
func (c conditions) available() {
	if r := meta.FindStatusCondition(c.st.Conditions, commonv1.TypeReady); r != nil &&
		r.Status == metav1.ConditionTrue && r.Reason == commonv1.ReasonAvailable {
		c.set(commonv1.TypeReady, true, commonv1.ReasonAvailable, r.Message)
		return
	}
	c.ready(true, commonv1.ReasonAvailable, "")
}
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
	c.failedAs(conds.PermanentReason(reason), reason, msg)
}

// failedAs is failed with the failure known to be permanent (Stalled: a
// person must act) or not (Reconciling: retried).
func (c conditions) failedAs(permanent bool, reason, msg string) {
	conds.Progress(&c.st.Conditions, c.gen, permanent, reason, msg)
	c.synced(false, reason, msg)
	if r := meta.FindStatusCondition(c.st.Conditions, commonv1.TypeReady); r == nil || r.Status != metav1.ConditionTrue {
		c.ready(false, reason, msg)
	}
	c.ensureDefaults()
}

// finish ends a pass over a live object: the status now describes this
// generation, and Reconciling/Stalled follow Synced. Only a cloud error's
// permanence is not in its reason: cloudFailed set it during the pass.
// (Conditions are updated in place, never removed and added again, so a
// pass that changes nothing writes nothing.)
func (c conditions) finish() {
	c.ensureDefaults()
	c.st.ObservedGeneration = c.gen
	s := meta.FindStatusCondition(c.st.Conditions, commonv1.TypeSynced)
	switch {
	case s != nil && s.Status == metav1.ConditionTrue:
		conds.Settled(&c.st.Conditions)
	case s != nil && s.Reason == commonv1.ReasonCloudError && !conds.IsSettled(c.st.Conditions):
	case s != nil:
		conds.Progress(&c.st.Conditions, c.gen, conds.PermanentReason(s.Reason), s.Reason, s.Message)
	default:
		conds.Reconciling(&c.st.Conditions, c.gen, commonv1.ReasonProgressing, "")
	}
}

// begin starts a pass over a live object: the one-time move of the
// "synced to the cloud" generation out of observedGeneration (which meant
// that before syncedGeneration existed).
func (c conditions) begin() {
	if c.st.SyncedGeneration == 0 && c.st.ResourceID != "" {
		c.st.SyncedGeneration = c.st.ObservedGeneration
		if c.st.SyncedGeneration <= 0 {
			c.st.SyncedGeneration = notSynced
		}
	}
}

// notSynced is status.syncedGeneration for a resource recorded as this
// object's (created, adopted) but not yet synced with its spec.
const notSynced = -1

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
