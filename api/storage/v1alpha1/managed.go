package v1alpha1

import commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"

// These accessors let the generic reconciler work with every kind.

func (b *Bucket) ManagedSpec() *commonv1.ManagedSpec     { return &b.Spec.ManagedSpec }
func (b *Bucket) ManagedStatus() *commonv1.ManagedStatus { return &b.Status.ManagedStatus }
