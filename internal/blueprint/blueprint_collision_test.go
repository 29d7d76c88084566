package blueprint_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
)

// A child whose name is taken by an object that is not the instance's
// (here, a topic from git) is not taken over: the instance says which
// object and why, and the object is left as it was.
func TestChildNameTakenIsRefused(t *testing.T) {
	ns := queueNamespace(t)
	mine := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments",
		Labels: map[string]string{corev1alpha1.SourceLabel: ns + ".platform"}}}
	env.Create(t, mine)
	env.WaitReady(t, mine)

	q := newInstance(queueGVK, ns, "payments", map[string]any{})
	env.Create(t, q)
	waitInstance(t, q, func(_ *unstructured.Unstructured, c *metav1.Condition) error {
		if c == nil || c.Reason != "ApplyFailed" ||
			!strings.Contains(c.Message, "Topic payments already exists and is not this Queue's (it is applied from git by GitSource "+ns+".platform)") {
			return fmt.Errorf("instance Ready %+v", c)
		}
		return nil
	})
	got := &pubsubv1.Topic{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(mine), got); err != nil {
		t.Fatal(err)
	}
	if len(got.OwnerReferences) != 0 || got.Labels[corev1alpha1.BlueprintInstanceLabel] != "" {
		t.Errorf("the topic was taken over: owners %v labels %v", got.OwnerReferences, got.Labels)
	}
	for _, mf := range got.ManagedFields {
		if mf.Manager == "infraplane-blueprint" {
			t.Errorf("the Blueprint wrote the topic: %+v", mf)
		}
	}
}
