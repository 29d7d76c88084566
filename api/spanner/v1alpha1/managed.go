package v1alpha1

import commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"

// These accessors let the generic reconciler work with every kind.

func (i *SpannerInstance) ManagedSpec() *commonv1.ManagedSpec     { return &i.Spec.ManagedSpec }
func (i *SpannerInstance) ManagedStatus() *commonv1.ManagedStatus { return &i.Status.ManagedStatus }

func (d *SpannerDatabase) ManagedSpec() *commonv1.ManagedSpec     { return &d.Spec.ManagedSpec }
func (d *SpannerDatabase) ManagedStatus() *commonv1.ManagedStatus { return &d.Status.ManagedStatus }
