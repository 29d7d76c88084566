package pubsub_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The controllers' cache holds objects without managedFields (no
// controller reads them there, and they were the largest part of a cached
// Topic), Blueprint children (with the rendered-hash annotation) too.
func TestControllerCacheDropsManagedFields(t *testing.T) {
	s := scenarioOn(t, "test-cache")
	plain := s.topic("cached-plain")
	child := s.topic("cached-child", func(tp *pubsubv1.Topic) {
		tp.Annotations = map[string]string{blueprint.RenderedHashAnnotation: "0123abcd"}
	})
	env.Create(t, plain)
	env.Create(t, child)

	// A manager as infraplane up builds it; only its cache runs (its
	// controllers stay stopped: the suite's own manager reconciles).
	mgr, cleanup, err := controllers.NewManager(env.Config(), controllers.ManagerOptions{AllowSecondManager: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.GetCache().Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done; cleanup() })
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}

	for _, tc := range []struct {
		obj  *pubsubv1.Topic
		keep bool
	}{{plain, false}, {child, false}} {
		key := client.ObjectKeyFromObject(tc.obj)
		live := &pubsubv1.Topic{}
		if err := env.Client.Get(ctx, key, live); err != nil {
			t.Fatal(err)
		}
		if len(live.ManagedFields) == 0 {
			t.Fatalf("%s: the API server's copy has no managedFields to strip", key.Name)
		}
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			cached := &pubsubv1.Topic{}
			if err := mgr.GetCache().Get(ctx, key, cached); err != nil {
				return err
			}
			if got := len(cached.ManagedFields) > 0; got != tc.keep {
				return fmt.Errorf("%s: cached managedFields %v, want kept=%v", key.Name, managers(cached.ManagedFields), tc.keep)
			}
			return nil
		})
	}
}

func managers(mfs []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, mf := range mfs {
		out = append(out, mf.Manager+"/"+string(mf.Operation))
	}
	return out
}
