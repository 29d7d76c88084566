package spanner

import (
	"maps"
	"slices"
	"strings"

	"github.com/infraplane/infraplane/internal/managed"
)

// reservedPrefix marks labels that infraplane itself writes; they are not
// part of the user's labels and never count as drift.
const reservedPrefix = "infraplane-"

// differ collects field differences.
type differ struct{ out []managed.FieldDiff }

func (d *differ) add(field, desired, actual string, immutable bool) {
	if desired != actual {
		d.out = append(d.out, managed.FieldDiff{Field: field, Desired: desired, Actual: actual, Immutable: immutable})
	}
}

// has reports whether diff mentions field.
func has(diff []managed.FieldDiff, field string) bool {
	return slices.ContainsFunc(diff, func(d managed.FieldDiff) bool { return d.Field == field })
}

// userLabels drops infraplane's own labels.
func userLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !strings.HasPrefix(k, reservedPrefix) {
			out[k] = v
		}
	}
	return out
}

// withOwner returns the user's labels plus the ownership label.
func withOwner(labels map[string]string, owner string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	out[managed.OwnerLabelKey] = owner
	return out
}

func renderLabels(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// lastSegment is the id at the end of a full cloud name.
func lastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }
