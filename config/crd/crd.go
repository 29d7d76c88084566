// Package crd embeds the CustomResourceDefinitions generated from api/ by
// controller-gen (hack/generate.sh), so the binary can install them.
package crd

import "embed"

// Files holds bases/*.yaml.
//
//go:embed bases/*.yaml
var Files embed.FS
