package argocd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// The script's branches on hand-written objects; live objects of every kind
// in every state are judged in the kstatus conformance test.
func TestHealthScriptBranches(t *testing.T) {
	for _, tc := range []struct {
		name, doc    string
		want, wantIn string
	}{
		{"no status at all", `metadata: {generation: 1}`, Healthy, ""},
		{"just created (the schema's default)", `
metadata: {generation: 1}
status: {observedGeneration: -1}`, Progressing, "waiting for infraplane to look at it"},
		{"spec changed, not looked at yet", `
metadata: {generation: 3}
status:
  observedGeneration: 2
  conditions: [{type: Ready, status: "True", reason: Available}]`, Progressing, "generation 3"},
		{"ready", `
metadata: {generation: 2}
status:
  observedGeneration: 2
  conditions: [{type: Ready, status: "True", reason: Available, message: "created projects/p/topics/t"}]`, Healthy, "created projects/p/topics/t"},
		{"waiting", `
metadata: {generation: 1}
status:
  observedGeneration: 1
  conditions:
  - {type: Ready, status: "False", reason: WaitingForReference, message: "waiting for Topic orders"}
  - {type: Reconciling, status: "True", reason: WaitingForReference, message: "waiting for Topic orders"}`, Progressing, "waiting for Topic orders"},
		{"stalled", `
metadata: {generation: 1}
status:
  observedGeneration: 1
  conditions:
  - {type: Ready, status: "False", reason: AlreadyExistsNotOwned, message: "t already exists"}
  - {type: Stalled, status: "True", reason: AlreadyExistsNotOwned, message: "t already exists"}`, Degraded, "t already exists"},
		{"paused", `
metadata: {generation: 1}
status:
  observedGeneration: 1
  conditions:
  - {type: Ready, status: "True", reason: Available}
  - {type: Paused, status: "True", reason: PausedByAnnotation, message: "infraplane.dev/paused is true"}`, Suspended, "infraplane.dev/paused is true"},
		{"ready false without reconciling", `
metadata: {generation: 1}
status:
  observedGeneration: 1
  conditions: [{type: Ready, status: "False", reason: NotFound}]`, Progressing, "NotFound"},
		{"being deleted", `
metadata: {generation: 1, deletionTimestamp: "2026-12-07T10:00:00Z"}
status: {observedGeneration: 1}`, Progressing, "being deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Of(object(t, tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if h.Status != tc.want || (tc.wantIn != "" && !strings.Contains(h.Message, tc.wantIn)) {
				t.Errorf("health = %+v, want %s with %q", h, tc.want, tc.wantIn)
			}
		})
	}
}

// A script that returns something Argo CD does not accept is an error, not
// a silent Healthy.
func TestEvaluateRefusesUnknownStatus(t *testing.T) {
	if _, err := Evaluate(`return {status = "Fine"}`, object(t, `metadata: {}`)); err == nil {
		t.Fatal("want an error for an unknown health status")
	}
	if _, err := Evaluate(`return string.lower("X")`, object(t, `metadata: {}`)); err == nil {
		t.Fatal("the string library must be closed, as in Argo CD")
	}
}

// The ConfigMap users merge into argocd-cm carries exactly this script for
// every kind (hack/generate.sh writes it; this catches a hand edit).
func TestArgoCDConfigMapCarriesTheScript(t *testing.T) {
	b, err := os.ReadFile("../../config/argocd/argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		t.Fatal(err)
	}
	crds, _ := filepath.Glob("../../config/crd/bases/*.yaml")
	if len(cm.Data) != len(crds) || len(crds) == 0 {
		t.Fatalf("%d health checks for %d CRDs", len(cm.Data), len(crds))
	}
	for k, v := range cm.Data {
		if !strings.HasPrefix(k, "resource.customizations.health.") || v != HealthScript {
			t.Errorf("%s does not carry internal/argocd/health.lua: run ./hack/generate.sh", k)
		}
	}
}
