package blueprint_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, testenv.Options{})) }

var queueGVK = schema.GroupVersionKind{Group: "platform.infraplane.dev", Version: "v1alpha1", Kind: "Queue"}

// readBlueprint reads a Blueprint manifest.
func readBlueprint(t *testing.T, path string) *corev1alpha1.Blueprint {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bp := &corev1alpha1.Blueprint{}
	if err := yaml.UnmarshalStrict(data, bp); err != nil {
		t.Fatal(err)
	}
	return bp
}

// parseBlueprint builds a Blueprint from YAML.
func parseBlueprint(t *testing.T, doc string) *corev1alpha1.Blueprint {
	t.Helper()
	bp := &corev1alpha1.Blueprint{}
	if err := yaml.UnmarshalStrict([]byte(doc), bp); err != nil {
		t.Fatal(err)
	}
	return bp
}

var queueOnce sync.Once

// applyBlueprint creates bp (or replaces its spec) and waits until its
// kind is served.
func applyBlueprint(t *testing.T, bp *corev1alpha1.Blueprint) {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, bp); apierrors.IsAlreadyExists(err) {
		spec := bp.Spec
		testenv.Update(t, env, bp, func(b *corev1alpha1.Blueprint) { b.Spec = spec })
	} else if err != nil {
		t.Fatalf("create Blueprint %s: %v", bp.Name, err)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(bp), bp); err != nil {
			return err
		}
		c := meta.FindStatusCondition(bp.Status.Conditions, corev1alpha1.BlueprintReady)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != bp.Generation {
			return fmt.Errorf("Blueprint %s not ready: %+v", bp.Name, bp.Status.Conditions)
		}
		return nil
	})
}

// queueNamespace applies the example Queue Blueprint (once) and returns a
// namespace on a fresh fake cloud.
func queueNamespace(t *testing.T) string {
	t.Helper()
	queueOnce.Do(func() { applyBlueprint(t, readBlueprint(t, "../../examples/blueprints/queue.yaml")) })
	cloud := cloudtest.Fakes(t)
	pc := env.ProviderConfig(t, "bp-"+strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), cloud)
	return namespaceGoneFirst(t, pc)
}

// namespaceGoneFirst is a namespace using ProviderConfig pc whose cleanup
// waits until it is gone, with everything in it. Cleanups run last-first,
// so what the caller set up before (a cloud, a database server) stops
// only after that: stopped first, it would leave the children's
// finalizers retrying a dead endpoint, holding the workers other tests
// need.
func namespaceGoneFirst(t *testing.T, pc string) string {
	t.Helper()
	var ns string
	t.Cleanup(func() {
		testenv.Eventually(t, 2*time.Minute, func() error {
			err := env.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &corev1.Namespace{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("namespace %s not gone yet (%v)", ns, err)
		})
	})
	ns = env.Namespace(t, pc)
	return ns
}

func newInstance(gvk schema.GroupVersionKind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// waitInstance waits until check accepts the instance.
func waitInstance(t *testing.T, u *unstructured.Unstructured, check func(u *unstructured.Unstructured, ready *metav1.Condition) error) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), u); err != nil {
			return err
		}
		var conds []metav1.Condition
		raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, x := range raw {
			m, _ := x.(map[string]any)
			var c metav1.Condition
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &c); err == nil {
				conds = append(conds, c)
			}
		}
		return check(u, meta.FindStatusCondition(conds, "Ready"))
	})
}

func isReady(_ *unstructured.Unstructured, c *metav1.Condition) error {
	if c == nil || c.Status != metav1.ConditionTrue {
		return fmt.Errorf("not ready: %+v", c)
	}
	return nil
}

func readyCondition(conds []metav1.Condition) *metav1.Condition {
	return meta.FindStatusCondition(conds, "Ready")
}

