// Package rbac embeds the ClusterRoles a team needs (people.yaml), so
// `infraplane up` can install them and clusters can apply the file.
package rbac

import _ "embed"

// People is config/rbac/people.yaml.
//
//go:embed people.yaml
var People []byte
