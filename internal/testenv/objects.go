package testenv

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
	"github.com/infraplane/infraplane/internal/scheme"
)

// Helpers for the objects a test creates through Env.Client: create, edit
// and wait for a condition. Each wait re-reads the object into obj, so
// after it returns obj holds the state that was waited for.

// WaitTimeout is how long the Wait helpers wait before failing the test.
const WaitTimeout = 30 * time.Second

// updateTimeout bounds Update's retries on conflict.
const updateTimeout = 10 * time.Second

// Managed is an object of a managed kind: one whose status holds the
// common conditions (Ready, Synced, Drifted, …).
type Managed interface {
	client.Object
	ManagedStatus() *commonv1.ManagedStatus
}

// Create creates obj and fails the test if the API server refuses it.
func (e *Env) Create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := e.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// CreateRefused creates obj, expecting the API server to refuse it with an
// error that mentions each of want. An object that is accepted is deleted
// again and fails the test.
func (e *Env) CreateRefused(t testing.TB, obj client.Object, want ...string) {
	t.Helper()
	err := e.Client.Create(context.Background(), obj)
	if err == nil {
		_ = e.Client.Delete(context.Background(), obj)
		t.Fatalf("accepted")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q: %v", w, err)
		}
	}
}

// Update re-reads obj, applies mutate and writes it, retrying (for up to
// 10 s) when the write conflicts, e.g. with a controller's status write.
func Update[T client.Object](t testing.TB, e *Env, obj T, mutate func(T)) {
	t.Helper()
	Eventually(t, updateTimeout, func() error {
		if err := e.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return e.Client.Update(context.Background(), obj)
	})
}

// Poke changes an annotation of obj, which wakes its reconciler at once.
func (e *Env) Poke(t testing.TB, obj client.Object) {
	t.Helper()
	Update(t, e, obj, func(o client.Object) {
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a["test.infraplane.dev/poke"] = time.Now().Format(time.RFC3339Nano)
		o.SetAnnotations(a)
	})
}

// WaitFor waits until obj has condition typ with status (and reason, if
// not empty), and returns the condition.
func (e *Env) WaitFor(t testing.TB, obj Managed, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	Eventually(t, WaitTimeout, func() error {
		if err := e.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
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

// WaitForMessage waits until obj's condition typ mentions want, and
// returns the condition.
func (e *Env) WaitForMessage(t testing.TB, obj Managed, typ, want string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	Eventually(t, WaitTimeout, func() error {
		if err := e.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
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

// WaitReady waits until obj is Ready.
func (e *Env) WaitReady(t testing.TB, obj Managed) {
	t.Helper()
	e.WaitFor(t, obj, commonv1.TypeReady, metav1.ConditionTrue, "")
}

// WaitSynced waits until the controller acted on obj's current generation
// successfully: status.observedGeneration is the generation and Synced is
// True.
func (e *Env) WaitSynced(t testing.TB, obj Managed) {
	t.Helper()
	Eventually(t, WaitTimeout, func() error {
		if err := e.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
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

// WaitGone waits until obj no longer exists in the API server.
func (e *Env) WaitGone(t testing.TB, obj client.Object) {
	t.Helper()
	Eventually(t, WaitTimeout, func() error {
		err := e.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if err == nil {
			return fmt.Errorf("%s still exists (finalizers %v)", obj.GetName(), obj.GetFinalizers())
		}
		return client.IgnoreNotFound(err)
	})
}

// CreateRefusedEventually creates obj until the API server refuses it,
// then checks that the refusal mentions each of want: for refusals by an
// admission webhook the controllers register after they start, or that
// read a cache a moment behind. An accepted object is deleted and tried
// again.
func (e *Env) CreateRefusedEventually(t testing.TB, obj client.Object, want ...string) {
	t.Helper()
	var refusal error
	Eventually(t, WaitTimeout, func() error {
		o := obj.DeepCopyObject().(client.Object)
		err := e.Client.Create(context.Background(), o)
		if err == nil {
			_ = e.Client.Delete(context.Background(), o)
			e.WaitGone(t, o)
			return fmt.Errorf("%s was accepted (the webhook may not be registered yet)", o.GetName())
		}
		refusal = err
		return nil
	})
	for _, w := range want {
		if !strings.Contains(refusal.Error(), w) {
			t.Errorf("refusal does not mention %q: %v", w, refusal)
		}
	}
}

// Person is a client authenticated as user in groups with a client
// certificate, like a real person's kubeconfig: RBAC and the webhooks see
// that user.
func (e *Env) Person(t testing.TB, user string, groups ...string) client.Client {
	t.Helper()
	cfg, err := e.cp.IdentityRESTConfig(user, groups)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
