package gitops_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/tenant"
	"github.com/infraplane/infraplane/internal/testenv"
)

// blueprintYAML is a Blueprint of kind GitopsQueue: one Topic labelled
// with team.
func blueprintYAML(name, team string) string {
	return fmt.Sprintf(`apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata:
  name: %s
spec:
  group: gitops.test.infraplane.dev
  version: v1alpha1
  kind: GitopsQueue
  schema: {type: object}
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}"}
      spec:
        labels: {team: %s}
`, name, team)
}

// platformSource creates a GitSource name in the platform namespace on a
// fresh repository whose first commit has files.
func platformSource(t *testing.T, name string, files map[string]*string) (*repo, *corev1alpha1.GitSource) {
	t.Helper()
	ctx := context.Background()
	env.Onboard(t, tenant.Team{Namespace: gitops.DefaultPlatformNamespace, Platform: true})
	r := newRepo(t)
	r.push("first", files)
	gs := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: gitops.DefaultPlatformNamespace},
		Spec: corev1alpha1.GitSourceSpec{
			URL:      r.bare,
			Interval: metav1.Duration{Duration: time.Hour},
		},
	}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), gs) })
	return r, gs
}

func waitBlueprint(t *testing.T, name string, check func(*corev1alpha1.Blueprint) error) *corev1alpha1.Blueprint {
	t.Helper()
	bp := &corev1alpha1.Blueprint{}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, bp); err != nil {
			return err
		}
		return check(bp)
	})
	return bp
}

