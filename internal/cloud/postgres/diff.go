package postgres

import (
	"slices"
	"strconv"
	"strings"

	"github.com/infraplane/infraplane/internal/managed"
)

// differ collects field differences.
type differ struct{ out []managed.FieldDiff }

func (d *differ) add(field, desired, actual string, immutable bool) {
	if desired != actual {
		d.out = append(d.out, managed.FieldDiff{Field: field, Desired: desired, Actual: actual, Immutable: immutable})
	}
}

func (d *differ) addBool(field string, desired, actual bool) {
	d.add(field, strconv.FormatBool(desired), strconv.FormatBool(actual), false)
}

// has reports whether diff names field.
func has(diff []managed.FieldDiff, field string) bool {
	return slices.ContainsFunc(diff, func(f managed.FieldDiff) bool { return f.Field == field })
}

// renderSet renders a set of strings in a stable order.
func renderSet(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// connLimit is a spec connection limit, -1 (none) when unset.
func connLimit(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}
