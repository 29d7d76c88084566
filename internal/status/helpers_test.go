package status

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// now is the fixed "now" of every test.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	pubsubV1  = "pubsub.infraplane.dev/v1alpha1"
	exampleV1 = "example.infraplane.dev/v1alpha1" // a kind status has no code for
	ns        = "shop"
)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

type cond struct {
	typ, status, reason, msg string
	since                    time.Duration
}

// obj builds a managed object the way the API server returns it.
func obj(apiVersion, kind, name string, spec map[string]any, conds ...cond) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID("uid-" + kind + "-" + name))
	u.SetGeneration(1)
	u.SetCreationTimestamp(metav1.NewTime(ago(time.Hour)))
	if spec == nil {
		spec = map[string]any{}
	}
	u.Object["spec"] = spec
	var cs []any
	for _, c := range conds {
		cs = append(cs, map[string]any{
			"type": c.typ, "status": c.status, "reason": c.reason, "message": c.msg,
			"lastTransitionTime": ts(ago(c.since)), "observedGeneration": int64(1),
		})
	}
	if len(cs) > 0 {
		u.Object["status"] = map[string]any{"conditions": cs, "observedGeneration": int64(1)}
	}
	return u
}

// healthy are the four conditions of an object with nothing to report.
func healthy() []cond {
	return []cond{
		{"Ready", "True", "Available", "", time.Hour},
		{"Synced", "True", "ReconcileSuccess", "", time.Hour},
		{"Drifted", "False", "InSync", "", time.Hour},
		{"Paused", "False", "Active", "", time.Hour},
	}
}

func failing(reason, msg string, since time.Duration) []cond {
	return []cond{
		{"Ready", "False", reason, msg, since},
		{"Synced", "False", reason, msg, since},
		{"Drifted", "False", "InSync", "", time.Hour},
		{"Paused", "False", "Active", "", time.Hour},
	}
}

func setStatus(u *unstructured.Unstructured, field string, v any) *unstructured.Unstructured {
	st, _ := u.Object["status"].(map[string]any)
	if st == nil {
		st = map[string]any{}
		u.Object["status"] = st
	}
	st[field] = v
	return u
}

func label(u *unstructured.Unstructured, source string) *unstructured.Unstructured {
	u.SetLabels(map[string]string{corev1alpha1.SourceLabel: source})
	return u
}

func topicRef(name string) map[string]any {
	return map[string]any{"topicRef": map[string]any{"name": name}}
}

func ref(apiVersion, kind, name string) corev1alpha1.ObjectRef {
	return corev1alpha1.ObjectRef{APIVersion: apiVersion, Kind: kind, Name: name, Namespace: ns}
}

func withFile(r corev1alpha1.ObjectRef, file string, line int32) corev1alpha1.ObjectRef {
	r.File, r.Line = file, line
	return r
}

const (
	revPlatform  = "main@sha1:1111111111111111111111111111111111111111"
	revOrders    = "main@sha1:3f2a1c9e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f"
	revOrdersNew = "main@sha1:9b1e0c2d3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d"
	cloudMessage = "rpc error: code = PermissionDenied desc = User not authorized to perform this action on " +
		"projects/shop-prod/topics/orders: the service account infraplane@shop-prod.iam.gserviceaccount.com " +
		"needs roles/pubsub.editor (or pubsub.topics.create) on the project"
	heldMessage = "revision 9b1e0c2d3a4f would delete 2 of 7 objects (28%, more than maxPrunePercent 25%): " +
		"Subscription/legacy-reader, Topic/legacy; nothing applied; to confirm, run `infraplane sync orders -n shop --confirm` " +
		"or annotate the GitSource infraplane.dev/confirm-prune=9b1e0c2d3a4f"
)

