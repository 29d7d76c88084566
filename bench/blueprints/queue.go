package main

import (
	"fmt"
	"maps"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
)

// queueSpec is every Queue's spec, its defaults written out so that the
// direct children can be rendered without the API server's defaulting.
var queueSpec = map[string]any{"retentionDays": int64(3), "maxDeliveryAttempts": int64(5)}

func queueName(i int) string { return fmt.Sprintf("q-%04d", i) }

// loadBlueprint reads the Blueprint manifest.
func loadBlueprint(path string) (*corev1alpha1.Blueprint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the Blueprint (-blueprint; run from the repository root): %w", err)
	}
	bp := &corev1alpha1.Blueprint{}
	if err := yaml.UnmarshalStrict(b, bp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := blueprint.Compile(bp); err != nil {
		return nil, fmt.Errorf("%s does not compile: %w", path, err)
	}
	return bp, nil
}

// newQueue is instance i of the Blueprint's kind.
func newQueue(gvk schema.GroupVersionKind, ns string, i int) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": maps.Clone(queueSpec)}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(queueName(i))
	return u
}

// directChildren renders the children of Queue i in namespace ns with the
// Blueprint's own renderer, in its creation order: the objects a user
// would write by hand for the same result (without the instance's labels
// and owner reference).
func directChildren(compiled *blueprint.Compiled, ns string, i int) ([]*unstructured.Unstructured, error) {
	in := blueprint.Instance{Object: newQueue(compiled.GVK, ns, i), Resources: map[string]map[string]any{}}
	var out []*unstructured.Unstructured
	for _, res := range compiled.Resources {
		child, err := compiled.Render(res, in)
		if err != nil {
			return nil, fmt.Errorf("rendering %s of %s: %w", res.ID, queueName(i), err)
		}
		in.Resources[res.ID] = child.Object
		out = append(out, child)
	}
	return out, nil
}
