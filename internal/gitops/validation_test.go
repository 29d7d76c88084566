package gitops_test

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

// A commit with one bad file applies nothing: not even the good change in
// the same commit. The condition names the file, the line and the field.
func TestBadCommitsApplyNothing(t *testing.T) {
	r, gs, ns := setup(t, map[string]*string{
		"orders.yaml": str(topicYAML("orders", "a")),
		"worker.yaml": str(subscriptionYAML),
	})
	good := waitSource(t, gs, appliedRevision(r.hashes[0]))
	goodRev := good.Status.LastAppliedRevision

	cases := []struct {
		name   string
		file   string
		body   string
		reason string
		want   []string
	}{
		{"broken YAML", "bad.yaml", "apiVersion: v1\nkind: Topic\n  name: x\n", gitops.ReasonRenderFailed, []string{"bad.yaml:3", "invalid YAML"}},
		{"schema violation", "bad.yaml", `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: too-fast
spec:
  topicRef:
    name: orders
  ackDeadlineSeconds: 5
`, gitops.ReasonApplyFailed, []string{"bad.yaml:8", "Subscription/too-fast", "spec.ackDeadlineSeconds"}},
		{"CEL rule violation", "bad.yaml", `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: backwards
spec:
  topicRef:
    name: orders
  retryPolicy:
    minimumBackoff: 60s
    maximumBackoff: 10s
`, gitops.ReasonApplyFailed, []string{"bad.yaml:9", "spec.retryPolicy.minimumBackoff", "minimumBackoff must not exceed maximumBackoff"}},
		{"unknown kind", "bad.yaml", "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topik\nmetadata:\n  name: typo\n", gitops.ReasonValidationFailed, []string{"bad.yaml:2", "unknown kind Topik"}},
		{"missing reference", "bad.yaml", `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: lost
spec:
  topicRef:
    name: no-such-topic
`, gitops.ReasonValidationFailed, []string{"bad.yaml:7", "spec.topicRef.name", `Topic "no-such-topic"`}},
		{"another namespace", "bad.yaml", "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: elsewhere\n  namespace: kube-system\n", gitops.ReasonValidationFailed, []string{"bad.yaml:5", "metadata.namespace", "kube-system"}},
		{"duplicate", "bad.yaml", topicYAML("orders", "b"), gitops.ReasonValidationFailed, []string{"orders.yaml:4", "duplicate", "bad.yaml:4"}},
		{"cluster-scoped kind", "bad.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mine\n", gitops.ReasonValidationFailed, []string{"bad.yaml:2", "cluster-scoped"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The bad file comes with a good change that must not be applied.
			r.push("bad: "+tc.name, map[string]*string{
				tc.file:       str(tc.body),
				"orders.yaml": str(topicYAML("orders", "changed")),
			})
			got := syncNow(t, gs, false)
			c := readyCondition(got)
			if c.Status != "False" || c.Reason != tc.reason {
				t.Fatalf("Ready = %s/%s, want False/%s: %s", c.Status, c.Reason, tc.reason, c.Message)
			}
			// Alerts name the failing source.
			if v := failingGauge(t, gs); v != 1 {
				t.Errorf("infraplane_gitops_source_failing = %v after a failed sync, want 1", v)
			}
			for _, w := range tc.want {
				if !strings.Contains(c.Message, w) {
					t.Errorf("message does not mention %q:\n%s", w, c.Message)
				}
			}
			if got.Status.LastAppliedRevision != goodRev {
				t.Errorf("lastAppliedRevision moved to %s", got.Status.LastAppliedRevision)
			}
			topic := &pubsubv1.Topic{}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "orders"}, topic); err != nil {
				t.Fatal(err)
			}
			if topic.Spec.Labels["team"] != "a" {
				t.Errorf("the good change in the bad commit was applied: team=%s", topic.Spec.Labels["team"])
			}
			// Back to the good state for the next case.
			r.push("revert", map[string]*string{tc.file: nil, "orders.yaml": str(topicYAML("orders", "a"))})
			got = syncNow(t, gs, false)
			goodRev = got.Status.LastAppliedRevision
			if c := readyCondition(got); c.Status != "True" {
				t.Fatalf("not Ready after the revert: %s", c.Message)
			}
			if v := failingGauge(t, gs); v != 0 {
				t.Errorf("infraplane_gitops_source_failing = %v after an applied sync, want 0", v)
			}
		})
	}
}

// failingGauge reads infraplane_gitops_source_failing of gs as /metrics
// serves it (-1: no such series).
func failingGauge(t *testing.T, gs *corev1alpha1.GitSource) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "infraplane_gitops_source_failing" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == gs.Namespace && labels["gitsource"] == gs.Name {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
