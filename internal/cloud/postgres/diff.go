package postgres

import (
	"slices"
	"strings"
)

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
