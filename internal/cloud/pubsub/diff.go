package pubsub

import (
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/infraplane/infraplane/internal/managed"
)

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
