// Package importer is `infraplane import`: it lists cloud resources that
// no object manages yet and writes manifests that adopt them, so a team
// can commit them and bring its long tail under management.
package importer

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/infraplane/infraplane/internal/provider"
)

// Lister lists the cloud resources of one kind. Each kind's cloud package
// provides one; internal/controllers lists them all (Importers).
type Lister interface {
	// GVK is the kind the manifests are of.
	GVK() schema.GroupVersionKind
	// List returns every resource of the kind in the provider's project
	// (or server), each as a manifest ready to apply (see Found).
	List(ctx context.Context, p *provider.Config) ([]Found, error)
}

// Found is one cloud resource and the manifest that adopts it.
type Found struct {
	// SelfLink is the full cloud name, as status.selfLink has it
	// ("projects/p/topics/t"); objects already managing it are matched
	// by it.
	SelfLink string
	// Owner is the value of infraplane's ownership label on the resource
	// ("" when none): a resource another object owns is not imported.
	Owner string
	// Object is the manifest: apiVersion, kind, metadata.name (the cloud
	// id, or a valid object name derived from it, with spec.resourceID
	// then set to the id), spec.adopt: true, and the spec fields as the
	// cloud reports them, leaving out those at their defaults. No
	// namespace: import sets it. References to other imported resources
	// use {name: …} when the target is imported too, else {external: …}.
	Object *unstructured.Unstructured
}
