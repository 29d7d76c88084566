// Package refs knows infraplane's reference convention: a field named
// …<Kind>Ref (e.g. topicRef, deadLetterTopicRef) holding {name: …} (an
// object of that kind in the same namespace) or {external: …} (a full
// cloud name). The syncer, validate, plan and status all read references
// through it, so they agree on what a reference is.
package refs

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// Find lists the references in obj (an object's content, e.g.
// Unstructured.Object): every map under a key ending in "Ref" (any case)
// whose rest ends with one of kinds (the longest wins) and that holds a
// name or an external. Keys are visited in sorted order, so the result is
// stable.
func Find(obj map[string]any, kinds []string) []Ref {
	return findRefs(obj, "", kinds)
}

// Follows reports whether objects of an API group follow the reference
// convention: infraplane's own groups. A field of another group's object
// that happens to end in "Ref" (an RBAC RoleBinding's roleRef) is not a
// reference to a managed kind of the same name (a PostgreSQL Role).
func Follows(group string) bool {
	return group == "infraplane.dev" || strings.HasSuffix(group, ".infraplane.dev")
}

// InSpec lists the references in an object's spec, with paths from the
// object ("spec.topicRef.name").
func InSpec(u *unstructured.Unstructured, kinds []string) []Ref {
	spec, _ := u.Object["spec"].(map[string]any)
	return InSpecMap(spec, kinds)
}

// InSpecMap is InSpec for an object's spec alone.
func InSpecMap(spec map[string]any, kinds []string) []Ref {
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
