package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
)

// Every object is cached without managedFields, Blueprint children too.
func TestStripManagedFields(t *testing.T) {
	mf := []metav1.ManagedFieldsEntry{{Manager: "someone", Operation: metav1.ManagedFieldsOperationApply}}
	plain := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "a", ManagedFields: mf}}
	child := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "b", ManagedFields: mf,
		Annotations: map[string]string{blueprint.RenderedHashAnnotation: "x"}}}
	for _, o := range []*pubsubv1.Topic{plain, child} {
		if _, err := stripManagedFields(o); err != nil {
			t.Fatal(err)
		}
	}
	if plain.ManagedFields != nil {
		t.Errorf("plain object kept managedFields %v", plain.ManagedFields)
	}
	if child.ManagedFields != nil {
		t.Errorf("Blueprint child kept managedFields %v", child.ManagedFields)
	}
	// A tombstone passes through untouched.
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: plain}
	if got, err := stripManagedFields(tomb); err != nil || got != any(tomb) {
		t.Errorf("tombstone: %v, %v", got, err)
	}
}
