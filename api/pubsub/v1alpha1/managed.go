package v1alpha1

import commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"

// These accessors let the generic reconciler work with every kind.

func (t *Topic) ManagedSpec() *commonv1.ManagedSpec     { return &t.Spec.ManagedSpec }
func (t *Topic) ManagedStatus() *commonv1.ManagedStatus { return &t.Status.ManagedStatus }

func (s *Subscription) ManagedSpec() *commonv1.ManagedSpec     { return &s.Spec.ManagedSpec }
func (s *Subscription) ManagedStatus() *commonv1.ManagedStatus { return &s.Status.ManagedStatus }
