package v1alpha1

import commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"

// These accessors let the generic reconciler work with every kind.

func (t *BigtableTable) ManagedSpec() *commonv1.ManagedSpec     { return &t.Spec.ManagedSpec }
func (t *BigtableTable) ManagedStatus() *commonv1.ManagedStatus { return &t.Status.ManagedStatus }
