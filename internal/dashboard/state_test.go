package dashboard

import (
	"testing"

	"k8s.io/client-go/rest"

	"github.com/infraplane/infraplane/internal/status"
)

// Each object has one state on the overview; a failure outranks the
// rest, and an object on its way is waiting, not failed.
func TestStateOf(t *testing.T) {
	for _, c := range []struct {
		name string
		o    status.Object
		want string
	}{
		{"ready", status.Object{Ready: "True", Synced: "True"}, StateReady},
		{"not reconciled", status.Object{Cause: &status.Cause{Reason: status.ReasonNotReconciled}}, StateWaiting},
		{"creating", status.Object{Ready: "False", Cause: &status.Cause{Reason: "Creating"}}, StateWaiting},
		{"waiting for a reference", status.Object{Ready: "False", Cause: &status.Cause{Reason: "WaitingForReference"}}, StateWaiting},
		{"missing reference", status.Object{Ready: "False", Cause: &status.Cause{Reason: "NotFound", Missing: true}}, StateWaiting},
		{"cloud error", status.Object{Ready: "False", Cause: &status.Cause{Reason: "CloudError"}}, StateFailed},
		{"failed and drifted", status.Object{Ready: "True", Drifted: "True", Cause: &status.Cause{Reason: "CloudError"}}, StateFailed},
		{"held prune", status.Object{Ready: "True", HeldPrune: true}, StateHeld},
		{"held after break-glass", status.Object{Ready: "True", DivergedMessage: "differs from git"}, StateHeld},
		{"paused", status.Object{Ready: "True", Paused: "True", Drifted: "True"}, StatePaused},
		{"drifted", status.Object{Ready: "True", Drifted: "True"}, StateDrifted},
		{"inventory entry missing", status.Object{Missing: true}, StateWaiting},
	} {
		if got := stateOf(&c.o); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// An object's link names its kind so that ResolveKind finds it again.
func TestObjectURL(t *testing.T) {
	o := &status.Object{APIVersion: "pubsub.infraplane.dev/v1alpha1", Kind: "Subscription", Namespace: "team-a", Name: "orders-worker"}
	if got, want := objectURL(o), "/o/team-a/subscription.pubsub.infraplane.dev/orders-worker"; got != want {
		t.Errorf("objectURL = %s, want %s", got, want)
	}
	kinds, err := status.LoadKinds()
	if err != nil {
		t.Fatal(err)
	}
	k, err := status.ResolveKind(kinds, "subscription.pubsub.infraplane.dev")
	if err != nil || k.Kind != "Subscription" {
		t.Errorf("ResolveKind of the link's kind: %v, %v", k, err)
	}
}

// A person's client carries their token and none of the dashboard's own
// credentials.
func TestTokenConfig(t *testing.T) {
	own := &rest.Config{
		Host: "https://127.0.0.1:6443", BearerToken: "controller", BearerTokenFile: "/var/run/secrets/token",
		Username: "u", Password: "p",
		TLSClientConfig: rest.TLSClientConfig{CAData: []byte("ca"), CertData: []byte("cert"), KeyData: []byte("key"), CertFile: "c", KeyFile: "k"},
		Impersonate:     rest.ImpersonationConfig{UserName: "someone"},
	}
	h := &Handler{opts: Options{Config: own}}
	got := h.tokenConfig("person")
	if got.BearerToken != "person" || got.Host != own.Host || string(got.CAData) != "ca" {
		t.Errorf("token config %+v: want the person's token, the host and the CA", got)
	}
	if got.BearerTokenFile != "" || got.Username != "" || got.Password != "" || got.CertData != nil || got.KeyData != nil ||
		got.CertFile != "" || got.KeyFile != "" || got.Impersonate.UserName != "" || got.ExecProvider != nil || got.AuthProvider != nil {
		t.Errorf("token config keeps the dashboard's own credentials: %+v", got)
	}
}
