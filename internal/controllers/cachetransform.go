package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
)

// stripManagedFields is the informer caches' transform: it drops
// managedFields, which no controller reads from the cache, before an object
// is stored. They were the largest part of a cached Topic (measured in
// docs/benchmarks.md, "Issue 17: memory per object and the scale run").
// The Blueprint controller, which once read a child's managedFields to see
// whether someone edited it, compares the child's values with its
// rendering instead (a manager's name is anyone's to use).
//
// Writes are unaffected: an Update of a cached object sends no
// managedFields (nil), which the API server reads as "keep them"; patches
// are computed between two cached copies, both without.
func stripManagedFields(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil // a tombstone or an object without metadata: stored as is
	}
	if obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	return in, nil
}
