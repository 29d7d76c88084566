package blueprint

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/scheme"
)

// A child whose live values are the rendering's (in the cache's typed
// form: "72h" is "72h0m0s") is not applied again, whatever the server or
// other managers added; one whose rendered value was changed, by anyone,
// is.
func TestSkipApplyComparesValues(t *testing.T) {
	rendered := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": pubsubv1.GroupVersion.String(), "kind": "Topic",
		"metadata": map[string]any{"name": "q", "namespace": "n",
			"labels":      map[string]any{"infraplane.dev/instance": "q"},
			"annotations": map[string]any{RenderedHashAnnotation: "h1"}},
		"spec": map[string]any{"messageRetentionDuration": "72h", "labels": map[string]any{"queue": "q"}, "adopt": false},
	}}
	live := func() *pubsubv1.Topic {
		tp := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "n",
			Labels:            map[string]string{"infraplane.dev/instance": "q", "added-by-someone": "x"},
			Annotations:       map[string]string{RenderedHashAnnotation: "h1"},
			Finalizers:        []string{"infraplane.dev/finalizer"},
			CreationTimestamp: metav1.Now(), ResourceVersion: "7", Generation: 2}}
		tp.Spec.MessageRetentionDuration = &metav1.Duration{Duration: 72 * time.Hour}
		tp.Spec.Labels = map[string]commonv1.LabelValue{"queue": "q"}
		tp.Spec.DeletionPolicy = commonv1.DeletionDelete
		tp.Status.ResourceID = "projects/p/topics/q"
		return tp
	}
	skip := func(tp *pubsubv1.Topic, hash string) bool {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(tp)
		if err != nil {
			t.Fatal(err)
		}
		return skipApply(u, asCached(scheme.New(), tp, rendered), hash)
	}

	if !skip(live(), "h1") {
		t.Error("the rendering's own values, with the server's and others' additions: applied again")
	}
	if skip(live(), "h2") {
		t.Error("a new rendering: not applied")
	}
	edited := live()
	edited.Spec.Labels["queue"] = "someone-else"
	if skip(edited, "h1") {
		t.Error("a rendered value changed: not applied again")
	}
	shorter := live()
	shorter.Spec.MessageRetentionDuration = &metav1.Duration{Duration: time.Hour}
	if skip(shorter, "h1") {
		t.Error("a rendered duration changed: not applied again")
	}
}
