package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

const (
	platformV1 = "platform.infraplane.dev/v1alpha1" // a Blueprint's group, under infraplane.dev
	exampleCom = "platform.example.com/v1"          // a Blueprint's group anywhere else
	storageV1  = "storage.infraplane.dev/v1alpha1"
)

// blueprintKinds are the kinds the scenario's Blueprints define.
var blueprintKinds = []Kind{
	{Group: "platform.infraplane.dev", Version: "v1alpha1", Kind: "Queue", Plural: "queues", Singular: "queue", Namespaced: true, Blueprint: "queue"},
	{Group: "platform.example.com", Version: "v1", Kind: "Website", Plural: "websites", Singular: "website", Namespaced: true, Blueprint: "website"},
}

// instance builds a Blueprint instance with its Ready condition and its
// status.resources.
func instance(apiVersion, kind, name string, rev int64, ready cond, resources ...map[string]any) *unstructured.Unstructured {
	u := obj(apiVersion, kind, name, map[string]any{}, ready)
	u.SetLabels(map[string]string{corev1alpha1.BlueprintRevisionLabel: "2"})
	var list []any
	for _, r := range resources {
		list = append(list, r)
	}
	setStatus(u, "resources", list)
	setStatus(u, "revision", rev)
	return u
}

func resource(id, apiVersion, kind, name string, ready bool, msg string) map[string]any {
	return map[string]any{"id": id, "apiVersion": apiVersion, "kind": kind, "name": name, "ready": ready, "message": msg}
}

// child makes u a child of inst, as the instance controller does.
func child(u, inst *unstructured.Unstructured, id string) *unstructured.Unstructured {
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[corev1alpha1.BlueprintInstanceLabel] = inst.GetName()
	labels[corev1alpha1.BlueprintResourceLabel] = id
	u.SetLabels(labels)
	yes := true
	u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: inst.GetAPIVersion(), Kind: inst.GetKind(), Name: inst.GetName(),
		UID: inst.GetUID(), Controller: &yes, BlockOwnerDeletion: &yes}})
	return u
}

const missingTopicMsg = `waiting for Topic "payments" (spec.topicRef): it does not exist in namespace "shop"`

