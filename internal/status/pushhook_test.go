package status

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A GitSource that asks for a push hook and has none says why in status
// (without being reported not Ready: it syncs on its interval); one that
// has its path shows it in JSON and in trace.
func TestPushHookInStatus(t *testing.T) {
	sources, objects := scenario()
	const why = `no push hook: Secret "orders-hook" (spec.webhookSecretRef) does not exist in namespace team-a`
	for i := range sources {
		switch sources[i].Name {
		case "platform":
			sources[i].Status.WebhookPath = "/hooks/git/abc123"
			sources[i].Status.Conditions = append(sources[i].Status.Conditions, metav1.Condition{Type: "PushHook", Status: "True", Reason: "PathReady", LastTransitionTime: metav1.NewTime(now)})
		case "orders":
			sources[i].Status.Conditions = append(sources[i].Status.Conditions, metav1.Condition{Type: "PushHook", Status: "False", Reason: "SecretNotFound", Message: why, LastTransitionTime: metav1.NewTime(now)})
		}
	}
	r := Build(sources, objects, now)
	if s := source(r, "platform"); s.WebhookPath != "/hooks/git/abc123" || s.PushHook != nil {
		t.Errorf("platform: webhookPath %q, pushHook %+v", s.WebhookPath, s.PushHook)
	}
	if h := source(r, "orders").PushHook; h == nil || h.Reason != "SecretNotFound" || h.Message != why {
		t.Fatalf("orders: pushHook %+v", h)
	}

	var text bytes.Buffer
	if err := r.Write(&text, WriteOptions{Width: 400}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "  ! PushHook SecretNotFound: "+why) {
		t.Errorf("the text report does not say why orders has no push hook:\n%s", text.String())
	}
	if strings.Count(text.String(), "PushHook") != 1 {
		t.Errorf("only orders should have a PushHook line:\n%s", text.String())
	}

	var js bytes.Buffer
	if err := r.Write(&js, WriteOptions{Format: "json"}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Sources []struct {
			Name        string     `json:"name"`
			WebhookPath string     `json:"webhookPath"`
			PushHook    *Condition `json:"pushHook"`
		} `json:"sources"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, s := range got.Sources {
		if s.Name == "platform" && s.WebhookPath != "/hooks/git/abc123" {
			t.Errorf("JSON: platform's webhookPath = %q", s.WebhookPath)
		}
		if s.Name == "orders" && (s.PushHook == nil || s.PushHook.Reason != "SecretNotFound") {
			t.Errorf("JSON: orders' pushHook = %+v", s.PushHook)
		}
	}

	for name, want := range map[string]string{"platform": "POST /hooks/git/abc123", "orders": "none (SecretNotFound; see the PushHook condition)"} {
		tr, err := Trace(Snapshot{Now: now, Sources: sources, Objects: objects}, Target{Group: "infraplane.dev", Kind: "GitSource", Namespace: sourceNS(sources, name), Name: name})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := tr.Write(&out, WriteOptions{Width: 400}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("trace gitsource/%s lacks %q:\n%s", name, want, out.String())
		}
	}
}

func sourceNS(sources []corev1alpha1.GitSource, name string) string {
	for _, s := range sources {
		if s.Name == name {
			return s.Namespace
		}
	}
	return ""
}
