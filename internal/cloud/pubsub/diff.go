package pubsub

import (
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

func renderDuration(d *metav1.Duration) string {
	if d == nil {
		return ""
	}
	return d.Duration.String()
}

func renderProtoDuration(d *durationpb.Duration) string {
	if d == nil {
		return ""
	}
	return d.AsDuration().String()
}

func protoDuration(d *metav1.Duration) *durationpb.Duration {
	if d == nil {
		return nil
	}
	return durationpb.New(d.Duration)
}

func durationOr(d *metav1.Duration, def time.Duration) *metav1.Duration {
	if d == nil {
		return &metav1.Duration{Duration: def}
	}
	return d
}

func renderList(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// maskPaths maps the spec fields of a diff to update-mask paths; a field
// mapped to several diffs (e.g. two parts of one policy) appears once.
func maskPaths(diff []managed.FieldDiff, paths map[string]string) []string {
	var out []string
	for _, d := range diff {
		p, ok := paths[d.Field]
		if ok && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
