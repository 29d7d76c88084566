package status

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// Ref is one reference by name found in an object's spec: a field named
// …<Kind>Ref holding {name: …}.
type Ref struct {
	// Field is the path of the name, e.g. "spec.topicRef.name".
	Field string `json:"field"`
	// Kind is the kind the field name ends with, e.g. "Topic".
	Kind string `json:"kind"`
	// Name is the referenced object's name (same namespace).
	Name string `json:"name,omitempty"`
	// External is the full cloud name, for {external: …} references.
	External string `json:"external,omitempty"`
}

// FindRefs lists the references in obj (an object's content, e.g.
// Unstructured.Object): every map under a key ending in "Ref" (any case)
// whose rest ends with one of kinds (the longest wins) and that holds a
// name or an external. Keys are visited in sorted order, so the result is
// stable.
func FindRefs(obj map[string]any, kinds []string) []Ref {
	return findRefs(obj, "", kinds)
}

// specRefs are the references in an object's spec, with paths from the
// object ("spec.topicRef.name").
func specRefs(u *unstructured.Unstructured, kinds []string) []Ref {
	spec, _ := u.Object["spec"].(map[string]any)
	return findRefs(spec, "spec", kinds)
}

func findRefs(m map[string]any, path string, kinds []string) []Ref {
	var out []Ref
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		child, ok := m[k].(map[string]any)
		if !ok {
			continue
		}
		p := k
		if path != "" {
			p = path + "." + k
		}
		if kind := kindOfRefField(k, kinds); kind != "" {
			name, _ := child["name"].(string)
			ext, _ := child["external"].(string)
			switch {
			case name != "":
				out = append(out, Ref{Field: p + ".name", Kind: kind, Name: name})
			case ext != "":
				out = append(out, Ref{Field: p + ".external", Kind: kind, External: ext})
			}
			continue
		}
		out = append(out, findRefs(child, p, kinds)...)
	}
	return out
}

// kindOfRefField maps a field name like "deadLetterTopicRef" to the longest
// of kinds its name (without "Ref") ends with, ignoring case.
func kindOfRefField(field string, kinds []string) string {
	f := strings.ToLower(field)
	if !strings.HasSuffix(f, "ref") {
		return ""
	}
	f = strings.TrimSuffix(f, "ref")
	best := ""
	for _, k := range kinds {
		if k != "" && strings.HasSuffix(f, strings.ToLower(k)) && len(k) > len(best) {
			best = k
		}
	}
	return best
}

// waitingRe matches the message of a WaitingForReference condition, as the
// generic reconciler writes it: waiting for Topic "orders" (spec.topicRef): …
var waitingRe = regexp.MustCompile(`^waiting for ([A-Za-z][A-Za-z0-9]*) ("(?:[^"\\]|\\.)*") \(([^)]*)\)`)

// parseWaiting extracts the target a waiting object names in its message.
func parseWaiting(msg string) (kind, name, field string, ok bool) {
	m := waitingRe.FindStringSubmatch(msg)
	if m == nil {
		return "", "", "", false
	}
	name, err := strconv.Unquote(m[2])
	if err != nil {
		return "", "", "", false
	}
	return m[1], name, m[3], true
}

// condition is one condition of an object, read from unstructured content.
type condition struct {
	Type, Status, Reason, Message string
	LastTransitionTime            time.Time
	ObservedGeneration            int64
}

// managedStatus reads the status fields every managed kind has. Unknown
// fields (observed, kind-specific ones) are ignored, so this works for every
// managed kind without per-kind code.
func managedStatus(u *unstructured.Unstructured) commonv1.ManagedStatus {
	var st commonv1.ManagedStatus
	if m, ok := u.Object["status"].(map[string]any); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st)
	}
	return st
}

func conditionsOf(st commonv1.ManagedStatus) map[string]*condition {
	out := make(map[string]*condition, len(st.Conditions))
	for _, c := range st.Conditions {
		out[c.Type] = &condition{
			Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message,
			LastTransitionTime: c.LastTransitionTime.Time, ObservedGeneration: c.ObservedGeneration,
		}
	}
	return out
}

func isTrue(c *condition) bool { return c != nil && c.Status == "True" }

// groupOf returns the API group of an apiVersion ("pubsub.infraplane.dev/v1alpha1").
func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return ""
	}
	return gv.Group
}
