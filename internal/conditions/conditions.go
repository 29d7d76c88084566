// Package conditions sets the conditions every infraplane kind shares, so
// that kstatus (what Flux, Argo CD and `kubectl wait` build on) reads each
// kind the same way:
//
//   - Ready: True or False, with a reason and a message.
//   - Reconciling: True while work is under way or being retried
//     (kstatus InProgress); absent otherwise.
//   - Stalled: True when only a person can make progress (kstatus
//     Failed, with this message); absent otherwise.
//
// Reconciling and Stalled are never True together (kstatus takes the first
// True one it meets), and every condition carries the generation it
// describes. status.observedGeneration is set by each controller.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// Set sets condition typ, stamped with generation gen.
func Set(conds *[]metav1.Condition, gen int64, typ string, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen,
	})
}

// Reconciling says work is under way or retried: Reconciling=True and no
// Stalled.
func Reconciling(conds *[]metav1.Condition, gen int64, reason, msg string) {
	meta.RemoveStatusCondition(conds, commonv1.TypeStalled)
	Set(conds, gen, commonv1.TypeReconciling, true, reason, msg)
}

// Stalled says a person must act: Stalled=True and no Reconciling.
func Stalled(conds *[]metav1.Condition, gen int64, reason, msg string) {
	meta.RemoveStatusCondition(conds, commonv1.TypeReconciling)
	Set(conds, gen, commonv1.TypeStalled, true, reason, msg)
}

// Settled says there is nothing under way and nothing stuck: neither
// Reconciling nor Stalled.
func Settled(conds *[]metav1.Condition) {
	meta.RemoveStatusCondition(conds, commonv1.TypeReconciling)
	meta.RemoveStatusCondition(conds, commonv1.TypeStalled)
}

// Progress sets Reconciling or Stalled from the outcome of a pass: stalled
// when permanent, reconciling otherwise.
func Progress(conds *[]metav1.Condition, gen int64, permanent bool, reason, msg string) {
	if permanent {
		Stalled(conds, gen, reason, msg)
	} else {
		Reconciling(conds, gen, reason, msg)
	}
}

// IsSettled reports whether neither Reconciling nor Stalled is True.
func IsSettled(conds []metav1.Condition) bool {
	return !meta.IsStatusConditionTrue(conds, commonv1.TypeReconciling) &&
		!meta.IsStatusConditionTrue(conds, commonv1.TypeStalled)
}

// PermanentReason reports whether a failure reason shared across kinds
// needs a person (Stalled) rather than time (Reconciling).
func PermanentReason(reason string) bool {
	switch reason {
	case commonv1.ReasonProviderError, commonv1.ReasonNotPermitted,
		commonv1.ReasonAlreadyExists, commonv1.ReasonUpdateNotSupported:
		return true
	}
	return false
}
