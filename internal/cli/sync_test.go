package cli

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// A requested read that is not answered in time says whether any pass
// ever handled the object, and what the last one found.
func TestReadTimeoutSaysWhatIsKnown(t *testing.T) {
	key := client.ObjectKey{Namespace: "team-a", Name: "orders"}
	err := readTimeout("Topic", key, commonv1.ManagedStatus{})
	if err == nil || !strings.Contains(err.Error(), "no controller has handled it yet") {
		t.Errorf("never handled: %v", err)
	}
	st := commonv1.ManagedStatus{Conditions: []metav1.Condition{
		{Type: commonv1.TypeReady, Status: metav1.ConditionFalse, Reason: "ReconcileError", Message: "cloud unavailable"},
		{Type: commonv1.TypeSynced, Status: metav1.ConditionFalse, Reason: "ReconcileError", Message: "cloud unavailable"},
	}}
	err = readTimeout("Topic", key, st)
	for _, want := range []string{"Topic team-a/orders", "--timeout", "the last pass found: not Ready (ReconcileError: cloud unavailable)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("handled before: %v, want it to contain %q", err, want)
		}
	}
}