// instanceScenario is one namespace with Blueprint instances:
//   - GitSource apps applied Queue/orders (in platform.infraplane.dev) and
//     a Topic; the Queue's three children are two Ready topics and a
//     subscription waiting for a topic that does not exist;
//   - not from git: Website/site (in platform.example.com), waiting for
//     its Bucket, with a ConfigMap child status does not read and a
//     child not created yet; and a Topic whose instance is gone.
func instanceScenario() ([]corev1alpha1.GitSource, []*unstructured.Unstructured) {
	apps := corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "apps", Generation: 1, UID: "uid-gs-apps"},
		Spec:       corev1alpha1.GitSourceSpec{URL: "https://git.example.com/shop/apps.git", Interval: metav1.Duration{Duration: time.Minute}},
		Status: corev1alpha1.GitSourceStatus{
			ObservedGeneration: 1,
			Conditions: []metav1.Condition{
				{Type: "Ready", Status: "True", Reason: "Applied", Message: "applied", LastTransitionTime: metav1.NewTime(ago(time.Hour))},
			},
			LastAppliedRevision: revOrders,
			Inventory: []corev1alpha1.ObjectRef{
				ref(platformV1, "Queue", "orders"),
				ref(pubsubV1, "Topic", "audit"),
			},
			History: []corev1alpha1.SyncRecord{
				{Revision: revOrders, Author: "Ada Lovelace <ada@example.com>", Message: "Add the orders queue", Time: metav1.NewTime(ago(30 * time.Minute)), Result: "Applied", Created: 2, Duration: "150ms"},
			},
		},
	}

	queue := instance(platformV1, "Queue", "orders", 2,
		cond{"Ready", "False", "ResourceNotReady", "resource subscription (Subscription orders): WaitingForReference: " + missingTopicMsg, 7 * time.Minute},
		resource("deadLetter", pubsubV1, "Topic", "orders-dead-letter", true, ""),
		resource("topic", pubsubV1, "Topic", "orders", true, ""),
		resource("subscription", pubsubV1, "Subscription", "orders", false, "WaitingForReference: "+missingTopicMsg),
	)
	queue.SetLabels(map[string]string{corev1alpha1.SourceLabel: "shop.apps", corev1alpha1.BlueprintRevisionLabel: "2"})
	queue.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "infraplane-gitops", Operation: metav1.ManagedFieldsOperationApply, Time: ptr(metav1.NewTime(ago(30 * time.Minute)))},
	})
	sub := obj(pubsubV1, "Subscription", "orders", map[string]any{
		"topicRef":         map[string]any{"name": "payments"},
		"deadLetterPolicy": map[string]any{"deadLetterTopicRef": map[string]any{"name": "orders-dead-letter"}},
	}, failing("WaitingForReference", missingTopicMsg, 7*time.Minute)...)

	site := instance(exampleCom, "Website", "site", 1,
		cond{"Ready", "False", "ResourceNotReady", "resource bucket (Bucket site): Creating: the bucket is being created; waiting: notify", 2 * time.Minute},
		resource("bucket", storageV1, "Bucket", "site", false, "Creating: the bucket is being created"),
		resource("config", "v1", "ConfigMap", "site-config", true, ""),
		resource("notify", pubsubV1, "Topic", "", false, "waiting for bucket"),
	)
	bucket := obj(storageV1, "Bucket", "site", nil,
		cond{"Ready", "False", "Creating", "the bucket is being created", 2 * time.Minute},
		cond{"Synced", "True", "ReconcileSuccess", "", 2 * time.Minute})

	gone := &unstructured.Unstructured{}
	gone.SetAPIVersion(platformV1)
	gone.SetKind("Queue")
	gone.SetName("retired")
	gone.SetUID(types.UID("uid-Queue-retired"))

	objects := []*unstructured.Unstructured{
		queue,
		child(obj(pubsubV1, "Topic", "orders-dead-letter", nil, healthy()...), queue, "deadLetter"),
		child(obj(pubsubV1, "Topic", "orders", nil, healthy()...), queue, "topic"),
		child(sub, queue, "subscription"),
		label(obj(pubsubV1, "Topic", "audit", nil, healthy()...), "shop.apps"),

		site,
		child(bucket, site, "bucket"),

		child(obj(pubsubV1, "Topic", "retired", nil, healthy()...), gone, "topic"),
	}
	return []corev1alpha1.GitSource{apps}, objects
}

func instanceReport() *Report {
	sources, objects := instanceScenario()
	return BuildSnapshot(Snapshot{Now: now, Kinds: blueprintKinds, Sources: sources, Objects: objects})
}

func TestInstanceInItsGitSource(t *testing.T) {
	r := instanceReport()
	apps := source(r, "apps")
	if got, want := ids(apps.Objects), "[Queue/orders [Topic/orders Topic/orders-dead-letter [Subscription/orders]] Topic/audit]"; got != want {
		t.Errorf("apps tree = %s, want %s", got, want)
	}
	q := find(apps.Objects, "Queue/orders")
	if q.Missing || q.Managed || !q.Instance || q.Blueprint != "queue" || q.Revision != 2 || q.Ready != "False" {
		t.Errorf("Queue/orders = %+v", q)
	}
	for _, id := range []string{"Topic/orders", "Topic/orders-dead-letter", "Subscription/orders"} {
		c := find(apps.Objects, id)
		if c.ChildOf != "Queue/orders" || !c.Managed || c.Resource == "" {
			t.Errorf("%s: childOf %q, managed %v, resource %q", id, c.ChildOf, c.Managed, c.Resource)
		}
	}
}

func TestInstanceCauseFollowsItsChild(t *testing.T) {
	q := findIn(instanceReport(), "Queue/orders")
	c := q.Cause
	if c == nil {
		t.Fatal("Queue/orders has no cause")
	}
	if got := strings.Join(c.Chain, " → "); got != "Queue/orders → Subscription/orders → Topic/payments" {
		t.Errorf("chain = %s", got)
	}
	if !c.Missing || c.Reason != "NotFound" || c.Object != "Topic/payments" || c.For != "7m" {
		t.Errorf("cause = %+v", c)
	}
	// An instance blocked on a child of a kind status reads: the child's cause.
	w := findIn(instanceReport(), "Website/site").Cause
	if w == nil || strings.Join(w.Chain, " → ") != "Website/site → Bucket/site" || w.Reason != "Creating" {
		t.Errorf("Website/site cause = %+v", w)
	}
}

