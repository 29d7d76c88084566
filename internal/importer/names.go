package importer

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

var notName = regexp.MustCompile(`[^a-z0-9.-]+`)

// ObjectName derives a valid object name (an RFC 1123 subdomain) from a
// cloud id: lowercase, other characters as '-'. ok is false when the name
// differs from the id, so the manifest must set spec.resourceID.
func ObjectName(id string) (name string, same bool) {
	n := notName.ReplaceAllString(strings.ToLower(id), "-")
	n = strings.Trim(n, "-.")
	if len(n) > 253 {
		n = strings.Trim(n[:253], "-.")
	}
	if n == "" {
		n = "imported"
	}
	return n, n == id
}

// Manifest turns a typed object into the manifest import writes: no
// status, no creation timestamp, no empty metadata.
func Manifest(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return &unstructured.Unstructured{Object: m}, nil
}
