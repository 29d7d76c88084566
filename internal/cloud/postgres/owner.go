package postgres

import "strings"

// PostgreSQL databases and roles have no labels. The ownership label
// (managed.OwnerLabelKey) is kept in their comment instead, as
// "infraplane-owner=<value>", written on create. A comment set by someone
// else is overwritten on create only; observed, it counts as no owner.
const ownerMarker = "infraplane-owner="

// ownerComment is the comment that marks a resource as owner's.
func ownerComment(owner string) string { return ownerMarker + owner }

// ownerOf reads the owner from a comment, "" when it holds no marker.
func ownerOf(comment string) string {
	v, ok := strings.CutPrefix(comment, ownerMarker)
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}