func TestInstanceCauseStopsAtTheInstance(t *testing.T) {
	for name, tc := range map[string]struct {
		ready      cond
		childReady bool
		want       string
	}{
		"apply failed": {cond{"Ready", "False", "ApplyFailed", "resource topic (Topic orders): applying Topic orders: spec.labels: Invalid value", time.Minute}, true,
			"Queue/orders: ApplyFailed: resource topic (Topic orders): applying Topic orders: spec.labels: Invalid value"},
		"readyWhen false": {cond{"Ready", "False", "ResourceNotReady", "resource topic (Topic orders): readyWhen ${self.status.resourceID != ''} is false", time.Minute}, true,
			"Queue/orders: ResourceNotReady: resource topic (Topic orders): readyWhen ${self.status.resourceID != ''} is false"},
		"only waiting": {cond{"Ready", "False", "ResourceNotReady", "waiting: topic", time.Minute}, true,
			"Queue/orders: ResourceNotReady: waiting: topic"},
		"never reconciled": {cond{}, false,
			"Queue/orders: NotReconciled: no Ready condition yet: the instance controller has not reconciled it (is infraplane running, and Blueprint queue Ready?)"},
	} {
		t.Run(name, func(t *testing.T) {
			q := instance(platformV1, "Queue", "orders", 1, tc.ready, resource("topic", pubsubV1, "Topic", "orders", tc.childReady, ""))
			if tc.ready.typ == "" {
				delete(q.Object, "status")
			}
			topic := child(obj(pubsubV1, "Topic", "orders", nil, healthy()...), q, "topic")
			r := BuildSnapshot(Snapshot{Now: now, Kinds: blueprintKinds, Objects: []*unstructured.Unstructured{q, topic}})
			c := findIn(r, "Queue/orders").Cause
			if c == nil || c.String() != tc.want {
				t.Errorf("cause = %v, want %s", c, tc.want)
			}
		})
	}
}

func TestInstanceChildrenNotFromGit(t *testing.T) {
	r := instanceReport()
	if len(r.NotFromGit) != 1 {
		t.Fatalf("not from git: %+v", r.NotFromGit)
	}
	got := ids(r.NotFromGit[0].Objects)
	want := "[Topic/retired Website/site [Bucket/site ConfigMap/site-config Topic (resource notify)]]"
	if got != want {
		t.Errorf("not from git = %s, want %s", got, want)
	}
	// The Queue's children are under the Queue only.
	for _, id := range []string{"Topic/orders", "Subscription/orders"} {
		if find(r.NotFromGit[0].Objects, id) != nil {
			t.Errorf("%s is listed as not from git", id)
		}
	}
	if o := find(r.NotFromGit[0].Objects, "Topic (resource notify)"); !o.NotCreated || o.InstanceMessage != "waiting for bucket" {
		t.Errorf("child not created = %+v", o)
	}
	if o := find(r.NotFromGit[0].Objects, "ConfigMap/site-config"); o.NotCreated || o.Ready != "True" || o.Managed {
		t.Errorf("child not read = %+v", o)
	}
	if o := find(r.NotFromGit[0].Objects, "Topic/retired"); !o.InstanceNotFound || o.ChildOf != "Queue/retired" {
		t.Errorf("orphan child = %+v", o)
	}
}

func TestInstanceSummary(t *testing.T) {
	r := instanceReport()
	// Managed objects and instances, each once: 2 instances, their 4
	// managed children, the audit topic and the orphan; not the ConfigMap
	// nor the child not created.
	want := Summary{Objects: 8, Instances: 2, Children: 4, Ready: 4, Failing: 4, Sources: 1}
	if r.Summary != want {
		t.Errorf("summary = %+v, want %+v", r.Summary, want)
	}
	if got := r.Summary.String(); got != "8 objects (2 Blueprint instances with 4 children): 4 ready, 0 drifted, 0 paused, 4 failing, 0 held" {
		t.Errorf("summary line = %q", got)
	}
}

// Without the Blueprints (not readable), an instance is known by its
// revision label: still an instance, never missing or managed.
func TestInstanceWithoutKinds(t *testing.T) {
	sources, objects := instanceScenario()
	r := Build(sources, objects, now)
	q := find(source(r, "apps").Objects, "Queue/orders")
	if q == nil || q.Managed || !q.Instance || q.Blueprint != "" || len(q.Children) != 2 {
		t.Fatalf("Queue/orders without kinds = %+v", q)
	}
	if got := strings.Join(q.Cause.Chain, " → "); got != "Queue/orders → Subscription/orders → Topic/payments" {
		t.Errorf("chain = %s", got)
	}
}

