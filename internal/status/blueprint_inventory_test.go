package status

import (
	"testing"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// A platform GitSource's inventory lists Blueprints with no namespace
// (they are cluster-scoped): they are found, not reported missing.
func TestBlueprintInInventory(t *testing.T) {
	sources, objects := scenario()
	for i := range sources {
		if sources[i].Name == "platform" {
			sources[i].Status.Inventory = append(sources[i].Status.Inventory,
				corev1alpha1.ObjectRef{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "Blueprint", Name: "queue"})
		}
	}
	bp := label(obj(corev1alpha1.GroupVersion.String(), "Blueprint", "queue", nil, healthy()...), ns+".platform")
	bp.SetNamespace("")
	objects = append(objects, bp)
	r := Build(sources, objects, now)
	o := find(source(r, "platform").Objects, "Blueprint/queue")
	if o == nil || o.Missing || o.Namespace != "" {
		t.Fatalf("Blueprint/queue: %+v", o)
	}
}
