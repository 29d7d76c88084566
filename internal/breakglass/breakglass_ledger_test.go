package breakglass_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/ledger"
)

// On a real cluster there is no embedded audit backend: the guard records
// the direct edits it allows (with the break-glass id), and only those.
func TestGuardRecordsAllowedEditsForClusters(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	bg := openFor(t, p.oncall, s, time.Hour, false)

	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wh := &breakglass.Webhook{Index: &breakglass.Index{Reader: env.Client}, Live: env.Client, Kinds: controllers.ManagedKinds(), Edits: l}

	old := s.subscription(t)
	old.APIVersion, old.Kind = "pubsub.infraplane.dev/v1alpha1", "Subscription" // as the API server sends it
	edited := old.DeepCopy()
	edited.Spec.AckDeadlineSeconds = 99
	review := func(user string) admission.Response {
		oldRaw, _ := json.Marshal(old)
		newRaw, _ := json.Marshal(edited)
		return wh.Guard().Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: admissionv1.Update,
			Kind:      metav1.GroupVersionKind{Group: "pubsub.infraplane.dev", Version: "v1alpha1", Kind: "Subscription"},
			Name:      old.Name, Namespace: old.Namespace,
			UserInfo: authenticationv1.UserInfo{Username: user},
			Object:   runtime.RawExtension{Raw: newRaw}, OldObject: runtime.RawExtension{Raw: oldRaw},
		}})
	}
	if r := review(colleagueUser); r.Allowed {
		t.Fatal("the colleague's edit was allowed")
	}
	if r := review(oncallUser); !r.Allowed {
		t.Fatalf("the opener's edit was denied: %v", r.Result)
	}
	entries, err := ledger.Read(l.Path(), ledger.Filter{Type: ledger.TypeDirectEdit})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("entries: %+v, want one (the allowed edit)", entries)
	}
	e := entries[0]
	if e.Actor != oncallUser || e.BreakGlass != s.ns+"/"+bg.Name || !slices.Equal(e.Fields, []string{"spec.ackDeadlineSeconds"}) || e.Details["recordedAt"] != "admission" {
		t.Errorf("entry: %+v", e)
	}
}
