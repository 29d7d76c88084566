package spanner_test

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
)

func ptr[T any](v T) *T { return &v }

func (s *scenario) instance(name string, mutate ...func(*spannerv1.SpannerInstance)) *spannerv1.SpannerInstance {
	in := &spannerv1.SpannerInstance{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec:       spannerv1.SpannerInstanceSpec{Config: "regional-us-central1", ProcessingUnits: ptr(int32(100))},
	}
	for _, m := range mutate {
		m(in)
	}
	return in
}

func (s *scenario) database(name, instance string, mutate ...func(*spannerv1.SpannerDatabase)) *spannerv1.SpannerDatabase {
	db := &spannerv1.SpannerDatabase{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec:       spannerv1.SpannerDatabaseSpec{InstanceRef: commonv1.ResourceRef{Name: instance}},
	}
	for _, m := range mutate {
		m(db)
	}
	return db
}
