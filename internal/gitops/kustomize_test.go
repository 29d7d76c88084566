package gitops_test

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
)

// A path with a kustomization is built with kustomize: an overlay patches
// a base, and the result is what gets applied.
func TestKustomizeOverlay(t *testing.T) {
	r, gs, ns := setup(t, map[string]*string{
		"base/kustomization.yaml": str("resources:\n- orders.yaml\n"),
		"base/orders.yaml":        str(topicYAML("orders", "base")),
		"prod/kustomization.yaml": str(`resources:
- ../base
labels:
- pairs: {env: prod}
patches:
- target: {kind: Topic, name: orders}
  patch: |
    - op: replace
      path: /spec/labels/team
      value: prod-team
`),
	}, func(g *corev1alpha1.GitSource) { g.Spec.Path = "prod" })
	waitSource(t, gs, appliedRevision(r.hashes[0]))
	topic := &pubsubv1.Topic{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "orders"}, topic); err != nil {
		t.Fatal(err)
	}
	if topic.Spec.Labels["team"] != "prod-team" || topic.Labels["env"] != "prod" {
		t.Errorf("overlay not applied: spec.labels %v, labels %v", topic.Spec.Labels, topic.Labels)
	}
}
