package managed

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

func TestPassConditionsFollowKStatus(t *testing.T) {
	pass := func(st *commonv1.ManagedStatus, do func(c conditions)) {
		c := conditions{st: st, gen: 2}
		c.begin()
		do(c)
		c.finish()
	}
	is := func(st *commonv1.ManagedStatus, typ string) bool {
		return meta.IsStatusConditionTrue(st.Conditions, typ)
	}

	st := &commonv1.ManagedStatus{ObservedGeneration: -1}
	stalled := func(c conditions) { c.failed(commonv1.ReasonAlreadyExists, "owned by another object") }
	pass(st, stalled)
	if !is(st, commonv1.TypeStalled) || is(st, commonv1.TypeReconciling) || st.ObservedGeneration != 2 {
		t.Fatalf("after AlreadyExistsNotOwned: %+v", st)
	}
	// The same outcome again changes nothing (no status write, transition
	// times kept).
	before := st.DeepCopy()
	time.Sleep(1100 * time.Millisecond) // condition times have second precision
	pass(st, stalled)
	if !equality.Semantic.DeepEqual(before, st) {
		t.Errorf("a repeated pass changed the status:\n%+v\n%+v", before, st)
	}

	pass(st, func(c conditions) { c.failedAs(false, commonv1.ReasonCloudError, "Unavailable: try again") })
	if is(st, commonv1.TypeStalled) || !is(st, commonv1.TypeReconciling) {
		t.Errorf("after a transient cloud error: %+v", st.Conditions)
	}
	pass(st, func(c conditions) { c.synced(true, commonv1.ReasonReconcileSuccess, "") })
	if meta.FindStatusCondition(st.Conditions, commonv1.TypeStalled) != nil || meta.FindStatusCondition(st.Conditions, commonv1.TypeReconciling) != nil {
		t.Errorf("after success: %+v", st.Conditions)
	}
	for _, c := range st.Conditions {
		if c.ObservedGeneration != 2 {
			t.Errorf("%s describes generation %d", c.Type, c.ObservedGeneration)
		}
	}
	// Immutable fields: Synced=False UpdateNotSupported set directly.
	pass(st, func(c conditions) { c.synced(false, commonv1.ReasonUpdateNotSupported, "spec.x cannot change") })
	if s := meta.FindStatusCondition(st.Conditions, commonv1.TypeStalled); s == nil || s.Status != metav1.ConditionTrue || s.Message != "spec.x cannot change" {
		t.Errorf("after UpdateNotSupported: %+v", st.Conditions)
	}
}

// Objects from before syncedGeneration take it from observedGeneration,
// once; a resource never synced gets -1.
func TestSyncedGenerationMigration(t *testing.T) {
	for _, tc := range []struct{ observed, want int64 }{{3, 3}, {0, notSynced}, {-1, notSynced}} {
		st := &commonv1.ManagedStatus{ResourceID: "x", ObservedGeneration: tc.observed}
		conditions{st: st, gen: 4}.begin()
		if st.SyncedGeneration != tc.want {
			t.Errorf("observed %d: synced %d, want %d", tc.observed, st.SyncedGeneration, tc.want)
		}
	}
	st := &commonv1.ManagedStatus{ObservedGeneration: 3}
	conditions{st: st, gen: 4}.begin()
	if st.SyncedGeneration != 0 {
		t.Errorf("an object without a resource got synced %d", st.SyncedGeneration)
	}
}
