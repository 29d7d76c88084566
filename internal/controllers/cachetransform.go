package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/infraplane/infraplane/internal/blueprint"
)

// stripManagedFields is the informer caches' transform: it drops
// managedFields, which no controller reads from the cache, before an object
// is stored. They were the largest part of a cached Topic (measured in
// docs/benchmarks.md, "Issue 17: memory per object and the scale run").
//
// The one reader is the Blueprint controller's skipApply, which decides
// from a child's managedFields whether someone else edited it since the
// Blueprint last applied it. A child carries the Blueprint's rendered-hash
// annotation, and skipApply only looks at managedFields when that hash
// matches, so objects with the annotation keep them: no extra request per
// child and resync, and only Blueprint children pay the memory.
//
// Writes are unaffected: an Update of a cached object sends no
// managedFields (nil), which the API server reads as "keep them"; patches
// are computed between two cached copies, both without.
func stripManagedFields(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil // a tombstone or an object without metadata: stored as is
	}
	if _, ok := obj.GetAnnotations()[blueprint.RenderedHashAnnotation]; ok {
		return in, nil
	}
	if obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	return in, nil
}