func TestQueueConvergesInOrder(t *testing.T) {
	ns := queueNamespace(t)
	q := newInstance(queueGVK, ns, "orders", map[string]any{"retentionDays": int64(3)})
	env.Create(t, q)
	waitInstance(t, q, isReady)

	topic := &pubsubv1.Topic{}
	dlq := &pubsubv1.Topic{}
	sub := &pubsubv1.Subscription{}
	ctx := context.Background()
	for name, obj := range map[string]client.Object{"orders": topic, "orders-dead-letter": dlq} {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, sub); err != nil {
		t.Fatal(err)
	}
	// The spec's values and defaults made it into the children.
	if got := sub.Spec.MessageRetentionDuration.Duration; got != 72*time.Hour {
		t.Errorf("subscription retention %v, want 72h", got)
	}
	if sub.Spec.DeadLetterPolicy == nil || sub.Spec.DeadLetterPolicy.DeadLetterTopicRef.Name != "orders-dead-letter" || sub.Spec.DeadLetterPolicy.MaxDeliveryAttempts != 5 {
		t.Errorf("dead-letter policy %+v", sub.Spec.DeadLetterPolicy)
	}
	if sub.Spec.TopicRef.Name != "orders" {
		t.Errorf("topicRef %+v", sub.Spec.TopicRef)
	}
	// Owned by the Queue, labelled, written by the Blueprint's field manager.
	for _, o := range []client.Object{topic, dlq, sub} {
		ref := metav1.GetControllerOf(o)
		if ref == nil || ref.Kind != "Queue" || ref.Name != "orders" || ref.UID != q.GetUID() {
			t.Errorf("%T %s: controller %+v", o, o.GetName(), ref)
		}
		if o.GetLabels()[corev1alpha1.BlueprintInstanceLabel] != "orders" {
			t.Errorf("%T %s: labels %v", o, o.GetName(), o.GetLabels())
		}
	}
	// In order: the subscription was created once both topics were Ready.
	for _, tp := range []*pubsubv1.Topic{topic, dlq} {
		r := readyCondition(tp.Status.Conditions)
		if r == nil || r.Status != metav1.ConditionTrue {
			t.Fatalf("topic %s not ready: %+v", tp.Name, r)
		}
		if sub.CreationTimestamp.Before(&r.LastTransitionTime) {
			t.Errorf("subscription created %v, before topic %s was ready (%v)", sub.CreationTimestamp, tp.Name, r.LastTransitionTime)
		}
	}
	if r := readyCondition(sub.Status.Conditions); r == nil || r.Status != metav1.ConditionTrue {
		t.Errorf("subscription not ready: %+v", r)
	}
	// The status lists the children in creation order, all ready.
	list, _, _ := unstructured.NestedSlice(q.Object, "status", "resources")
	var got []string
	for _, x := range list {
		m := x.(map[string]any)
		got = append(got, fmt.Sprintf("%s:%s/%s:%v", m["id"], m["kind"], m["name"], m["ready"]))
	}
	want := "deadLetter:Topic/orders-dead-letter:true topic:Topic/orders:true subscription:Subscription/orders:true"
	if strings.Join(got, " ") != want {
		t.Errorf("status.resources\n%s\nwant\n%s", strings.Join(got, " "), want)
	}

	// The Blueprint counts its instances.
	bp := &corev1alpha1.Blueprint{}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "queue"}, bp); err != nil {
			return err
		}
		if bp.Status.CRDName != "queues.platform.infraplane.dev" || bp.Status.ReadyInstances < 1 {
			return fmt.Errorf("status %+v", bp.Status)
		}
		return nil
	})
}

func TestExpressionErrorRefusedAtApply(t *testing.T) {
	bp := readBlueprint(t, "../../examples/blueprints/queue.yaml")
	bp.Name = "queue-typo"
	bp.Spec.Kind = "QueueTypo"
	raw := strings.Replace(string(bp.Spec.Resources[2].Template.Raw), "spec.retentionDays", "spec.retentonDays", 1)
	bp.Spec.Resources[2].Template.Raw = []byte(raw)
	// The webhook configuration is installed right after the break-glass
	// one: wait until it answers.
	var err error
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		err = env.Client.Create(context.Background(), bp.DeepCopy(), client.DryRunAll)
		if err == nil {
			return fmt.Errorf("accepted")
		}
		return nil
	})
	for _, want := range []string{
		`validate.blueprint.infraplane.dev`,
		`spec.resources[subscription].template.spec.messageRetentionDuration`,
		`${spec.retentonDays * 24}`,
		`column 5: undefined field 'retentonDays'`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal does not mention %q: %v", want, err)
		}
	}
}

