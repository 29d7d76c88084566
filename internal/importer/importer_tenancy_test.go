package importer_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
)

// listed is a Lister that returns what a project's listing returned (the
// cloud packages' listers are tested against the emulators; this is about
// what import does with their answers).
type listed []importer.Found

func (listed) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: "pubsub.infraplane.dev", Version: "v1alpha1", Kind: "Subscription"}
}
func (l listed) List(context.Context, *provider.Config) ([]importer.Found, error) { return l, nil }

func subscription(name, topic string) importer.Found {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "pubsub.infraplane.dev/v1alpha1", "kind": "Subscription",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"adopt": true, "topicRef": map[string]any{"external": topic}},
	}}
	return importer.Found{SelfLink: "projects/team-a/subscriptions/" + name, Object: u}
}

// import writes only manifests the namespace's ProviderConfig accepts: a
// subscription on another project's topic is skipped, saying why and what
// to do, unless the ProviderConfig lists that project.
func TestImportSkipsWhatTheProviderConfigRefuses(t *testing.T) {
	found := listed{
		subscription("own", "projects/team-a/topics/orders"),
		subscription("foreign", "projects/team-b/topics/payments"),
		{SelfLink: "projects/team-b/subscriptions/elsewhere", Object: subscription("elsewhere", "projects/team-b/topics/x").Object},
	}
	pc := &provider.Config{Name: "team-a", ProjectID: "team-a"}
	out, skipped, err := importer.Collect(context.Background(), importer.Options{Listers: []importer.Lister{found}, Provider: pc, Namespace: "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Name != "own" {
		t.Errorf("imported %+v", out)
	}
	if len(skipped) != 2 || !strings.Contains(skipped[0].Why, "spec.topicRef.external") || !strings.Contains(skipped[0].Why, "spec.referenceProjects") ||
		!strings.Contains(skipped[1].Why, `manages resources in project "team-a" only`) {
		t.Errorf("skipped %+v", skipped)
	}

	pc.ReferenceProjects = []string{"team-b"}
	out, skipped, err = importer.Collect(context.Background(), importer.Options{Listers: []importer.Lister{found}, Provider: pc, Namespace: "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || len(skipped) != 1 {
		t.Errorf("with team-b referenceable: imported %d, skipped %+v", len(out), skipped)
	}
}