// scenario is one namespace with every state status reports:
//   - GitSource platform: Ready; a healthy topic, a paused subscription
//     and a ConfigMap;
//   - GitSource orders: not Ready, its prune held; a topic failing with a
//     cloud error and a subscription waiting for it, a drifted
//     subscription, a subscription with a pending spec change, two
//     objects held from pruning, an inventory entry that does not exist;
//   - not from git: a healthy topic, a subscription waiting for a topic
//     that does not exist, one labelled by a deleted GitSource, and two
//     objects of a kind status has no code for that reference each other.
func scenario() ([]corev1alpha1.GitSource, []*unstructured.Unstructured) {
	prune := true
	platform := corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform", Generation: 1, UID: "uid-gs-platform"},
		Spec:       corev1alpha1.GitSourceSpec{URL: "https://git.example.com/shop/platform.git", Path: "infra", Interval: metav1.Duration{Duration: time.Minute}},
		Status: corev1alpha1.GitSourceStatus{
			ObservedGeneration: 1,
			Conditions: []metav1.Condition{
				{Type: "Ready", Status: "True", Reason: "Applied", Message: "applied revision " + revPlatform + " (0 created, 0 configured, 3 unchanged, 0 pruned)", LastTransitionTime: metav1.NewTime(ago(2 * time.Hour))},
				{Type: "PruneHeld", Status: "False", Reason: "NothingHeld", LastTransitionTime: metav1.NewTime(ago(2 * time.Hour))},
			},
			LastAppliedRevision:   revPlatform,
			LastAttemptedRevision: revPlatform,
			Inventory: []corev1alpha1.ObjectRef{
				ref("v1", "ConfigMap", "platform-settings"),
				ref(pubsubV1, "Subscription", "events-archive"),
				ref(pubsubV1, "Topic", "events"),
			},
			History: []corev1alpha1.SyncRecord{
				{Revision: revPlatform, Author: "Grace Hopper <grace@example.com>", Message: "Archive every event", Time: metav1.NewTime(ago(2 * time.Hour)), Result: "Applied", Created: 3, Duration: "212ms"},
			},
		},
	}
	orders := corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders", Generation: 2, UID: "uid-gs-orders"},
		Spec: corev1alpha1.GitSourceSpec{URL: "https://git.example.com/shop/orders.git", Ref: corev1alpha1.GitRef{Branch: "main"}, Path: ".",
			Interval: metav1.Duration{Duration: time.Minute}, Prune: &prune, MaxPrunePercent: 25},
		Status: corev1alpha1.GitSourceStatus{
			ObservedGeneration: 2,
			Conditions: []metav1.Condition{
				{Type: "Ready", Status: "False", Reason: "PruneHeld", Message: heldMessage, LastTransitionTime: metav1.NewTime(ago(4 * time.Minute))},
				{Type: "PruneHeld", Status: "True", Reason: "PruneHeld", Message: heldMessage, LastTransitionTime: metav1.NewTime(ago(4 * time.Minute))},
			},
			LastAppliedRevision:   revOrders,
			LastAttemptedRevision: revOrdersNew,
			Inventory: []corev1alpha1.ObjectRef{
				ref(pubsubV1, "Subscription", "legacy-reader"),
				ref(pubsubV1, "Subscription", "orders-audit"),
				withFile(ref(pubsubV1, "Subscription", "orders-worker"), "pubsub/subscriptions.yaml", 12),
				ref(pubsubV1, "Subscription", "payments"),
				ref(pubsubV1, "Topic", "legacy"),
				ref(pubsubV1, "Topic", "orders"),
				ref(pubsubV1, "Topic", "orders-dead-letter"),
				ref(pubsubV1, "Topic", "refunds"),
			},
			HeldPrune: []corev1alpha1.ObjectRef{
				ref(pubsubV1, "Subscription", "legacy-reader"),
				ref(pubsubV1, "Topic", "legacy"),
			},
			History: []corev1alpha1.SyncRecord{
				{Revision: revOrdersNew, Author: "Linus Torvalds <linus@example.com>", Message: "Drop the legacy topic", Time: metav1.NewTime(ago(4 * time.Minute)), Result: "Held", Error: heldMessage},
				{Revision: revOrders, Author: "Ada Lovelace <ada@example.com>", Message: "Slow down the worker", Time: metav1.NewTime(ago(25 * time.Minute)), Result: "Applied", Configured: 1, Unchanged: 6, Duration: "180ms"},
				{Revision: "main@sha1:0000000000000000000000000000000000000abc", Author: "Ada Lovelace <ada@example.com>", Message: "Orders pipeline", Time: metav1.NewTime(ago(3 * time.Hour)), Result: "Applied", Created: 7, Duration: "1.2s"},
			},
		},
	}

	worker := obj(pubsubV1, "Subscription", "orders-worker", map[string]any{
		"topicRef":           map[string]any{"name": "orders"},
		"ackDeadlineSeconds": int64(30),
		"deadLetterPolicy":   map[string]any{"deadLetterTopicRef": map[string]any{"name": "orders-dead-letter"}, "maxDeliveryAttempts": int64(10)},
		"managementPolicy":   "Full", "deletionPolicy": "Delete",
	}, failing("WaitingForReference", `waiting for Topic "orders" (spec.topicRef): it is not Ready: `+cloudMessage, 3*time.Minute)...)
	worker.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "infraplane-gitops", Operation: metav1.ManagedFieldsOperationApply, Time: ptr(metav1.NewTime(ago(25 * time.Minute)))},
		{Manager: "infraplane-pubsub", Operation: metav1.ManagedFieldsOperationUpdate, Time: ptr(metav1.NewTime(ago(time.Minute))), Subresource: "status"},
	})
	worker.SetGeneration(2)
	setStatus(worker, "observedGeneration", int64(1))

	audit := obj(pubsubV1, "Subscription", "orders-audit", topicRef("orders"), []cond{
		{"Ready", "True", "Available", "", time.Hour},
		{"Synced", "True", "ReconcileSuccess", "", time.Hour},
		{"Drifted", "True", "DriftDetected", "spec.ackDeadlineSeconds and spec.labels differ from the cloud (managementPolicy ObserveOnly: not repaired)", 10 * time.Minute},
		{"Paused", "False", "ObserveOnly", "", time.Hour},
	}...)
	setStatus(audit, "drift", []any{
		map[string]any{"field": "spec.ackDeadlineSeconds", "desired": "10", "actual": "45"},
		map[string]any{"field": "spec.labels.team", "desired": "compliance", "actual": ""},
	})

	payments := obj(pubsubV1, "Subscription", "payments", topicRef("refunds"), []cond{
		{"Ready", "True", "Available", "", time.Hour},
		{"Synced", "True", "ReconcileSuccess", "", time.Hour},
		{"Drifted", "True", "PendingChanges", "spec.ackDeadlineSeconds: 20 in the spec, 10 in the cloud: an update is pending", 20 * time.Second},
		{"Paused", "False", "Active", "", time.Hour},
	}...)

	archive := obj(pubsubV1, "Subscription", "events-archive", topicRef("events"), []cond{
		{"Ready", "True", "Available", "", time.Hour},
		{"Synced", "True", "ReconcileSuccess", "", time.Hour},
		{"Drifted", "False", "InSync", "", time.Hour},
		{"Paused", "True", "PausedByAnnotation", "infraplane.dev/paused is \"true\": cloud writes are paused", 90 * time.Minute},
	}...)
	archive.SetAnnotations(map[string]string{"infraplane.dev/paused": "true"})

	configMap := &unstructured.Unstructured{Object: map[string]any{"data": map[string]any{"a": "b"}}}
	configMap.SetAPIVersion("v1")
	configMap.SetKind("ConfigMap")
	configMap.SetNamespace(ns)
	configMap.SetName("platform-settings")
	configMap.SetLabels(map[string]string{corev1alpha1.SourceLabel: "shop.platform"})

	objects := []*unstructured.Unstructured{
		label(obj(pubsubV1, "Topic", "events", nil, healthy()...), "shop.platform"),
		label(archive, "shop.platform"),
		configMap,

		label(obj(pubsubV1, "Topic", "orders", nil, failing("CloudError", cloudMessage, 3*time.Minute+12*time.Second)...), "shop.orders"),
		label(obj(pubsubV1, "Topic", "orders-dead-letter", nil, healthy()...), "shop.orders"),
		label(worker, "shop.orders"),
		label(audit, "shop.orders"),
		label(payments, "shop.orders"),
		label(obj(pubsubV1, "Topic", "refunds", nil, healthy()...), "shop.orders"),
		label(obj(pubsubV1, "Topic", "legacy", nil, healthy()...), "shop.orders"),
		label(obj(pubsubV1, "Subscription", "legacy-reader", topicRef("legacy"), healthy()...), "shop.orders"),

		obj(pubsubV1, "Topic", "scratch", nil, healthy()...),
		obj(pubsubV1, "Subscription", "manual", topicRef("nope"),
			failing("WaitingForReference", `waiting for Topic "nope" (spec.topicRef): it does not exist in namespace "shop"`, 42*time.Second)...),
		label(obj(pubsubV1, "Subscription", "stray", topicRef("scratch"), healthy()...), "shop.old"),
		obj(pubsubV1, "Subscription", "fresh", topicRef("scratch")), // never reconciled

		// A future kind with references that loop (status must not).
		obj(exampleV1, "Network", "net-a", map[string]any{"peerNetworkRef": map[string]any{"name": "net-b"}},
			failing("WaitingForReference", `waiting for Network "net-b" (spec.peerNetworkRef): it is not Ready (WaitingForReference)`, 5*time.Minute)...),
		obj(exampleV1, "Network", "net-b", map[string]any{"peerNetworkRef": map[string]any{"name": "net-a"}},
			failing("WaitingForReference", `waiting for Network "net-a" (spec.peerNetworkRef): it is not Ready (WaitingForReference)`, 5*time.Minute)...),
	}
	for _, u := range objects {
		if u.GetKind() == "Topic" || u.GetKind() == "Subscription" {
			if st, ok := u.Object["status"].(map[string]any); ok {
				st["resourceID"] = u.GetName()
				st["selfLink"] = "projects/shop-prod/" + map[string]string{"Topic": "topics", "Subscription": "subscriptions"}[u.GetKind()] + "/" + u.GetName()
				st["lastSyncTime"] = ts(ago(20 * time.Second))
			}
		}
	}
	// The failing topic never got a cloud resource.
	ordersTopic := objects[3]
	delete(ordersTopic.Object["status"].(map[string]any), "selfLink")
	delete(ordersTopic.Object["status"].(map[string]any), "resourceID")
	return []corev1alpha1.GitSource{orders, platform}, objects
}

