package bigtable_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The example manifests pass the API server's validation (dry run).
func TestExamplesAccepted(t *testing.T) {
	b, err := os.ReadFile("../../../examples/bigtable/tables.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	n := 0
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) == 0 {
			continue
		}
		u.SetNamespace("default")
		if err := env.Client.Create(context.Background(), u, client.DryRunAll); err != nil {
			t.Errorf("%s: %v", u.GetName(), err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("decoded %d manifests, want 2", n)
	}
}
