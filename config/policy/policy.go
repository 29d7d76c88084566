// Package policy embeds the optional admission policies under config/policy
// (finalizer.yaml), so `infraplane up` can install them.
package policy

import _ "embed"

// Finalizer is config/policy/finalizer.yaml: a MutatingAdmissionPolicy and
// its binding that put the cleanup finalizer on managed objects at create.
//
//go:embed finalizer.yaml
var Finalizer []byte