func ptr[T any](v T) *T { return &v }

// events are events about the worker (and one about an earlier object of
// the same name, and one about another object).
func events() []eventsv1.Event {
	ev := func(name, uid, typ, reason, note string, at time.Time, count int32) eventsv1.Event {
		e := eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "." + reason, CreationTimestamp: metav1.NewTime(at)},
			EventTime:  metav1.NewMicroTime(at),
			Regarding:  corev1.ObjectReference{APIVersion: pubsubV1, Kind: "Subscription", Namespace: ns, Name: name, UID: types.UID(uid)},
			Type:       typ, Reason: reason, Note: note, Action: "Reconcile", ReportingController: "infraplane-Subscription",
		}
		if count > 1 {
			e.Series = &eventsv1.EventSeries{Count: count, LastObservedTime: metav1.NewMicroTime(at)}
			e.EventTime = metav1.NewMicroTime(at.Add(-10 * time.Minute))
		}
		return e
	}
	return []eventsv1.Event{
		ev("orders-worker", "uid-Subscription-orders-worker", "Warning", "WaitingForReference", `waiting for Topic "orders" (spec.topicRef): it is not Ready`, ago(30*time.Second), 7),
		ev("orders-worker", "uid-Subscription-orders-worker", "Normal", "Created", "created projects/shop-prod/subscriptions/orders-worker", ago(50*time.Minute), 1),
		ev("orders-worker", "uid-old", "Normal", "Deleted", "an earlier orders-worker", ago(55*time.Minute), 1),
		ev("orders-audit", "uid-Subscription-orders-audit", "Warning", "DriftDetected", "ackDeadlineSeconds", ago(time.Minute), 1),
	}
}
