package managed

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Helpers every kind's Observe and Update share, so that all kinds compare
// specs with the cloud, and treat infraplane's own labels, the same way.

// ReservedLabelPrefix marks the cloud labels infraplane itself writes
// (OwnerLabelKey is one): they are not part of the user's labels and never
// count as drift.
const ReservedLabelPrefix = "infraplane-"

// Differ collects the fields where the spec and the cloud disagree, for
// Observation.Diff.
type Differ struct{ Diffs []FieldDiff }

// Add records field when its desired and actual renderings differ.
func (d *Differ) Add(field, desired, actual string, immutable bool) {
	if desired != actual {
		d.Diffs = append(d.Diffs, FieldDiff{Field: field, Desired: desired, Actual: actual, Immutable: immutable})
	}
}

// AddBool is Add for a boolean field the cloud can change in place.
func (d *Differ) AddBool(field string, desired, actual bool) {
	d.Add(field, strconv.FormatBool(desired), strconv.FormatBool(actual), false)
}

// Differs reports whether diff names field; Update uses it to make only the
// calls that the drifted fields need.
func Differs(diff []FieldDiff, field string) bool {
	return slices.ContainsFunc(diff, func(d FieldDiff) bool { return d.Field == field })
}

// UserLabels returns the labels of a cloud resource without infraplane's
// own (ReservedLabelPrefix), i.e. those a spec's labels are compared with.
func UserLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !strings.HasPrefix(k, ReservedLabelPrefix) {
			out[k] = v
		}
	}
	return out
}

// WithOwner returns a copy of the user's labels plus the ownership label
// (OwnerLabelKey) with value owner: the labels a resource is written with.
func WithOwner(labels map[string]string, owner string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	out[OwnerLabelKey] = owner
	return out
}

// RenderLabels renders labels as "k=v" pairs sorted by key, so equal label
// sets render, and compare, equal.
func RenderLabels(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// LastSegment is the id at the end of a full cloud name
// ("projects/p/topics/t" -> "t").
func LastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }
