package spanner_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/testenv"
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

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// update re-reads obj, applies mutate and writes it, retrying on conflict.
func update[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := env.Client.Get(context.Background(), clientKey(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return env.Client.Update(context.Background(), obj)
	})
}

type managedObject interface {
	client.Object
	ManagedStatus() *commonv1.ManagedStatus
}

// waitFor waits until obj has condition typ with status (and reason, if
// given), and returns the condition.
func waitFor(t *testing.T, obj managedObject, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(context.Background(), clientKey(obj), obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.ManagedStatus().Conditions, typ)
		if c == nil {
			return fmt.Errorf("%s: no %s condition yet; conditions: %+v", obj.GetName(), typ, obj.ManagedStatus().Conditions)
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("%s: %s=%s (%s: %s), want %s %s", obj.GetName(), typ, c.Status, c.Reason, c.Message, status, reason)
		}
		got = *c
		return nil
	})
	return got
}

// waitForMessage waits until obj's condition typ mentions want.
func waitForMessage(t *testing.T, obj managedObject, typ, want string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(context.Background(), clientKey(obj), obj); err != nil {
			return err
		}
		c := meta.FindStatusCondition(obj.ManagedStatus().Conditions, typ)
		if c == nil || !strings.Contains(c.Message, want) {
			return fmt.Errorf("%s: %s condition %+v does not mention %q", obj.GetName(), typ, c, want)
		}
		got = *c
		return nil
	})
	return got
}

func waitReady(t *testing.T, obj managedObject) {
	t.Helper()
	waitFor(t, obj, commonv1.TypeReady, metav1.ConditionTrue, "")
}

// waitSynced waits until the object's current generation was acted on
// successfully.
func waitSynced(t *testing.T, obj managedObject) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(context.Background(), clientKey(obj), obj); err != nil {
			return err
		}
		st := obj.ManagedStatus()
		c := meta.FindStatusCondition(st.Conditions, commonv1.TypeSynced)
		if st.ObservedGeneration != obj.GetGeneration() || c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("%s: generation %d, observed %d, Synced %+v", obj.GetName(), obj.GetGeneration(), st.ObservedGeneration, c)
		}
		return nil
	})
}

// waitGone waits until obj no longer exists in the API server.
func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		err := env.Client.Get(context.Background(), clientKey(obj), obj)
		if err == nil {
			return fmt.Errorf("%s still exists (finalizers %v)", obj.GetName(), obj.GetFinalizers())
		}
		return client.IgnoreNotFound(err)
	})
}

// poke changes an annotation, which wakes the reconciler at once.
func poke(t *testing.T, obj client.Object) {
	t.Helper()
	update(t, obj, func(o client.Object) {
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a["test.infraplane.dev/poke"] = time.Now().Format(time.RFC3339Nano)
		o.SetAnnotations(a)
	})
}
