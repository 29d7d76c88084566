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

// A bad commit that also removes enough objects to hold the prune names
// what is wrong (file, line, field) first, and the hold beside it; the
// hold alone would send people to --confirm a commit that cannot apply.
func TestBadCommitWithHeldPruneNamesTheProblem(t *testing.T) {
	files := map[string]*string{
		"orders.yaml": str(topicYAML("orders", "a")),
		"worker.yaml": str(subscriptionYAML),
	}
	for _, n := range []string{"alpha", "bravo", "charlie"} {
		files[n+".yaml"] = str(topicYAML(n, "x"))
	}
	r, gs, ns := setup(t, files)
	waitSource(t, gs, appliedRevision(r.hashes[0]))

	const head = "apiVersion: pubsub.infraplane.dev/v1alpha1\n"
	sub := func(name, spec string) string {
		return head + "kind: Subscription\nmetadata:\n  name: " + name + "\nspec:\n  topicRef:\n    name: orders\n" + spec
	}
	cases := []struct {
		name   string
		file   string // default bad.yaml
		body   string
		reason string
		want   []string
	}{
		{"broken YAML", "", "apiVersion: v1\nkind: Topic\n  name: x\n", gitops.ReasonRenderFailed,
			[]string{"bad.yaml:3", "invalid YAML"}},
		{"no name", "", head + "kind: Topic\nmetadata:\n  labels: {a: b}\n", gitops.ReasonRenderFailed,
			[]string{"bad.yaml:3: Topic has no metadata.name"}},
		{"schema violation", "", sub("too-fast", "  ackDeadlineSeconds: 5\n"), gitops.ReasonApplyFailed,
			[]string{"bad.yaml:8: Subscription/too-fast: spec.ackDeadlineSeconds: ", "greater than or equal to 10"}},
		{"CEL rule on an object", "", sub("backwards", "  retryPolicy:\n    minimumBackoff: 60s\n    maximumBackoff: 10s\n"), gitops.ReasonApplyFailed,
			[]string{"bad.yaml:9: Subscription/backwards: spec.retryPolicy.minimumBackoff: ", "minimumBackoff must not exceed maximumBackoff"}},
		{"CEL rule on the name", "", head + "kind: Topic\nmetadata:\n  name: ab\n", gitops.ReasonApplyFailed,
			[]string{"bad.yaml:4: Topic/ab: metadata.name: ", "used as the topic id"}},
		{"CEL rule on a field", "", head + "kind: Topic\nmetadata:\n  name: labelled\nspec:\n  labels:\n    Team: a\n", gitops.ReasonApplyFailed,
			[]string{"bad.yaml:6: Topic/labelled: spec.labels: ", "label keys must start with a lowercase letter"}},
		{"immutable field", "orders.yaml", head + "kind: Topic\nmetadata:\n  name: orders\nspec:\n  resourceID: orders-v2\n", gitops.ReasonApplyFailed,
			[]string{"orders.yaml:6: Topic/orders: spec.resourceID: ", "resourceID cannot change"}},
		{"unknown field", "", head + "kind: Topic\nmetadata:\n  name: typo\nspec:\n  labelz:\n    team: a\n", gitops.ReasonApplyFailed,
			[]string{`bad.yaml:6: Topic/typo: spec.labelz: unknown field "spec.labelz"`}},
		{"map given as a string", "", head + "kind: Topic\nmetadata:\n  name: flat\nspec:\n  labels: team=payments\n", gitops.ReasonApplyFailed,
			[]string{`bad.yaml:6: Topic/flat: spec.labels: must be a map of keys to values, not "team=payments"`}},
		{"number given as a string", "", sub("wordy", "  ackDeadlineSeconds: ten\n"), gitops.ReasonApplyFailed,
			[]string{"bad.yaml:8: Subscription/wordy: spec.ackDeadlineSeconds: must be a number, not a string"}},
		{"not in the enum", "", head + "kind: Topic\nmetadata:\n  name: sometimes\nspec:\n  managementPolicy: Sometimes\n", gitops.ReasonApplyFailed,
			[]string{"bad.yaml:6: Topic/sometimes: spec.managementPolicy: ", `"Sometimes"`}},
		{"required field missing", "", head + "kind: Subscription\nmetadata:\n  name: unbound\nspec:\n  ackDeadlineSeconds: 30\n", gitops.ReasonApplyFailed,
			[]string{"bad.yaml:5: Subscription/unbound: spec.topicRef: ", "Required"}},
		{"invalid name", "", head + "kind: Topic\nmetadata:\n  name: Orders_2\n", gitops.ReasonApplyFailed,
			[]string{"bad.yaml:4: Topic/Orders_2: metadata.name: ", "Orders_2"}},
		{"missing reference", "", strings.Replace(sub("lost", ""), "name: orders", "name: no-such-topic", 1), gitops.ReasonValidationFailed,
			[]string{"bad.yaml:7: Subscription/lost: spec.topicRef.name: ", `Topic "no-such-topic"`}},
		{"duplicate", "", topicYAML("orders", "b"), gitops.ReasonValidationFailed,
			[]string{"orders.yaml:4: Topic/orders: metadata.name: duplicate: Topic/orders is also defined at bad.yaml:4"}},
		{"another namespace", "", head + "kind: Topic\nmetadata:\n  name: elsewhere\n  namespace: kube-system\n", gitops.ReasonValidationFailed,
			[]string{"bad.yaml:5: Topic/elsewhere: metadata.namespace: ", "kube-system"}},
		{"unknown kind", "", head + "kind: Topik\nmetadata:\n  name: typo\n", gitops.ReasonValidationFailed,
			[]string{"bad.yaml:2: Topik/typo: kind: ", "unknown kind Topik"}},
		{"cluster-scoped kind", "", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mine\n", gitops.ReasonValidationFailed,
			[]string{"bad.yaml:2: Namespace/mine: kind: ", "cluster-scoped"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "bad.yaml"
			}
			// The bad file comes with the removal of 2 of 5 objects: more
			// than maxPrunePercent (25%).
			h := r.push("bad: "+tc.name, map[string]*string{file: str(tc.body), "bravo.yaml": nil, "charlie.yaml": nil})
			got := syncNow(t, gs, false)
			c := readyCondition(got)
			t.Logf("Ready %s/%s:\n%s", c.Status, c.Reason, c.Message)
			if c.Status != "False" || c.Reason != tc.reason {
				t.Errorf("Ready = %s/%s, want False/%s", c.Status, c.Reason, tc.reason)
			}
			for _, w := range tc.want {
				if !strings.Contains(c.Message, w) {
					t.Errorf("Ready does not say %q", w)
				}
			}
			for _, leak := range []string{"<nil>", "typed patch", "&{", "Invalid value: null"} {
				if strings.Contains(c.Message, leak) {
					t.Errorf("Ready leaks %q", leak)
				}
			}
			// The hold is there too, beside the problem, for this revision
			// (a commit that does not render holds nothing yet: what it
			// would prune is unknown).
			held := meta.FindStatusCondition(got.Status.Conditions, gitops.TypePruneHeld)
			if tc.reason == gitops.ReasonRenderFailed {
				if held == nil || held.Status != "False" {
					t.Errorf("PruneHeld after a render failure: %+v", held)
				}
			} else {
				if held == nil || held.Status != "True" || !strings.Contains(held.Message, h[:12]) || len(got.Status.HeldPrune) != 2 {
					t.Errorf("PruneHeld: %+v, heldPrune %v", held, got.Status.HeldPrune)
				}
				if !strings.Contains(c.Message, "would delete 2 of 5") || !strings.Contains(c.Message, "infraplane sync infra -n "+ns+" --confirm") {
					t.Errorf("Ready does not report the hold beside the problem")
				}
			}
			for _, n := range []string{"bravo", "charlie"} {
				if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: n}, &pubsubv1.Topic{}); err != nil {
					t.Errorf("%s: %v", n, err)
				}
			}

			// Back to the good state: nothing is held any more.
			restore := map[string]*string{"bravo.yaml": str(topicYAML("bravo", "x")), "charlie.yaml": str(topicYAML("charlie", "x"))}
			if tc.file == "" {
				restore[file] = nil
			} else {
				restore[file] = files[file]
			}
			r.push("revert", restore)
			got = syncNow(t, gs, false)
			if c := readyCondition(got); c.Status != "True" {
				t.Fatalf("not Ready after the revert: %s", c.Message)
			}
			if meta.IsStatusConditionTrue(got.Status.Conditions, gitops.TypePruneHeld) || len(got.Status.HeldPrune) != 0 {
				t.Errorf("still held after the revert: %+v", got.Status.Conditions)
			}
		})
	}
}
