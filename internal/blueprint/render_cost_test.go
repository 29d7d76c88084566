package blueprint

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// An expression whose cost grows with the square of an instance's input
// is stopped at the evaluation's cost limit, with an error that says so,
// instead of holding the worker (shared by every team's instances) for
// as long as a team's large spec makes it take.
func TestRenderStopsAtTheCostLimit(t *testing.T) {
	schemaJSON, err := yaml.YAMLToJSON([]byte(`
type: object
properties:
  items: {type: array, items: {type: string}}
`))
	if err != nil {
		t.Fatal(err)
	}
	bp := &corev1alpha1.Blueprint{Spec: corev1alpha1.BlueprintSpec{
		Group: "platform.example.com", Version: "v1alpha1", Kind: "Pairs",
		Schema: runtime.RawExtension{Raw: schemaJSON},
		Resources: []corev1alpha1.BlueprintResource{res(t, "cm", `
apiVersion: v1
kind: ConfigMap
metadata: {name: "${metadata.name}"}
data:
  pairs: '${string(spec.items.map(a, spec.items.filter(b, b == a).size()).size())}'
`)},
	}}
	c, err := Compile(bp)
	if err != nil {
		t.Fatal(err)
	}
	render := func(n int) error {
		items := make([]any, n)
		for i := range items {
			items[i] = "x"
		}
		inst := &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": "q", "namespace": "n"},
			"spec":     map[string]any{"items": items},
		}}
		_, err := c.Render(c.Resources[0], Instance{Object: inst})
		return err
	}
	if err := render(10); err != nil {
		t.Fatalf("a small instance: %v", err)
	}
	start := time.Now()
	err = render(5000) // 25 million comparisons
	t.Logf("render of 5,000 items ended after %s: %v", time.Since(start), err)
	if err == nil || !strings.Contains(err.Error(), "cost limit exceeded") || !strings.Contains(err.Error(), "data.pairs") {
		t.Fatalf("a large instance: %v; want the cost limit, naming the field", err)
	}
}