// A platform GitSource applies a Blueprint (its kind gets served), a
// change in git is a new revision, another source cannot take it over,
// and it is pruned when it leaves git — once it has no instances left.
func TestPlatformSourceAppliesBlueprints(t *testing.T) {
	ctx := context.Background()
	r, gs := platformSource(t, "platform-a", map[string]*string{"blueprints/queue.yaml": str(blueprintYAML("gitops-queue", "one"))})
	got := waitSource(t, gs, appliedRevision(r.hashes[0]))
	if c := readyCondition(got); !strings.Contains(c.Message, "1 created") {
		t.Errorf("Ready: %+v", c)
	}
	want := corev1alpha1.ObjectRef{APIVersion: "infraplane.dev/v1alpha1", Kind: "Blueprint", Name: "gitops-queue", File: "blueprints/queue.yaml", Line: 1}
	if len(got.Status.Inventory) != 1 || got.Status.Inventory[0] != want {
		t.Errorf("inventory %+v, want [%+v] (no namespace; the file from the repository root)", got.Status.Inventory, want)
	}
	bp := waitBlueprint(t, "gitops-queue", func(bp *corev1alpha1.Blueprint) error {
		if bp.Status.CRDName == "" || bp.Status.LatestRevision != 1 {
			return fmt.Errorf("CRD %q, latest revision %d", bp.Status.CRDName, bp.Status.LatestRevision)
		}
		return nil
	})
	if l := bp.Labels[corev1alpha1.SourceLabel]; l != gitops.DefaultPlatformNamespace+".platform-a" {
		t.Errorf("source label %q", l)
	}

	// A change in git is a new revision of the Blueprint.
	h2 := r.push("team two", map[string]*string{"blueprints/queue.yaml": str(blueprintYAML("gitops-queue", "two"))})
	if got := syncNow(t, gs, false); appliedRevision(h2)(got) != nil || !strings.Contains(readyCondition(got).Message, "1 configured") {
		t.Fatalf("Ready after change: %+v", readyCondition(got))
	}
	waitBlueprint(t, "gitops-queue", func(bp *corev1alpha1.Blueprint) error {
		if bp.Status.LatestRevision != 2 {
			return fmt.Errorf("latest revision %d, want 2", bp.Status.LatestRevision)
		}
		return nil
	})

	// Another platform source with the same Blueprint applies nothing.
	_, other := platformSource(t, "platform-b", map[string]*string{"queue.yaml": str(blueprintYAML("gitops-queue", "three"))})
	refused := waitSource(t, other, func(g *corev1alpha1.GitSource) error {
		if c := readyCondition(g); c.Reason != gitops.ReasonValidationFailed {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	if c := readyCondition(refused); !strings.Contains(c.Message, "queue.yaml:1") || !strings.Contains(c.Message, "is applied by GitSource infraplane-system.platform-a") {
		t.Errorf("takeover message: %s", c.Message)
	}

	// An instance keeps the Blueprint from being pruned, and the source
	// says so instead of leaving it terminating.
	cloud := cloudtest.Fakes(t)
	ns := env.Namespace(t, env.ProviderConfig(t, "gitops-platform-fakes", cloud))
	inst := &unstructured.Unstructured{}
	inst.SetAPIVersion("gitops.test.infraplane.dev/v1alpha1")
	inst.SetKind("GitopsQueue")
	inst.SetNamespace(ns)
	inst.SetName("orders")
	env.Create(t, inst)
	h3 := r.push("retire the queue", map[string]*string{"blueprints/queue.yaml": nil})
	got = syncNow(t, gs, false)
	c := readyCondition(got)
	if appliedRevision(h3)(got) != nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Ready: %+v", c)
	}
	for _, w := range []string{"0 pruned", "Blueprint/gitops-queue left git but 1 GitopsQueue instances remain (e.g. " + ns + "/orders)", "pruned at the next sync"} {
		if !strings.Contains(c.Message, w) {
			t.Errorf("Ready message does not say %q: %s", w, c.Message)
		}
	}
	if len(got.Status.Inventory) != 1 {
		t.Errorf("the waiting Blueprint left the inventory: %+v", got.Status.Inventory)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "gitops-queue"}, bp); err != nil || !bp.DeletionTimestamp.IsZero() {
		t.Fatalf("Blueprint deleted while instances remain: %v %v", err, bp.DeletionTimestamp)
	}

	// Once the instance is gone, the next sync would prune it: the
	// mass-deletion guard (the default 25%) holds it until confirmed.
	if err := env.Client.Delete(ctx, inst); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, inst)
	got = syncNow(t, gs, false)
	if c := readyCondition(got); c.Reason != gitops.ReasonPruneHeld || !strings.Contains(c.Message, "would delete 1 of 1 objects") || !strings.Contains(c.Message, "Blueprint/gitops-queue") {
		t.Fatalf("Ready after the instance went: %+v", c)
	}
	got = syncNow(t, gs, true)
	if c := readyCondition(got); !strings.Contains(c.Message, "1 pruned") || strings.Contains(c.Message, "not pruned yet") {
		t.Errorf("Ready after the instance went: %+v", c)
	}
	if len(got.Status.Inventory) != 0 {
		t.Errorf("inventory after prune: %+v", got.Status.Inventory)
	}
	env.WaitGone(t, bp)
}

// A GitSource outside the platform namespace refuses a Blueprint, says
// where Blueprints come from, and applies nothing of the commit.
func TestBlueprintRefusedOutsidePlatform(t *testing.T) {
	_, gs, ns := setup(t, map[string]*string{
		"queue.yaml": str(blueprintYAML("gitops-team-queue", "x")),
		"topic.yaml": str(topicYAML("orders", "x")),
	})
	got := waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if c := readyCondition(g); c.Reason != gitops.ReasonValidationFailed {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	c := readyCondition(got)
	for _, w := range []string{"queue.yaml:2: Blueprint/gitops-team-queue: kind:", `only a GitSource in the platform namespace "infraplane-system" applies Blueprints`, "nothing applied"} {
		if !strings.Contains(c.Message, w) {
			t.Errorf("message does not say %q: %s", w, c.Message)
		}
	}
	ctx := context.Background()
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "gitops-team-queue"}, &corev1alpha1.Blueprint{}); !apierrors.IsNotFound(err) {
		t.Errorf("Blueprint applied: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, &pubsubv1.Topic{}); !apierrors.IsNotFound(err) {
		t.Errorf("Topic applied: %v", err)
	}
}