// A child that cannot become ready is the instance's blocking cause, with
// the child's own message.
func TestChildFailureIsTheBlockingCause(t *testing.T) {
	bp := parseBlueprint(t, `
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: orphan-sub}
spec:
  group: test.infraplane.dev
  version: v1alpha1
  kind: OrphanSub
  schema: {type: object, properties: {topic: {type: string}}}
  resources:
  - id: sub
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Subscription
      metadata: {name: "${metadata.name}"}
      spec:
        topicRef: {name: "${spec.topic}"}
  - id: after
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${resources.sub.metadata.name}-after"}
`)
	applyBlueprint(t, bp)
	ns := queueNamespace(t)
	inst := newInstance(bp.Spec.GroupVersionKind(), ns, "lonely", map[string]any{"topic": "no-such-topic"})
	env.Create(t, inst)
	sub := &pubsubv1.Subscription{}
	var childMsg string
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "lonely"}, sub); err != nil {
			return err
		}
		r := readyCondition(sub.Status.Conditions)
		if r == nil || r.Status != metav1.ConditionFalse || r.Message == "" {
			return fmt.Errorf("subscription Ready %+v", r)
		}
		childMsg = r.Message
		return nil
	})
	waitInstance(t, inst, func(_ *unstructured.Unstructured, c *metav1.Condition) error {
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "ResourceNotReady" ||
			!strings.HasPrefix(c.Message, "resource sub (Subscription lonely): ") ||
			!strings.Contains(c.Message, childMsg) || !strings.HasSuffix(c.Message, "; waiting: after") {
			return fmt.Errorf("instance Ready %+v (child says %q)", c, childMsg)
		}
		return nil
	})
	// What waits for the blocked child was not created.
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "lonely-after"}, &pubsubv1.Topic{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the dependent topic exists or: %v", err)
	}
}

// Deleting an instance deletes its children in reverse dependency order:
// the subscription is gone before a topic is touched.
func TestDeleteInReverseOrder(t *testing.T) {
	ns := queueNamespace(t)
	q := newInstance(queueGVK, ns, "billing", map[string]any{})
	env.Create(t, q)
	waitInstance(t, q, isReady)
	ctx := context.Background()
	if err := env.Client.Delete(ctx, q); err != nil {
		t.Fatal(err)
	}
	subGone := false
	deadline := time.Now().Add(testenv.WaitTimeout)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("children not gone")
		}
		sub := &pubsubv1.Subscription{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "billing"}, sub)
		if apierrors.IsNotFound(err) {
			subGone = true
		} else if err != nil {
			t.Fatal(err)
		}
		topicsGone := 0
		for _, name := range []string{"billing", "billing-dead-letter"} {
			tp := &pubsubv1.Topic{}
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tp)
			switch {
			case apierrors.IsNotFound(err):
				topicsGone++
				if !subGone {
					t.Fatalf("topic %s gone while the subscription is still there", name)
				}
			case err != nil:
				t.Fatal(err)
			case !tp.DeletionTimestamp.IsZero() && !subGone:
				t.Fatalf("topic %s being deleted while the subscription is still there", name)
			}
		}
		if subGone && topicsGone == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(q), q)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("instance still there: %v %v", err, q.GetFinalizers())
	})
}