func TestInstanceStatusTable(t *testing.T) {
	r := instanceReport()
	r.Namespace = ns
	var buf bytes.Buffer
	if err := r.Write(&buf, WriteOptions{Width: 100}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status-instances.table.golden", buf.Bytes())
}

func TestTraceInstance(t *testing.T) {
	sources, objects := instanceScenario()
	snap := Snapshot{Now: now, Kinds: blueprintKinds, Sources: sources, Objects: objects}
	tr, err := Trace(snap, Target{Group: "platform.infraplane.dev", Kind: "Queue", Namespace: ns, Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	o := tr.Object
	if o.Instance == nil || o.Instance.Blueprint != "queue" || o.Instance.Revision != 2 || len(o.Instance.Resources) != 3 {
		t.Fatalf("instance = %+v", o.Instance)
	}
	if s := o.Instance.Resources[2]; s.ID != "subscription" || s.Ready || s.State != "False (WaitingForReference)" {
		t.Errorf("subscription = %+v", s)
	}
	if len(o.Conditions) != 1 || o.Conditions[0].Type != "Ready" {
		t.Errorf("conditions = %+v", o.Conditions)
	}
	if g := o.GitSource; g == nil || !g.Found || !g.InInventory || g.Via != "" || g.LastChange == nil {
		t.Errorf("git = %+v", g)
	}
	var buf bytes.Buffer
	if err := tr.Write(&buf, WriteOptions{Width: 100}); err != nil {
		t.Fatal(err)
	}
	golden(t, "trace-instance.table.golden", buf.Bytes())
}

func TestTraceChild(t *testing.T) {
	sources, objects := instanceScenario()
	snap := Snapshot{Now: now, Kinds: blueprintKinds, Sources: sources, Objects: objects}
	tr, err := Trace(snap, Target{Group: "pubsub.infraplane.dev", Kind: "Subscription", Namespace: ns, Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	o := tr.Object
	if p := o.Parent; p == nil || !p.Found || p.Kind != "Queue" || p.Name != "orders" || p.Resource != "subscription" || p.Ready != "False" {
		t.Errorf("parent = %+v", p)
	}
	if g := o.GitSource; g == nil || !g.Found || g.Via != "Queue/orders" || !g.InInventory {
		t.Errorf("git = %+v", g)
	}
	var buf bytes.Buffer
	if err := tr.Write(&buf, WriteOptions{Width: 100}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  instance:       Queue/orders (resource subscription): Ready False (ResourceNotReady)",
		"  git:            through its instance Queue/orders, from GitSource shop/apps",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestResolveBlueprintKind(t *testing.T) {
	kinds, err := LoadKinds()
	if err != nil {
		t.Fatal(err)
	}
	kinds = MergeKinds(kinds, blueprintKinds)
	for typed, want := range map[string]string{
		"queue": "Queue", "Queues": "Queue", "queue.platform.infraplane.dev": "Queue", "website": "Website", "web": "Website",
	} {
		k, err := ResolveKind(kinds, typed)
		if err != nil || k.Kind != want || k.Blueprint == "" {
			t.Errorf("ResolveKind(%q) = %+v, %v; want %s", typed, k, err, want)
		}
	}
	for _, k := range ManagedKinds(kinds) {
		if k.Kind == "Queue" {
			t.Error("a Blueprint kind in platform.infraplane.dev is taken for a managed kind")
		}
	}
}

// In another namespace a source applies to, Collect keeps what the source
// applied there, and the children of the instances among it.
func TestCollectKeepsChildrenOfAppliedInstances(t *testing.T) {
	_, objects := instanceScenario()
	applied := map[string]bool{"platform.infraplane.dev/Queue/" + ns + "/orders": true}
	var got []string
	rows := make([]*Row, len(objects))
	for i, u := range objects {
		rows[i] = RowOf(u)
	}
	for _, u := range appliedOrTheirChildren(rows, applied) {
		got = append(got, u.GetKind()+"/"+u.GetName())
	}
	if want := "Queue/orders Topic/orders-dead-letter Topic/orders Subscription/orders"; strings.Join(got, " ") != want {
		t.Errorf("kept %v, want %s", got, want)
	}
}
