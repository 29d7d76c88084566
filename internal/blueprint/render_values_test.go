package blueprint

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A list or an object taken whole from the instance's spec becomes a JSON
// value of the child, as do lists and maps an expression builds.
func TestRenderListsAndMapsFromSpec(t *testing.T) {
	schemaJSON, err := yaml.YAMLToJSON([]byte(`
type: object
properties:
  extensions: {type: array, items: {type: string}}
  labels: {type: object, additionalProperties: {type: string}}
  limits: {type: object, properties: {connections: {type: integer}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	bp := &corev1alpha1.Blueprint{Spec: corev1alpha1.BlueprintSpec{
		Group: "platform.example.com", Version: "v1alpha1", Kind: "Db",
		Schema: runtime.RawExtension{Raw: schemaJSON},
		Resources: []corev1alpha1.BlueprintResource{res(t, "cm", `
apiVersion: v1
kind: ConfigMap
metadata: {name: "${metadata.name}"}
spec:
  extensions: ${spec.extensions}
  labels: ${spec.labels}
  limits: ${spec.limits}
  built: '${ {"e": spec.extensions.map(e, e + "!")} }'
  numbers: ${[spec.limits.connections, 2]}
`)},
	}}
	c, err := Compile(bp)
	if err != nil {
		t.Fatal(err)
	}
	inst := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "q", "namespace": "n"},
		"spec": map[string]any{
			"extensions": []any{"pgcrypto", "citext"},
			"labels":     map[string]any{"team": "a"},
			"limits":     map[string]any{"connections": int64(20)},
		},
	}}
	u, err := c.Render(c.Resources[0], Instance{Object: inst})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(u.Object["spec"])
	want := `{"built":{"e":["pgcrypto!","citext!"]},"extensions":["pgcrypto","citext"],"labels":{"team":"a"},"limits":{"connections":20},"numbers":[20,2]}`
	if string(got) != want {
		t.Errorf("spec\n%s\nwant\n%s", got, want)
	}
	// Integers stay integers (not float64), as the API server expects.
	if n := u.Object["spec"].(map[string]any)["limits"].(map[string]any)["connections"]; n != int64(20) {
		t.Errorf("connections is %T %v, want int64 20", n, n)
	}
}
