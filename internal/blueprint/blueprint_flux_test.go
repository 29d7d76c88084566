package blueprint_test

import (
	"context"
	"strings"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// Flux applies a Blueprint and the instances of its kind as two
// Kustomizations (docs/flux.md): the first, with wait: true, makes the
// kind; the second, dependsOn the first, applies instances. This runs
// Flux's own apply-and-wait code (fluxcd/pkg/ssa, judging health with
// kstatus) against the API server, as kustomize-controller does:
//   - one Kustomization holding both fails its dry run on the kind that
//     does not exist yet, and applies nothing;
//   - waiting for the Blueprint means its kind is served, so the second
//     Kustomization applies at once;
//   - an instance that cannot become ready fails the wait with its cause
//     (kstatus Failed), instead of timing out as "InProgress".
func TestFluxAppliesBlueprintThenInstances(t *testing.T) {
	ctx := context.Background()
	bp := parseBlueprint(t, `
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: flux-topic}
spec:
  group: test.infraplane.dev
  version: v1alpha1
  kind: FluxTopic
  schema: {type: object}
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}"}
`)
	bp.SetGroupVersionKind(corev1alpha1.GroupVersion.WithKind("Blueprint"))
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(bp)
	if err != nil {
		t.Fatal(err)
	}
	bpObj := &unstructured.Unstructured{Object: raw}
	unstructured.RemoveNestedField(bpObj.Object, "status")
	unstructured.RemoveNestedField(bpObj.Object, "metadata", "creationTimestamp")
	t.Cleanup(func() { // after the namespace's cleanup below
		_ = env.Client.Delete(context.Background(), bp)
		env.WaitGone(t, bp)
	})
	cloud := cloudtest.Fakes(t)
	pc := env.ProviderConfig(t, "bp-flux", cloud)
	ns := namespaceGoneFirst(t, pc) // before the cloud stops, then the Blueprint
	instance := func(name string) *unstructured.Unstructured {
		return newInstance(bp.Spec.GroupVersionKind(), ns, name, map[string]any{})
	}

	// kustomize-controller's identity and wait loop, with a shorter poll.
	poller := polling.NewStatusPoller(env.Client, env.Client.RESTMapper(), polling.Options{})
	flux := ssa.NewResourceManager(env.Client, poller, ssa.Owner{Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io"})
	wait := ssa.WaitOptions{Interval: 500 * time.Millisecond, Timeout: 2 * time.Minute, FailFast: true}

	// One Kustomization with both: refused before anything is applied.
	_, err = flux.ApplyAllStaged(ctx, []*unstructured.Unstructured{bpObj.DeepCopy(), instance("one-set")}, ssa.DefaultApplyOptions())
	if err == nil || !strings.Contains(err.Error(), "FluxTopic") {
		t.Fatalf("applying the Blueprint and an instance in one set: err = %v, want a dry-run failure naming FluxTopic", err)
	}
	t.Logf("one Kustomization: %v", err)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(bp), &corev1alpha1.Blueprint{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the failed dry run applied the Blueprint anyway (or: %v)", err)
	}

	// First Kustomization: the Blueprint, waited for.
	cs, err := flux.ApplyAllStaged(ctx, []*unstructured.Unstructured{bpObj.DeepCopy()}, ssa.DefaultApplyOptions())
	if err != nil {
		t.Fatalf("applying the Blueprint: %v", err)
	}
	if err := flux.WaitForSet(cs.ToObjMetadataSet(), wait); err != nil {
		t.Fatalf("waiting for the Blueprint: %v", err)
	}

	// Second Kustomization, at once: its kind is served. A topic that
	// someone else already made is a permanent failure Flux must report.
	topics, err := pubsubapi.NewTopicAdminClient(ctx, cloud.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer topics.Close()
	if _, err := topics.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/" + cloud.Project() + "/topics/taken"}); err != nil {
		t.Fatal(err)
	}
	cs, err = flux.ApplyAllStaged(ctx, []*unstructured.Unstructured{instance("orders")}, ssa.DefaultApplyOptions())
	if err != nil {
		t.Fatalf("applying an instance right after the Blueprint was healthy: %v", err)
	}
	if err := flux.WaitForSet(cs.ToObjMetadataSet(), wait); err != nil {
		t.Fatalf("waiting for the instance: %v", err)
	}
	got := instance("orders")
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(got), got); err != nil {
		t.Fatal(err)
	}
	if ready, _ := kstatus.Compute(got); ready.Status != kstatus.CurrentStatus {
		t.Fatalf("Flux's wait ended with the instance %s: %s", ready.Status, ready.Message)
	}
	if !hasCondition(got, "Ready", "True") {
		t.Fatalf("Flux's wait ended with the instance not Ready: %v", got.Object["status"])
	}

	cs, err = flux.ApplyAllStaged(ctx, []*unstructured.Unstructured{instance("taken")}, ssa.DefaultApplyOptions())
	if err != nil {
		t.Fatal(err)
	}
	err = flux.WaitForSet(cs.ToObjMetadataSet(), wait)
	if err == nil || !strings.Contains(err.Error(), "taken status: 'Failed'") {
		t.Fatalf("waiting for an instance whose topic belongs to someone else: err = %v, want it Failed at once", err)
	}
	// Flux names the failed object; the object's Stalled condition says why
	// (what kstatus, and so Flux's events and `flux get`, show).
	taken := instance("taken")
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(taken), taken); err != nil {
		t.Fatal(err)
	}
	if res, _ := kstatus.Compute(taken); res.Status != kstatus.FailedStatus || !strings.Contains(res.Message, "already exists") {
		t.Fatalf("kstatus of the failed instance: %s %q, want Failed naming the cause", res.Status, res.Message)
	}
	t.Logf("failing instance: %v; its cause: %s", err, conditionMessage(taken, "Stalled"))
}

func hasCondition(u *unstructured.Unstructured, typ, status string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ && m["status"] == status {
			return true
		}
	}
	return false
}

func conditionMessage(u *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			msg, _ := m["message"].(string)
			return msg
		}
	}
	return ""
}
