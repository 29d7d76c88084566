package v1alpha1

import commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"

// These accessors let the generic reconciler work with every kind.

func (d *Database) ManagedSpec() *commonv1.ManagedSpec     { return &d.Spec.ManagedSpec }
func (d *Database) ManagedStatus() *commonv1.ManagedStatus { return &d.Status.ManagedStatus }

func (r *Role) ManagedSpec() *commonv1.ManagedSpec     { return &r.Spec.ManagedSpec }
func (r *Role) ManagedStatus() *commonv1.ManagedStatus { return &r.Status.ManagedStatus }
