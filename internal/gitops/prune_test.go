package gitops_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

// A commit that would delete most of what a source applied is held, with a
// condition that lists what and says how to confirm; confirming prunes.
func TestMassDeletionHeldThenConfirmed(t *testing.T) {
	files := map[string]*string{}
	for _, n := range []string{"alpha", "bravo", "charlie", "delta"} {
		files[n+".yaml"] = str(topicYAML(n, "x"))
	}
	r, gs, ns := setup(t, files)
	waitSource(t, gs, appliedRevision(r.hashes[0]))

	h2 := r.push("oops", map[string]*string{"bravo.yaml": nil, "charlie.yaml": nil, "delta.yaml": nil})
	got := syncNow(t, gs, false)
	c := readyCondition(got)
	if c.Reason != gitops.ReasonPruneHeld {
		t.Fatalf("Ready: %+v", c)
	}
	for _, w := range []string{"3 of 4", "Topic/bravo", "infraplane sync infra -n " + ns + " --confirm"} {
		if !strings.Contains(c.Message, w) {
			t.Errorf("held message does not mention %q: %s", w, c.Message)
		}
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, gitops.TypePruneHeld) || len(got.Status.HeldPrune) != 3 {
		t.Errorf("PruneHeld / heldPrune: %+v %+v", got.Status.Conditions, got.Status.HeldPrune)
	}
	for _, n := range []string{"bravo", "charlie", "delta"} {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: n}, &pubsubv1.Topic{}); err != nil {
			t.Errorf("%s deleted while held: %v", n, err)
		}
	}

	got = syncNow(t, gs, true)
	if err := appliedRevision(h2)(got); err != nil {
		t.Fatal(err)
	}
	if c := readyCondition(got); !strings.Contains(c.Message, "3 pruned") {
		t.Errorf("after confirmation: %s", c.Message)
	}
	if meta.IsStatusConditionTrue(got.Status.Conditions, gitops.TypePruneHeld) {
		t.Errorf("still held after confirmation")
	}
}

// A hold is about one revision: a later commit that holds nothing clears
// PruneHeld, also when that commit is bad for another reason (it used to
// stay True, listing objects the head of the branch no longer removes).
func TestLaterCommitClearsStaleHold(t *testing.T) {
	files := map[string]*string{}
	for _, n := range []string{"alpha", "bravo", "charlie", "delta"} {
		files[n+".yaml"] = str(topicYAML(n, "x"))
	}
	r, gs, _ := setup(t, files)
	waitSource(t, gs, appliedRevision(r.hashes[0]))

	later := []struct {
		name   string
		files  map[string]*string
		reason string
	}{
		{"a bad commit", map[string]*string{"bad.yaml": str("apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topik\nmetadata:\n  name: typo\n")}, gitops.ReasonValidationFailed},
		{"a refused commit", map[string]*string{"bad.yaml": str(topicYAML("ab", "x"))}, gitops.ReasonApplyFailed},
		{"a commit that does not render", map[string]*string{"bad.yaml": str("kind: [\n")}, gitops.ReasonRenderFailed},
	}
	for _, tc := range later {
		t.Run(tc.name, func(t *testing.T) {
			r.push("oops", map[string]*string{"bravo.yaml": nil, "charlie.yaml": nil, "delta.yaml": nil})
			got := syncNow(t, gs, false)
			if !meta.IsStatusConditionTrue(got.Status.Conditions, gitops.TypePruneHeld) {
				t.Fatalf("not held: %+v", readyCondition(got))
			}
			// The removal is undone, and something else is wrong.
			restore := map[string]*string{"bravo.yaml": files["bravo.yaml"], "charlie.yaml": files["charlie.yaml"], "delta.yaml": files["delta.yaml"]}
			for k, v := range tc.files {
				restore[k] = v
			}
			r.push("undo, but "+tc.name, restore)
			got = syncNow(t, gs, false)
			if c := readyCondition(got); c.Reason != tc.reason {
				t.Errorf("Ready: %+v", c)
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, gitops.TypePruneHeld); c == nil || c.Status != "False" || len(got.Status.HeldPrune) != 0 {
				t.Errorf("PruneHeld still %+v, heldPrune %v", c, got.Status.HeldPrune)
			}
			r.push("fixed", map[string]*string{"bad.yaml": nil})
			if c := readyCondition(syncNow(t, gs, false)); c.Status != "True" {
				t.Fatalf("not Ready after the fix: %s", c.Message)
			}
		})
	}
}
