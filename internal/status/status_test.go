package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update after checking the difference):\n--- got\n%s", path, got)
	}
}

// find returns the object with id ("Kind/name") in a tree.
func find(objs []*Object, id string) *Object {
	for _, o := range objs {
		if o.ID() == id {
			return o
		}
		if c := find(o.Children, id); c != nil {
			return c
		}
	}
	return nil
}

func findIn(r *Report, id string) *Object {
	for _, s := range r.Sources {
		if o := find(s.Objects, id); o != nil {
			return o
		}
	}
	for _, g := range r.NotFromGit {
		if o := find(g.Objects, id); o != nil {
			return o
		}
	}
	return nil
}

func source(r *Report, name string) *Source {
	for _, s := range r.Sources {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func TestHealthySource(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	s := source(r, "platform")
	if s == nil {
		t.Fatal("no GitSource platform in the report")
	}
	if s.Ready.Status != "True" || s.PruneHeld != nil || s.LastAttempted != "" {
		t.Errorf("platform: ready %+v, held %+v, last attempted %q", s.Ready, s.PruneHeld, s.LastAttempted)
	}
	if a := s.Applied; a == nil || a.Short != "main@111111111111" || a.Author != "Grace Hopper <grace@example.com>" || a.Age != "120m" {
		t.Errorf("applied revision = %+v", a)
	}
	// The subscription hangs under its topic; the ConfigMap has no conditions.
	topic := find(s.Objects, "Topic/events")
	if topic == nil || len(topic.Children) != 1 || topic.Children[0].ID() != "Subscription/events-archive" {
		t.Fatalf("tree: %s", ids(s.Objects))
	}
	if topic.Cause != nil || topic.Ready != "True" || topic.Synced != "True" {
		t.Errorf("healthy topic: %+v", topic)
	}
	cm := find(s.Objects, "ConfigMap/platform-settings")
	if cm == nil || cm.Managed || cm.Missing || cm.Ready != "" || cm.Cause != nil {
		t.Errorf("ConfigMap: %+v", cm)
	}
}

func TestWaitingForAFailingReference(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	w := findIn(r, "Subscription/orders-worker")
	if w == nil {
		t.Fatal("no Subscription/orders-worker")
	}
	c := w.Cause
	if c == nil {
		t.Fatal("orders-worker has no cause")
	}
	if !slices.Equal(c.Chain, []string{"Subscription/orders-worker", "Topic/orders"}) {
		t.Errorf("chain = %v", c.Chain)
	}
	if c.Object != "Topic/orders" || c.Reason != "CloudError" || c.Message != cloudMessage || c.Condition != "Synced" {
		t.Errorf("deepest cause = %+v", c)
	}
	if c.For != "3m12s" || c.Since == nil || !c.Since.Equal(ago(3*time.Minute+12*time.Second)) {
		t.Errorf("for = %q, since %v", c.For, c.Since)
	}
	if want := "Subscription/orders-worker → Topic/orders: CloudError: " + cloudMessage; c.String() != want {
		t.Errorf("String() = %q, want %q", c.String(), want)
	}
	// The topic reports its own failure; the worker hangs under it (its
	// topicRef, not the deeper deadLetterTopicRef).
	orders := findIn(r, "Topic/orders")
	if orders.Cause == nil || len(orders.Cause.Chain) != 1 || orders.Cause.Reason != "CloudError" {
		t.Errorf("topic cause = %+v", orders.Cause)
	}
	if find(orders.Children, "Subscription/orders-worker") == nil {
		t.Errorf("worker is not under Topic/orders: %s", ids(source(r, "orders").Objects))
	}
}

func TestWaitingForAMissingReference(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	c := findIn(r, "Subscription/manual").Cause
	if c == nil || !c.Missing || c.Object != "Topic/nope" || c.Reason != "NotFound" || c.For != "42s" {
		t.Fatalf("cause = %+v", c)
	}
	if !strings.Contains(c.Message, `Topic "nope" does not exist in namespace "shop"`) {
		t.Errorf("message = %q", c.Message)
	}
}

func TestNeverReconciled(t *testing.T) {
	sources, objects := scenario()
	c := findIn(Build(sources, objects, now), "Subscription/fresh").Cause
	if c == nil || c.Reason != ReasonNotReconciled || c.For != "60m" {
		t.Fatalf("cause = %+v", c)
	}
}

func TestReferenceCycle(t *testing.T) {
	sources, objects := scenario()
	done := make(chan *Report)
	go func() { done <- Build(sources, objects, now) }()
	var r *Report
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Build loops on a reference cycle")
	}
	a := findIn(r, "Network/net-a")
	b := findIn(r, "Network/net-b")
	if a == nil || b == nil {
		t.Fatalf("networks missing from the report: %s", ids(r.NotFromGit[0].Objects))
	}
	if c := a.Cause; c == nil || !c.Cycle || !slices.Equal(c.Chain, []string{"Network/net-a", "Network/net-b", "Network/net-a"}) {
		t.Errorf("net-a cause = %+v", a.Cause)
	}
	if !strings.HasPrefix(a.Cause.String(), "Network/net-a → Network/net-b → Network/net-a: reference cycle: WaitingForReference") {
		t.Errorf("String() = %q", a.Cause.String())
	}
	// The tree breaks the cycle: one is a root, the other its child.
	roots := r.NotFromGit[0].Objects
	if find(roots, "Network/net-a") == nil || (len(a.Children) == 0) == (len(b.Children) == 0) {
		t.Errorf("tree of a cycle: %s", ids(roots))
	}
}

func TestDriftPausedPending(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	audit := findIn(r, "Subscription/orders-audit")
	if audit.Drifted != "True" || len(audit.Drift) != 2 || audit.Drift[0].Field != "spec.ackDeadlineSeconds" || audit.Drift[0].Actual != "45" {
		t.Errorf("drifted subscription: %+v", audit)
	}
	if audit.Cause != nil {
		t.Errorf("a drifted but Ready and Synced object has a cause: %+v", audit.Cause)
	}
	pay := findIn(r, "Subscription/payments")
	if pay.DriftReason != "PendingChanges" || len(pay.Drift) != 0 {
		t.Errorf("pending change: %+v", pay)
	}
	archive := findIn(r, "Subscription/events-archive")
	if archive.Paused != "True" || archive.PausedReason != "PausedByAnnotation" || archive.Cause != nil {
		t.Errorf("paused: %+v", archive)
	}
}

func TestHeldPrune(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	s := source(r, "orders")
	if s.Ready.Status != "False" || s.Ready.Reason != "PruneHeld" {
		t.Errorf("ready = %+v", s.Ready)
	}
	h := s.PruneHeld
	if h == nil || !slices.Equal(h.Objects, []string{"Subscription/legacy-reader", "Topic/legacy"}) || h.Message != heldMessage || h.For != "4m" {
		t.Fatalf("held = %+v", h)
	}
	if s.LastAttempted != revOrdersNew {
		t.Errorf("last attempted = %q", s.LastAttempted)
	}
	if a := s.Applied; a == nil || a.Author != "Ada Lovelace <ada@example.com>" || a.Age != "25m" {
		t.Errorf("applied = %+v (the record of the applied revision, not the held one)", a)
	}
	for _, id := range []string{"Topic/legacy", "Subscription/legacy-reader"} {
		if o := find(s.Objects, id); o == nil || !o.HeldPrune {
			t.Errorf("%s not marked held: %+v", id, o)
		}
	}
	if o := find(s.Objects, "Topic/orders"); o.HeldPrune {
		t.Error("Topic/orders marked held")
	}
	if o := find(s.Objects, "Topic/refunds"); o == nil || o.Missing {
		t.Errorf("Topic/refunds: %+v", o)
	}
}

func TestMissingInventoryEntry(t *testing.T) {
	sources, objects := scenario()
	// Delete the refunds topic: the inventory still lists it.
	objects = slices.DeleteFunc(objects, func(u *unstructured.Unstructured) bool { return u.GetName() == "refunds" })
	r := Build(sources, objects, now)
	o := find(source(r, "orders").Objects, "Topic/refunds")
	if o == nil || !o.Missing || !o.Managed || o.Cause != nil {
		t.Fatalf("Topic/refunds: %+v", o)
	}
	// Its subscription is a root now.
	if find(source(r, "orders").Objects, "Subscription/payments") == nil {
		t.Error("Subscription/payments lost")
	}
}

func TestNotFromGit(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	if len(r.NotFromGit) != 1 || r.NotFromGit[0].Namespace != ns {
		t.Fatalf("not from git: %+v", r.NotFromGit)
	}
	got := ids(r.NotFromGit[0].Objects)
	want := "[Network/net-a [Network/net-b] Subscription/manual Topic/scratch [Subscription/fresh Subscription/stray]]"
	if got != want {
		t.Errorf("not from git = %s, want %s", got, want)
	}
	if o := findIn(r, "Subscription/stray"); o.Source != "shop.old" {
		t.Errorf("stray source label = %q", o.Source)
	}
	// An object is in one place only.
	for _, s := range r.Sources {
		if find(s.Objects, "Topic/scratch") != nil {
			t.Errorf("Topic/scratch listed under %s", s.Name)
		}
	}
}

func TestSummary(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	want := Summary{Objects: 16, Ready: 10, Drifted: 2, Paused: 1, Failing: 6, Held: 2, Sources: 2, SourcesNotReady: 1}
	if r.Summary != want {
		t.Errorf("summary = %+v, want %+v", r.Summary, want)
	}
	if got := r.Summary.String(); got != "16 objects: 10 ready, 2 drifted, 1 paused, 6 failing, 2 held; 1 of 2 GitSources not Ready" {
		t.Errorf("summary line = %q", got)
	}
	if r.AllReady() {
		t.Error("AllReady with failing objects")
	}
	// Only the healthy source and its objects: all Ready.
	var platform []*unstructured.Unstructured
	for _, u := range objects {
		if u.GetLabels()[corev1alpha1.SourceLabel] == "shop.platform" {
			platform = append(platform, u)
		}
	}
	if r := Build(sources[1:], platform, now); !r.AllReady() || r.Summary.Objects != 2 {
		t.Errorf("healthy scope: %+v", r.Summary)
	}
}

func TestEmpty(t *testing.T) {
	r := Build(nil, nil, now)
	r.Namespace = "empty"
	var buf bytes.Buffer
	if err := r.Write(&buf, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "No GitSources and no managed objects in namespace \"empty\".\n\n0 objects: 0 ready, 0 drifted, 0 paused, 0 failing, 0 held\n"; buf.String() != want {
		t.Errorf("got %q", buf.String())
	}
	if !r.AllReady() {
		t.Error("an empty scope is not all Ready")
	}
	buf.Reset()
	if err := r.Write(&buf, WriteOptions{Format: "json"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"sources": []`) || !strings.Contains(buf.String(), `"notFromGit": []`) {
		t.Errorf("empty lists must be [] in JSON:\n%s", buf.String())
	}
}

func TestStatusTable(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	r.Namespace = ns
	var buf bytes.Buffer
	if err := r.Write(&buf, WriteOptions{Format: "table", Width: 100}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.table.golden", buf.Bytes())
	for i, line := range strings.Split(buf.String(), "\n") {
		if n := width(line); n > 100 && strings.Contains(line, " ") && !strings.Contains(line, "https://") {
			t.Errorf("line %d is %d wide: %q", i+1, n, line)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	sources, objects := scenario()
	r := Build(sources, objects, now)
	r.Namespace = ns
	var buf bytes.Buffer
	if err := r.Write(&buf, WriteOptions{Format: "json"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.json.golden", buf.Bytes())

	// Tools read it back: full messages, the chain, the summary.
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	w := findIn(&back, "Subscription/orders-worker")
	if w == nil || w.Cause == nil || w.Cause.Message != cloudMessage || w.Cause.For != "3m12s" || len(w.Cause.Chain) != 2 {
		t.Errorf("worker after a JSON round trip: %+v", w)
	}
	if back.Summary != r.Summary {
		t.Errorf("summary after a JSON round trip: %+v", back.Summary)
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Build(nil, nil, now).Write(&bytes.Buffer{}, WriteOptions{Format: "yaml"}); err == nil {
		t.Error("no error for -o yaml")
	}
}

func TestTraceSubscription(t *testing.T) {
	sources, objects := scenario()
	snap := Snapshot{Now: now, Sources: sources, Objects: objects, Events: events()}
	tr, err := Trace(snap, Target{Group: "pubsub.infraplane.dev", Kind: "Subscription", Namespace: ns, Name: "orders-worker"})
	if err != nil {
		t.Fatal(err)
	}
	o := tr.Object
	if o == nil || tr.Source != nil {
		t.Fatalf("trace = %+v", tr)
	}
	if !o.PendingSpecChange || o.Generation != 2 || o.ObservedGeneration != 1 {
		t.Errorf("generation %d observed %d pending %v", o.Generation, o.ObservedGeneration, o.PendingSpecChange)
	}
	if o.SelfLink != "projects/shop-prod/subscriptions/orders-worker" || o.LastSyncAge != "20s" {
		t.Errorf("selfLink %q, last sync %q", o.SelfLink, o.LastSyncAge)
	}
	var types []string
	for _, c := range o.Conditions {
		types = append(types, c.Type)
	}
	if !slices.Equal(types, []string{"Ready", "Synced", "Drifted", "Paused"}) {
		t.Errorf("conditions = %v", types)
	}
	if len(o.References) != 2 || o.References[0].Field != "spec.deadLetterPolicy.deadLetterTopicRef.name" ||
		o.References[0].Ready != "True" || o.References[1].Name != "orders" || o.References[1].Ready != "False" {
		t.Errorf("references = %+v", o.References)
	}
	if o.Cause == nil || o.Cause.Object != "Topic/orders" {
		t.Errorf("cause = %+v", o.Cause)
	}
	g := o.GitSource
	if g == nil || !g.Found || !g.InInventory || g.Name != "orders" || g.File != "pubsub/subscriptions.yaml:12" {
		t.Fatalf("git source = %+v", g)
	}
	// The syncer last wrote the worker 25 minutes ago: the sync of revOrders.
	if g.LastChange == nil || g.LastChange.Revision != revOrders || g.LastChange.Author != "Ada Lovelace <ada@example.com>" {
		t.Errorf("last change = %+v", g.LastChange)
	}
	// Its own events only (not an earlier object's, not another's), oldest first.
	if len(o.Events) != 2 || o.Events[0].Reason != "Created" || o.Events[1].Reason != "WaitingForReference" || o.Events[1].Count != 7 || o.Events[1].Age != "30s" {
		t.Errorf("events = %+v", o.Events)
	}

	var buf bytes.Buffer
	if err := tr.Write(&buf, WriteOptions{Width: 100}); err != nil {
		t.Fatal(err)
	}
	golden(t, "trace-subscription.table.golden", buf.Bytes())
	buf.Reset()
	if err := tr.Write(&buf, WriteOptions{Format: "json"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "trace-subscription.json.golden", buf.Bytes())
}

func TestTraceNotFromGit(t *testing.T) {
	sources, objects := scenario()
	tr, err := Trace(Snapshot{Now: now, Sources: sources, Objects: objects},
		Target{Group: "pubsub.infraplane.dev", Kind: "Subscription", Namespace: ns, Name: "stray"})
	if err != nil {
		t.Fatal(err)
	}
	if g := tr.Object.GitSource; g == nil || g.Found || g.Namespace != "shop" || g.Name != "old" {
		t.Errorf("git source of a stray object = %+v", g)
	}
	tr, err = Trace(Snapshot{Now: now, Sources: sources, Objects: objects},
		Target{Group: "pubsub.infraplane.dev", Kind: "Topic", Namespace: ns, Name: "scratch"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Object.GitSource != nil || tr.Object.Cause != nil || len(tr.Object.Events) != 0 {
		t.Errorf("scratch: %+v", tr.Object)
	}
}

func TestTraceGitSource(t *testing.T) {
	sources, objects := scenario()
	tr, err := Trace(Snapshot{Now: now, Sources: sources, Objects: objects},
		Target{Group: "infraplane.dev", Kind: "GitSource", Namespace: ns, Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	s := tr.Source
	if s == nil || tr.Object != nil {
		t.Fatalf("trace = %+v", tr)
	}
	if len(s.History) != 3 || s.History[0].Result != "Held" || s.PruneHeld == nil || len(s.Conditions) != 2 {
		t.Errorf("source trace = %+v", s)
	}
	if s.Ref != "branch main" || !s.Prune || s.MaxPrunePercent != 25 {
		t.Errorf("spec = %q %v %d", s.Ref, s.Prune, s.MaxPrunePercent)
	}
	var buf bytes.Buffer
	if err := tr.Write(&buf, WriteOptions{Width: 100}); err != nil {
		t.Fatal(err)
	}
	golden(t, "trace-gitsource.table.golden", buf.Bytes())
}

func TestTraceNotFound(t *testing.T) {
	_, err := Trace(Snapshot{Now: now}, Target{Group: "pubsub.infraplane.dev", Kind: "Topic", Namespace: ns, Name: "nope"})
	var nf *NotFoundError
	if !errors.As(err, &nf) || err.Error() != `Topic "nope" not found in namespace "shop"` {
		t.Errorf("err = %v", err)
	}
}

func TestLastChangeOlderThanHistory(t *testing.T) {
	sources, objects := scenario()
	for _, u := range objects {
		if u.GetName() == "orders-worker" {
			u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "infraplane-gitops", Time: ptr(metav1.NewTime(ago(30 * time.Hour)))}})
		}
	}
	tr, err := Trace(Snapshot{Now: now, Sources: sources, Objects: objects},
		Target{Group: "pubsub.infraplane.dev", Kind: "Subscription", Namespace: ns, Name: "orders-worker"})
	if err != nil {
		t.Fatal(err)
	}
	if g := tr.Object.GitSource; g.LastChange != nil || !strings.Contains(g.Note, "30h ago, in a sync that is not among the 3 the history keeps") {
		t.Errorf("git source = %+v", g)
	}
}

func TestResolveKind(t *testing.T) {
	kinds, err := LoadKinds()
	if err != nil {
		t.Fatal(err)
	}
	if got := ManagedKinds(kinds); len(got) < 2 {
		t.Fatalf("managed kinds from the embedded CRDs: %+v", got)
	}
	for _, k := range ManagedKinds(kinds) {
		if k.Group == "infraplane.dev" || !k.Namespaced {
			t.Errorf("not a managed kind: %+v", k)
		}
	}
	for typed, want := range map[string]string{
		"subscription": "Subscription", "Subscriptions": "Subscription", "sub": "Subscription", "SUB": "Subscription",
		"topic": "Topic", "topics": "Topic", "topic.pubsub.infraplane.dev": "Topic",
		"gs": "GitSource", "gitsource": "GitSource", "GitSources": "GitSource", "gitsrc": "", "subscr": "Subscription",
		"providerconfig": "", "pod": "", "": "",
	} {
		k, err := ResolveKind(kinds, typed)
		switch {
		case want == "" && err == nil:
			t.Errorf("ResolveKind(%q) = %s, want an error", typed, k.Kind)
		case want != "" && (err != nil || k.Kind != want):
			t.Errorf("ResolveKind(%q) = %s, %v; want %s", typed, k.Kind, err, want)
		}
	}
	// Two kinds of the same name in different groups need the group.
	two := append(kinds, Kind{Group: "other.infraplane.dev", Version: "v1", Kind: "Topic", Plural: "topics", Namespaced: true})
	if _, err := ResolveKind(two, "topic"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous kind: %v", err)
	}
	if k, err := ResolveKind(two, "topic.other.infraplane.dev"); err != nil || k.Group != "other.infraplane.dev" {
		t.Errorf("qualified kind: %+v, %v", k, err)
	}
}

func TestFindRefs(t *testing.T) {
	spec := map[string]any{
		"topicRef":         map[string]any{"name": "orders"},
		"deadLetterPolicy": map[string]any{"deadLetterTopicRef": map[string]any{"external": "projects/p/topics/dl"}},
		"secretRef":        map[string]any{"name": "not-a-managed-kind"},
		"labels":           map[string]any{"team": "x"},
	}
	got := FindRefs(spec, []string{"Subscription", "Topic"})
	want := []Ref{
		{Field: "deadLetterPolicy.deadLetterTopicRef.external", Kind: "Topic", External: "projects/p/topics/dl"},
		{Field: "topicRef.name", Kind: "Topic", Name: "orders"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("FindRefs = %+v", got)
	}
	for msg, want := range map[string]string{
		`waiting for Topic "orders" (spec.topicRef): it is not Ready: boom (x)`: "Topic/orders",
		`waiting for Topic "a\"b" (spec.topicRef): x`:                           `Topic/a"b`,
		`reading Topic "orders" for spec.topicRef: boom`:                        "",
	} {
		kind, name, _, ok := parseWaiting(msg)
		if got := kind + "/" + name; (want == "" && ok) || (want != "" && got != want) {
			t.Errorf("parseWaiting(%q) = %q, %v", msg, got, ok)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("aaa bbb ccc ddd\n  indented eee fff", 8)
	want := []string{"aaa bbb", "ccc ddd", "  indented", "  eee", "  fff"}
	if !slices.Equal(got, want) {
		t.Errorf("wrap = %q", got)
	}
}

// ids renders a tree compactly: [A [child…] B].
func ids(objs []*Object) string {
	var parts []string
	for _, o := range objs {
		parts = append(parts, o.ID())
		if len(o.Children) > 0 {
			parts = append(parts, ids(o.Children))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestCauseEdgeCases(t *testing.T) {
	sub := func(name, topic string, conds ...cond) *unstructured.Unstructured {
		return obj(pubsubV1, "Subscription", name, topicRef(topic), conds...)
	}
	waiting := func(topic, why string) []cond {
		return failing("WaitingForReference", `waiting for Topic "`+topic+`" (spec.topicRef): `+why, time.Minute)
	}
	deleting := obj(pubsubV1, "Topic", "going", nil, healthy()...)
	deleting.SetDeletionTimestamp(ptr(metav1.NewTime(ago(20 * time.Second))))
	objects := []*unstructured.Unstructured{
		// Ready, but an update failed: Synced says why.
		obj(pubsubV1, "Topic", "labels", nil,
			cond{"Ready", "True", "Available", "", time.Hour},
			cond{"Synced", "False", "UpdateNotSupported", "spec.labels: the endpoint does not support updating labels", 2 * time.Minute},
			cond{"Drifted", "True", "PendingChanges", "spec.labels", 2 * time.Minute},
			cond{"Paused", "False", "Active", "", time.Hour}),
		// Waiting for a topic that is Ready by now.
		obj(pubsubV1, "Topic", "ready-now", nil, healthy()...),
		sub("late", "ready-now", waiting("ready-now", "it has not been reconciled yet")...),
		// Waiting for a topic being deleted.
		deleting,
		sub("orphan", "going", waiting("going", "it is being deleted")...),
		// A message that names no target: the first unready reference is followed.
		obj(pubsubV1, "Topic", "broken", nil, failing("CloudError", "boom", 3*time.Minute)...),
		sub("vague", "broken", failing("WaitingForReference", "waiting", time.Minute)...),
		// Three deep: a subscription, a waiting example kind, a failing topic.
		obj(exampleV1, "Bridge", "b", map[string]any{"topicRef": map[string]any{"name": "broken"}}, waiting("broken", "it is not Ready: boom")...),
		obj(pubsubV1, "Subscription", "deep", map[string]any{"topicRef": map[string]any{"name": "x"}, "bridgeRef": map[string]any{"name": "b"}},
			failing("WaitingForReference", `waiting for Bridge "b" (spec.bridgeRef): it is not Ready`, time.Minute)...),
	}
	r := Build(nil, objects, now)
	check := func(id string, chain []string, reason string) *Cause {
		t.Helper()
		o := findIn(r, id)
		if o == nil || o.Cause == nil {
			t.Fatalf("%s: no cause: %+v", id, o)
		}
		if !slices.Equal(o.Cause.Chain, chain) || o.Cause.Reason != reason {
			t.Errorf("%s: cause = %+v, want chain %v reason %s", id, o.Cause, chain, reason)
		}
		return o.Cause
	}
	if c := check("Topic/labels", []string{"Topic/labels"}, "UpdateNotSupported"); c.Condition != "Synced" || c.For != "2m" {
		t.Errorf("labels: %+v", c)
	}
	if c := check("Subscription/late", []string{"Subscription/late"}, "WaitingForReference"); !strings.Contains(c.Note, "Topic/ready-now is Ready now") {
		t.Errorf("late: note %q", c.Note)
	}
	if c := check("Subscription/orphan", []string{"Subscription/orphan", "Topic/going"}, "Deleting"); c.For != "20s" {
		t.Errorf("orphan: %+v", c)
	}
	check("Subscription/vague", []string{"Subscription/vague", "Topic/broken"}, "CloudError")
	if c := check("Subscription/deep", []string{"Subscription/deep", "Bridge/b", "Topic/broken"}, "CloudError"); c.For != "3m" || c.Message != "boom" {
		t.Errorf("deep: %+v", c)
	}
	if findIn(r, "Topic/going").DeletingSince == nil {
		t.Error("Topic/going: not marked as being deleted")
	}
}

// An object a break-glass holds apart from git is flagged on its row and
// counted in the summary, so a hold is never forgotten.
func TestHeldAfterBreakGlass(t *testing.T) {
	msg := "break-glass inc-4211 ended and this object differs from git in spec.ackDeadlineSeconds; …"
	held := obj("pubsub.infraplane.dev/v1alpha1", "Topic", "held", nil, append(healthy(), cond{"Diverged", "True", "HeldAfterBreakGlass", msg, time.Minute})...)
	released := obj("pubsub.infraplane.dev/v1alpha1", "Topic", "released", nil, append(healthy(), cond{"Diverged", "False", "MatchesGit", "", time.Minute})...)
	r := Build(nil, []*unstructured.Unstructured{held, released}, now)
	if o := findIn(r, "Topic/held"); o.DivergedMessage != msg {
		t.Errorf("held object: %+v", o)
	}
	if o := findIn(r, "Topic/released"); o.DivergedMessage != "" {
		t.Errorf("released object flagged: %+v", o)
	}
	if r.Summary.Diverged != 1 || !strings.Contains(r.Summary.String(), "1 held after break-glass") {
		t.Errorf("summary: %s", r.Summary)
	}
	if d := findIn(r, "Topic/held").details(false); !slices.Contains(d, "held after break-glass: "+msg) {
		t.Errorf("details: %q", d)
	}
}
