package importer

import (
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
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

// SetIdentity names an imported object after the cloud id (setting
// spec.resourceID when the id is no valid object name, see ObjectName) and
// marks it for adoption.
func SetIdentity(md *metav1.ObjectMeta, spec *commonv1.ManagedSpec, id string) {
	name, same := ObjectName(id)
	md.Name = name
	if !same {
		spec.ResourceID = id
	}
	spec.Adopt = true
}

// Labels are the user's labels of a cloud resource (infraplane's own left
// out) as spec labels; nil when there are none, so the manifest omits them.
func Labels(m map[string]string) map[string]commonv1.LabelValue {
	user := managed.UserLabels(m)
	if len(user) == 0 {
		return nil
	}
	out := make(map[string]commonv1.LabelValue, len(user))
	for k, v := range user {
		out[k] = commonv1.LabelValue(v)
	}
	return out
}
