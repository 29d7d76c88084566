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
// the direct edits it allows (with the break-glass id), and only those,
// once they are seen on the object. An admission review alone — which
// anyone who reaches the webhook port could forge, naming any user —
// writes nothing.
func TestGuardRecordsAllowedEditsForClusters(t *testing.T) {
	s := newScenario(t)
	p := newPeople(t)
	bg := openFor(t, p.oncall, s, time.Hour, false)

	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wh := &breakglass.Webhook{Index: &breakglass.Index{Reader: env.Client}, Live: env.Client, Kinds: controllers.ManagedKinds(), Edits: l,
		ConfirmWithin: 3 * time.Second}

	old := s.subscription(t)
	old.APIVersion, old.Kind = "pubsub.infraplane.dev/v1alpha1", "Subscription" // as the API server sends it
	edited := old.DeepCopy()
	edited.Spec.AckDeadlineSeconds = 99
	review := func(user string, op admissionv1.Operation) admission.Response {
		oldRaw, _ := json.Marshal(old)
		newRaw, _ := json.Marshal(edited)
		req := admissionv1.AdmissionRequest{
			Operation: op,
			Kind:      metav1.GroupVersionKind{Group: "pubsub.infraplane.dev", Version: "v1alpha1", Kind: "Subscription"},
			Name:      old.Name, Namespace: old.Namespace,
			UserInfo:  authenticationv1.UserInfo{Username: user},
			OldObject: runtime.RawExtension{Raw: oldRaw},
		}
		if op == admissionv1.Update {
			req.Object = runtime.RawExtension{Raw: newRaw}
		}
		return wh.Guard().Handle(context.Background(), admission.Request{AdmissionRequest: req})
	}
	directEdits := func() []ledger.Entry {
		t.Helper()
		entries, err := ledger.Read(l.Path(), ledger.Filter{Type: ledger.TypeDirectEdit})
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}

	// Forged reviews, as if the opener edited and deleted the object: the
	// guard allows them (it cannot tell), but nothing happened to the
	// object, so nothing is recorded and nothing changes.
	if r := review(colleagueUser, admissionv1.Update); r.Allowed {
		t.Fatal("the colleague's edit was allowed")
	}
	if r := review(oncallUser, admissionv1.Update); !r.Allowed {
		t.Fatalf("the opener's edit was denied: %v", r.Result)
	}
	if r := review(oncallUser, admissionv1.Delete); !r.Allowed {
		t.Fatalf("the opener's delete was denied: %v", r.Result)
	}
	wh.WaitEdits()
	if got := directEdits(); len(got) != 0 {
		t.Fatalf("admission reviews alone were recorded: %+v", got)
	}
	if now := s.subscription(t); now.Spec.AckDeadlineSeconds == 99 || now.DeletionTimestamp != nil || now.ResourceVersion != old.ResourceVersion {
		t.Fatalf("the forged reviews changed the object: %+v", now)
	}

	// The real edit: the API server admits it (here, the review the API
	// server would send) and it lands on the object: recorded once, with
	// the break-glass it was made under.
	if r := review(oncallUser, admissionv1.Update); !r.Allowed {
		t.Fatalf("the opener's edit was denied: %v", r.Result)
	}
	sub := s.subscription(t)
	sub.Spec.AckDeadlineSeconds = 99
	if err := p.oncall.Update(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	wh.WaitEdits()
	entries := directEdits()
	if len(entries) != 1 {
		t.Fatalf("entries: %+v, want one (the edit made)", entries)
	}
	e := entries[0]
	if e.Actor != oncallUser || e.BreakGlass != s.ns+"/"+bg.Name || !slices.Equal(e.Fields, []string{"spec.ackDeadlineSeconds"}) ||
		e.Details["recordedAt"] != "observed" || e.Details["resourceVersion"] == "" {
		t.Errorf("entry: %+v", e)
	}
}
