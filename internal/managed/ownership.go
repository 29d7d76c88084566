package managed

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// OwnerLabelKey is the cloud label that records which object created a
// cloud resource. It is how two objects are kept from fighting over one
// resource, and how an object finds its resource again after its status
// was lost (e.g. deleted with Abandon and applied again).
const OwnerLabelKey = "infraplane-owner"

// maxLabelValue is GCP's limit on label values.
const maxLabelValue = 63

// OwnerValue is the ownership label value for the object namespace/name.
// GCP label values allow lowercase letters, digits, '_' and '-' and at most
// 63 characters, so dots become '_' and long values end in a hash that
// keeps them unique.
func OwnerValue(namespace, name string) string {
	v := sanitizeLabel(namespace) + "--" + sanitizeLabel(name)
	if len(v) <= maxLabelValue {
		return v
	}
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return v[:maxLabelValue-9] + "-" + hex.EncodeToString(sum[:])[:8]
}

func sanitizeLabel(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		default:
			return '_'
		}
	}, s)
}

// adoption is the decision about an existing cloud resource that this
// object has not recorded as its own.
type adoption int

const (
	adoptOwned    adoption = iota // it carries our label: it is ours
	adoptAllowed                  // unlabelled and spec.adopt is set
	adoptRefused                  // unlabelled and spec.adopt is not set
	adoptConflict                 // labelled for another object: never taken
)

// decideAdoption applies the adoption rules: an object takes over an
// existing resource only when the resource carries this object's label, or
// carries no owner label and the spec asks to adopt.
func decideAdoption(found, ours string, adopt bool) adoption {
	switch {
	case found == ours:
		return adoptOwned
	case found != "":
		return adoptConflict
	case adopt:
		return adoptAllowed
	default:
		return adoptRefused
	}
}
