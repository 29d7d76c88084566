package pubsub_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The finalizer policy (installed as by infraplane up) puts the cleanup
// finalizer on a managed object in its create: the controller writes the
// object's metadata not once on its way to Ready, only its status.
func TestFinalizerAtCreate(t *testing.T) {
	s := scenarioOn(t, "test-finalizer-at-create")
	ctx := context.Background()
	wc, err := client.NewWithWatch(env.Config(), client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	topic := s.topic("at-create")
	env.Create(t, topic)
	if !slices.Contains(topic.Finalizers, managed.Finalizer) {
		t.Fatalf("created Topic's finalizers %v, want %s from the policy", topic.Finalizers, managed.Finalizer)
	}
	// An object that already carries it keeps exactly one.
	sub := s.subscription("at-create-sub", "at-create", func(s *pubsubv1.Subscription) {
		s.Finalizers = []string{"example.com/other", managed.Finalizer}
	})
	env.Create(t, sub)
	if want := []string{"example.com/other", managed.Finalizer}; !slices.Equal(sub.Finalizers, want) {
		t.Errorf("created Subscription's finalizers %v, want %v", sub.Finalizers, want)
	}

	w, err := wc.Watch(ctx, &pubsubv1.TopicList{}, client.InNamespace(s.ns),
		client.MatchingFields{"metadata.name": topic.Name}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: topic.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	timeout := time.After(testenv.WaitTimeout)
	for ready := false; !ready; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed before the Topic was Ready")
			}
			if ev.Type != watch.Modified {
				t.Fatalf("watch: %s %v", ev.Type, ev.Object)
			}
			got := ev.Object.(*pubsubv1.Topic)
			if !slices.Equal(got.Finalizers, topic.Finalizers) || got.Generation != topic.Generation ||
				len(got.Labels) != len(topic.Labels) || len(got.Annotations) != len(topic.Annotations) {
				t.Errorf("resourceVersion %s changed the Topic's metadata (finalizers %v, labels %v, annotations %v, generation %d): only its status should be written",
					got.ResourceVersion, got.Finalizers, got.Labels, got.Annotations, got.Generation)
			}
			ready = meta.IsStatusConditionTrue(got.Status.Conditions, commonv1.TypeReady)
		case <-timeout:
			t.Fatal("the Topic did not become Ready")
		}
	}
	env.WaitReady(t, sub)
	if !slices.Equal(sub.Finalizers, []string{"example.com/other", managed.Finalizer}) {
		t.Errorf("Ready Subscription's finalizers %v", sub.Finalizers)
	}
	// Deleting still deletes the cloud resource, then releases the object.
	if err := env.Client.Delete(ctx, sub); err != nil {
		t.Fatal(err)
	}
	testenv.Update(t, env, sub, func(s *pubsubv1.Subscription) {
		s.Finalizers = slices.DeleteFunc(s.Finalizers, func(f string) bool { return f == "example.com/other" })
	})
	env.WaitGone(t, sub)
	if _, err := s.getSub(t, "at-create-sub"); status.Code(err) != codes.NotFound {
		t.Errorf("the subscription after its object was deleted: %v, want NotFound", err)
	}
}

// Where the cluster lacks the policy (here: its binding deleted), the
// controller adds the finalizer itself, and deleting works as before.
func TestFinalizerWithoutPolicy(t *testing.T) {
	s := scenarioOn(t, "test-finalizer-fallback")
	ctx := context.Background()
	objs, err := crds.FinalizerPolicy()
	if err != nil {
		t.Fatal(err)
	}
	var binding *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "MutatingAdmissionPolicyBinding" {
			binding = o.DeepCopy()
		}
	}
	if binding == nil {
		t.Fatal("config/policy/finalizer.yaml has no binding")
	}
	if err := env.Client.Delete(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		probe := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "probe"}}
		if err := crds.EnableFinalizerPolicy(ctx, env.Client, probe, managed.Finalizer); err != nil {
			t.Error(err)
		}
	})
	// The admission plugin notices the deletion a moment later.
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		probe := s.topic("probe")
		if err := env.Client.Create(ctx, probe, client.DryRunAll); err != nil {
			return err
		}
		if len(probe.Finalizers) > 0 {
			return errors.New("a dry-run create still gets the finalizer")
		}
		return nil
	})

	topic := s.topic("fallback")
	env.Create(t, topic)
	if len(topic.Finalizers) != 0 {
		t.Fatalf("created Topic's finalizers %v, want none without the policy", topic.Finalizers)
	}
	env.WaitReady(t, topic)
	if !slices.Contains(topic.Finalizers, managed.Finalizer) {
		t.Errorf("Ready Topic's finalizers %v, want %s added by the controller", topic.Finalizers, managed.Finalizer)
	}
	if _, err := s.getTopic(t, "fallback"); err != nil {
		t.Fatalf("the topic: %v", err)
	}
	if err := env.Client.Delete(ctx, topic); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, topic)
	if _, err := s.getTopic(t, "fallback"); status.Code(err) != codes.NotFound {
		t.Errorf("the topic after its object was deleted: %v, want NotFound", err)
	}
}

// A server-side apply that creates the object (as the GitOps syncer and
// kubectl apply --server-side do) gets the finalizer too, and applying the
// same manifest again, which does not list it, keeps it: the applier does
// not own what the policy added.
func TestFinalizerAtCreateSurvivesReapply(t *testing.T) {
	s := scenarioOn(t, "test-finalizer-apply")
	ctx := context.Background()
	apply := func() *pubsubv1.Topic {
		t.Helper()
		tp := &pubsubv1.Topic{
			TypeMeta:   metav1.TypeMeta{APIVersion: pubsubv1.GroupVersion.String(), Kind: "Topic"},
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "applied"},
			Spec:       pubsubv1.TopicSpec{Labels: map[string]commonv1.LabelValue{"team": "a"}},
		}
		//nolint:staticcheck // typed server-side apply
		if err := env.Client.Patch(ctx, tp, client.Apply, client.FieldOwner("syncer"), client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
		return tp
	}
	if tp := apply(); !slices.Contains(tp.Finalizers, managed.Finalizer) {
		t.Fatalf("applied Topic's finalizers %v, want %s from the policy", tp.Finalizers, managed.Finalizer)
	}
	tp := apply()
	env.WaitReady(t, tp)
	tp = apply()
	if !slices.Contains(tp.Finalizers, managed.Finalizer) {
		t.Errorf("re-applied Topic's finalizers %v, want %s kept", tp.Finalizers, managed.Finalizer)
	}
}
