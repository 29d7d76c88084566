package controlplane

import (
	"fmt"
	"sync"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// A server-side apply or update that changes nothing reaches the write
// hook marked Unchanged (the ledger records no direct edit for it); one
// that changes something, removing a field included, is not marked, nor
// is a dry run's.
func TestUnchangedWritesAreMarked(t *testing.T) {
	var mu sync.Mutex
	var events []WriteEvent
	cp := start(t, Options{DataDir: t.TempDir(), Logger: testLogger(), OnWrite: func(w WriteEvent) {
		if w.Resource == widgetGVR.Resource {
			mu.Lock()
			events = append(events, w)
			mu.Unlock()
		}
	}})
	ctx := t.Context()
	installWidgetCRD(t, cp.RESTConfig())
	mustCreateNamespace(t, kubernetes.NewForConfigOrDie(cp.RESTConfig()), "noop")
	widgets := dynamic.NewForConfigOrDie(cp.RESTConfig()).Resource(widgetGVR).Namespace("noop")

	// Each step is one write; want is whether it must be marked Unchanged.
	apply := func(size int64, labels map[string]any, dryRun bool) {
		t.Helper()
		w := widget("w", size)
		if labels != nil {
			w.Object["metadata"].(map[string]any)["labels"] = labels
		}
		opts := metav1.ApplyOptions{FieldManager: "kubectl", Force: true}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		if _, err := widgets.Apply(ctx, "w", w, opts); err != nil {
			t.Fatal(err)
		}
	}
	setStatus := func(ready bool) {
		t.Helper()
		got, err := widgets.Get(ctx, "w", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedField(got.Object, ready, "status", "ready"); err != nil {
			t.Fatal(err)
		}
		if _, err := widgets.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name      string
		do        func()
		unchanged bool
	}{
		{"first apply (creates)", func() { apply(1, map[string]any{"team": "a"}, false) }, false},
		{"unchanged re-apply", func() { apply(1, map[string]any{"team": "a"}, false) }, true},
		{"status written by someone else", func() { setStatus(true) }, false},
		{"unchanged re-apply after it", func() { apply(1, map[string]any{"team": "a"}, false) }, true},
		{"changed apply, dry run", func() { apply(2, map[string]any{"team": "a"}, true) }, false},
		{"changed apply", func() { apply(2, map[string]any{"team": "a"}, false) }, false},
		{"apply dropping the label", func() { apply(2, nil, false) }, false},
		{"unchanged re-apply again", func() { apply(2, nil, false) }, true},
	}
	for i, s := range steps {
		s.do()
		// The hook runs after the response is sent: wait for it.
		eventually(t, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(events) > i
		})
		mu.Lock()
		got := events[i]
		mu.Unlock()
		if got.Unchanged != s.unchanged {
			t.Errorf("%s (%s %s): Unchanged %v, want %v", s.name, got.Verb, got.Subresource, got.Unchanged, s.unchanged)
		}
		if wantDry := i == 4; got.DryRun != wantDry {
			t.Errorf("%s: DryRun %v, want %v", s.name, got.DryRun, wantDry)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != len(steps) {
		t.Errorf("%d write events, want %d: %s", len(events), len(steps), fmt.Sprint(events))
	}
}

// Audit events may reach the hook out of order. When a change and a no-op
// to one object overlap, both answer with the new version; whichever comes
// first, neither is taken for unchanged (the change must never be dropped,
// nor recorded only under the other request's user). A no-op that started
// after both completed is unchanged.
func TestOverlappingWritesAreNeverTakenForUnchanged(t *testing.T) {
	var got []WriteEvent
	b := hookBackend{hook: func(w WriteEvent) { got = append(got, w) }, seen: &versions{}}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	event := func(user, rv string, received, done time.Duration) *auditinternal.Event {
		return &auditinternal.Event{
			Stage: auditinternal.StageResponseComplete, Verb: "patch",
			User:                     authnv1.UserInfo{Username: user},
			ObjectRef:                &auditinternal.ObjectReference{APIGroup: "pubsub.infraplane.dev", Resource: "topics", Namespace: "team-a", Name: "orders"},
			ResponseStatus:           &metav1.Status{Code: 200},
			ResponseObject:           &runtime.Unknown{Raw: []byte(`{"metadata":{"resourceVersion":"` + rv + `"}}`)},
			RequestReceivedTimestamp: metav1.NewMicroTime(t0.Add(received)),
			StageTimestamp:           metav1.NewMicroTime(t0.Add(done)),
		}
	}
	b.ProcessEvents(event("before", "5", 0, time.Millisecond))
	// mallory's change (rv 6) and the syncer's overlapping no-op, which
	// also answers 6; the no-op's event arrives first.
	b.ProcessEvents(event("syncer", "6", 10*time.Millisecond, 30*time.Millisecond))
	b.ProcessEvents(event("mallory", "6", 5*time.Millisecond, 20*time.Millisecond))
	// A re-apply that started after both had completed.
	b.ProcessEvents(event("later", "6", 40*time.Millisecond, 45*time.Millisecond))
	want := map[string]bool{"before": false, "syncer": false, "mallory": false, "later": true}
	for _, w := range got {
		if w.Unchanged != want[w.User] {
			t.Errorf("%s: Unchanged=%v, want %v", w.User, w.Unchanged, want[w.User])
		}
	}
	if len(got) != 4 {
		t.Fatalf("%d events reached the hook, want 4", len(got))
	}
}