// A field removed from the Blueprint leaves the children: server-side
// apply drops what the field manager no longer applies.
func TestRemovedFieldLeavesChildren(t *testing.T) {
	doc := `
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: labelled-topic}
spec:
  group: test.infraplane.dev
  version: v1alpha1
  kind: LabelledTopic
  schema: {type: object, properties: {team: {type: string, default: core}}}
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}"}
      spec:
        labels:
          team: "${spec.team}"
          cost-center: "cc-${string(size(spec.team))}"
`
	bp := parseBlueprint(t, doc)
	applyBlueprint(t, bp)
	ns := queueNamespace(t)
	inst := newInstance(bp.Spec.GroupVersionKind(), ns, "events", map[string]any{})
	env.Create(t, inst)
	waitInstance(t, inst, isReady)
	topic := &pubsubv1.Topic{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "events"}, topic); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(topic.Spec.Labels); got != "map[cost-center:cc-4 team:core]" {
		t.Fatalf("labels %s", got)
	}

	applyBlueprint(t, parseBlueprint(t, strings.Replace(doc, "          cost-center: \"cc-${string(size(spec.team))}\"\n", "", 1)))
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "events"}, topic); err != nil {
			return err
		}
		if got := fmt.Sprint(topic.Spec.Labels); got != "map[team:core]" {
			return fmt.Errorf("labels %s", got)
		}
		return nil
	})
	waitInstance(t, inst, isReady)
}

// A child with deletionPolicy Abandon is deleted with its instance, but
// its cloud resource stays; the others' go.
func TestDeleteAbandonKeepsCloudResource(t *testing.T) {
	doc := `
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: kept-topic}
spec:
  group: test.infraplane.dev
  version: v1alpha1
  kind: KeptTopic
  schema: {type: object}
  resources:
  - id: kept
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}-kept"}
      spec: {deletionPolicy: Abandon}
  - id: gone
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}-gone"}
`
	bp := parseBlueprint(t, doc)
	applyBlueprint(t, bp)
	cloud := cloudtest.Fakes(t)
	ns := env.Namespace(t, env.ProviderConfig(t, "bp-abandon", cloud))
	inst := newInstance(bp.Spec.GroupVersionKind(), ns, "audit", map[string]any{})
	env.Create(t, inst)
	waitInstance(t, inst, isReady)
	if err := env.Client.Delete(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, inst)

	ctx := context.Background()
	topics, err := pubsubapi.NewTopicAdminClient(ctx, cloud.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer topics.Close()
	name := func(id string) string { return "projects/" + cloud.Project() + "/topics/" + id }
	if _, err := topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name("audit-kept")}); err != nil {
		t.Errorf("abandoned topic: %v", err)
	}
	if _, err := topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name("audit-gone")}); status.Code(err) != codes.NotFound {
		t.Errorf("deleted topic: %v", err)
	}
}

// A Blueprint's kind cannot change, and a Blueprint with instances is
// not deleted until they are gone.
func TestBlueprintKindFixedAndDeletionWaits(t *testing.T) {
	doc := `
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: short-lived}
spec:
  group: test.infraplane.dev
  version: v1alpha1
  kind: ShortLived
  schema: {type: object}
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${metadata.name}"}
      data: {owner: "${metadata.name}"}
`
	bp := parseBlueprint(t, doc)
	applyBlueprint(t, bp)
	ctx := context.Background()
	// The controller writes the Blueprint's status meanwhile: read it
	// fresh until the update is judged, not refused for a stale version.
	var err error
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		renamed := &corev1alpha1.Blueprint{}
		if gerr := env.Client.Get(ctx, client.ObjectKeyFromObject(bp), renamed); gerr != nil {
			return gerr
		}
		renamed.Spec.Kind = "LongLived"
		if err = env.Client.Update(ctx, renamed, client.DryRunAll); apierrors.IsConflict(err) {
			return err
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Errorf("kind change: %v", err)
	}

	ns := env.Namespace(t, "none")
	inst := newInstance(bp.Spec.GroupVersionKind(), ns, "one", map[string]any{})
	env.Create(t, inst)
	waitInstance(t, inst, isReady) // a ConfigMap is ready once it exists
	if err := env.Client.Delete(ctx, bp); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(bp), bp); err != nil {
			return err
		}
		c := meta.FindStatusCondition(bp.Status.Conditions, corev1alpha1.BlueprintReady)
		if c == nil || c.Reason != "InstancesRemain" || !strings.Contains(c.Message, "1 ShortLived instances remain") {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	if err := env.Client.Delete(ctx, inst); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, bp)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		err := env.Client.Get(ctx, client.ObjectKey{Name: "shortliveds.test.infraplane.dev"}, crd)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("CRD still there: %v", err)
	})
}
