package blueprint_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
	"github.com/infraplane/infraplane/internal/testenv"
)

// standardBlueprint is a kind whose instances each get one topic labelled
// with the organisation's standard (a cloud label), rolled out one canary
// first and then two instances at a time.
func standardBlueprint(t *testing.T, name, kind, standard string) *corev1alpha1.Blueprint {
	return parseBlueprint(t, fmt.Sprintf(`
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: %s}
spec:
  group: test.infraplane.dev
  version: v1alpha1
  kind: %s
  schema: {type: object}
  rollout: {canary: 1, batchSize: 2}
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}", labels: {standard: "%s"}}
      spec:
        labels: {standard: "%s"}
`, name, kind, standard, standard))
}

// waitRolledOut waits until the Blueprint reports revision rev rolled out
// to its n instances, all Ready.
func waitRolledOut(t *testing.T, name string, rev int64, n int32) *corev1alpha1.Blueprint {
	t.Helper()
	bp := &corev1alpha1.Blueprint{}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, bp); err != nil {
			return err
		}
		c := meta.FindStatusCondition(bp.Status.Conditions, corev1alpha1.BlueprintRolledOut)
		if c == nil || c.Status != metav1.ConditionTrue || bp.Status.StableRevision != rev || bp.Status.Instances != n || bp.Status.ReadyInstances != n {
			fleet, _ := blueprint.Fleet(context.Background(), env.Client, name, true)
			var out strings.Builder
			blueprint.WriteFleet(&out, fleet)
			return fmt.Errorf("not rolled out to %d: %+v, stable %d, %d/%d ready\n%s", rev, c, bp.Status.StableRevision, bp.Status.ReadyInstances, bp.Status.Instances, out.String())
		}
		return nil
	})
	return bp
}

// instanceEvent is one change of an instance seen by a watch.
type instanceEvent struct {
	name              string
	revision, applied int64
	ready             bool
}

// watchInstances records the changes of a kind's instances in ns, in the
// order the API server made them.
func watchInstances(t *testing.T, gvk schema.GroupVersionKind, ns string) func() []instanceEvent {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	w, err := wc.Watch(context.Background(), list, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	var events []instanceEvent
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			e := instanceEvent{name: u.GetName()}
			e.revision, _ = strconv.ParseInt(u.GetLabels()[corev1alpha1.BlueprintRevisionLabel], 10, 64)
			e.applied, _, _ = unstructured.NestedInt64(u.Object, "status", "revision")
			e.ready = instanceIsReady(u)
			events = append(events, e)
		}
	}()
	t.Cleanup(w.Stop)
	return func() []instanceEvent {
		w.Stop()
		<-done
		return events
	}
}

func instanceIsReady(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		var c metav1.Condition
		if runtime.DefaultUnstructuredConverter.FromUnstructured(m, &c) == nil && c.Type == "Ready" {
			return c.Status == metav1.ConditionTrue && c.ObservedGeneration == u.GetGeneration()
		}
	}
	return false
}

func topicStandard(t *testing.T, ns, name string) string {
	t.Helper()
	tp := &pubsubv1.Topic{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tp); err != nil {
		t.Fatal(err)
	}
	return string(tp.Spec.Labels["standard"])
}

// A Blueprint change makes a new revision and rolls it out: the volunteer
// canary first, the others only once it is Ready on the new revision.
func TestRolloutCanaryFirst(t *testing.T) {
	bp := standardBlueprint(t, "standard", "Standard", "v1")
	applyBlueprint(t, bp)
	gvk := bp.Spec.GroupVersionKind()
	ns := queueNamespace(t)
	names := []string{"alpha", "bravo", "charlie", "delta"}
	for _, n := range names {
		inst := newInstance(gvk, ns, n, map[string]any{})
		if n == "charlie" {
			inst.SetLabels(map[string]string{corev1alpha1.CanaryLabel: "true"})
		}
		env.Create(t, inst)
	}
	waitRolledOut(t, "standard", 1, 4)

	events := watchInstances(t, gvk, ns)
	applyBlueprint(t, standardBlueprint(t, "standard", "Standard", "v2"))
	got := waitRolledOut(t, "standard", 2, 4)

	// The canary moved first; nothing else moved before it was Ready on
	// revision 2.
	moved := map[string]bool{}
	canaryReady := false
	var order []string
	for _, e := range events() {
		if e.name == "charlie" && e.applied == 2 && e.ready {
			canaryReady = true
		}
		if e.revision == 2 && !moved[e.name] {
			moved[e.name] = true
			order = append(order, e.name)
			if e.name != "charlie" && !canaryReady {
				t.Errorf("%s moved to revision 2 before the canary was Ready on it", e.name)
			}
		}
	}
	if len(order) != 4 || order[0] != "charlie" {
		t.Errorf("instances moved in order %v, want the canary charlie first, then all", order)
	}
	for _, n := range names {
		if s := topicStandard(t, ns, n); s != "v2" {
			t.Errorf("topic %s has standard %q, want v2", n, s)
		}
	}
	if c := got.Status.Revisions; len(c) != 1 || c[0].Revision != 2 || c[0].Instances != 4 || c[0].Ready != 4 {
		t.Errorf("revisions %+v, want all 4 on revision 2", c)
	}
	for _, rev := range []int64{1, 2} {
		r := &corev1alpha1.BlueprintRevision{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: fmt.Sprintf("standard-%d", rev)}, r); err != nil {
			t.Errorf("revision %d: %v", rev, err)
		}
	}
	// A rollout setting is not a new revision.
	testenv.Update(t, env, got, func(b *corev1alpha1.Blueprint) { b.Spec.Rollout.Paused = true })
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(got), got); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("generation %d not observed", got.Generation)
		}
		return nil
	})
	if got.Status.LatestRevision != 2 {
		t.Errorf("latest revision %d after changing rollout settings, want 2", got.Status.LatestRevision)
	}
}

// A revision whose children the API server refuses fails on the canary:
// the rollout halts with the canary named, the other instances keep their
// revision, and new instances get the stable revision. Reverting the
// Blueprint brings every instance back at once.
func TestRolloutHaltsOnFailingCanary(t *testing.T) {
	bp := standardBlueprint(t, "halting", "Halting", "v1")
	applyBlueprint(t, bp)
	gvk := bp.Spec.GroupVersionKind()
	ns := queueNamespace(t)
	for _, n := range []string{"alpha", "bravo", "charlie"} {
		inst := newInstance(gvk, ns, n, map[string]any{})
		if n == "alpha" {
			inst.SetLabels(map[string]string{corev1alpha1.CanaryLabel: "true"})
		}
		env.Create(t, inst)
	}
	waitRolledOut(t, "halting", 1, 3)

	// Not a valid label value: the API server refuses the child.
	applyBlueprint(t, standardBlueprint(t, "halting", "Halting", "not valid!"))
	got := &corev1alpha1.Blueprint{}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "halting"}, got); err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, corev1alpha1.BlueprintRolledOut)
		if c == nil || c.Reason != corev1alpha1.RolloutHalted || got.Status.Rollout == nil || len(got.Status.Rollout.Failed) != 1 {
			return fmt.Errorf("not halted: %+v %+v", c, got.Status.Rollout)
		}
		return nil
	})
	// Alerts see the halt.
	waitHaltedGauge(t, "halting", 1)
	failed := got.Status.Rollout.Failed[0]
	if failed.Name != "alpha" || !strings.Contains(failed.Message, "applying Topic alpha") {
		t.Errorf("failed %+v, want the canary a with the API server's refusal", failed)
	}
	if !strings.Contains(got.Status.Rollout.Message, "halted") || got.Status.StableRevision != 1 || got.Status.LatestRevision != 2 {
		t.Errorf("rollout %+v stable %d latest %d", got.Status.Rollout, got.Status.StableRevision, got.Status.LatestRevision)
	}
	for _, n := range []string{"bravo", "charlie"} {
		u := newInstance(gvk, ns, n, nil)
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), u); err != nil {
			t.Fatal(err)
		}
		if rev := u.GetLabels()[corev1alpha1.BlueprintRevisionLabel]; rev != "1" {
			t.Errorf("%s moved to revision %s during a halted rollout", n, rev)
		}
		if s := topicStandard(t, ns, n); s != "v1" {
			t.Errorf("topic %s changed to %q during a halted rollout", n, s)
		}
	}
	// infraplane fleet status shows the halt, the failed canary and where
	// every instance stands.
	fleet, err := blueprint.Fleet(context.Background(), env.Client, "halting", true)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	blueprint.WriteFleet(&out, fleet)
	for _, want := range []string{"Halted", "r1: 2 (2 ready), r2: 1 (0 ready)", "FAILED " + ns + "/alpha: resource topic (Topic alpha): applying Topic alpha"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("fleet status does not show %q:\n%s", want, out.String())
		}
	}
	if items := fleet[0].Items; len(items) != 3 || items[0].Name != "alpha" || items[0].Ready || items[0].Revision != 2 {
		t.Errorf("fleet instances %+v, want the failed alpha first", items)
	}

	// A new instance gets the stable revision while the latest is halted.
	late := newInstance(gvk, ns, "late", map[string]any{})
	env.Create(t, late)
	waitInstance(t, late, isReady)
	if rev := late.GetLabels()[corev1alpha1.BlueprintRevisionLabel]; rev != "1" {
		t.Errorf("new instance got revision %s during a halted rollout, want 1", rev)
	}

	// Roll back (infraplane fleet rollback): revision 3 renders as the
	// stable revision 1.
	if to, changed, err := blueprint.Rollback(context.Background(), env.Client, "halting", 0); err != nil || to != 1 || !changed {
		t.Fatalf("rollback to %d (changed %v): %v", to, changed, err)
	}
	done := waitRolledOut(t, "halting", 3, 4)
	waitHaltedGauge(t, "halting", 0)
	if done.Spec.Rollout == nil || done.Spec.Rollout.Canary == nil || *done.Spec.Rollout.Canary != 1 {
		t.Errorf("rollout settings not kept: %+v", done.Spec.Rollout)
	}
	if c := done.Status.Revisions; len(c) != 1 || c[0].Revision != 3 || c[0].Instances != 4 {
		t.Errorf("revisions %+v, want all 4 on revision 3", c)
	}
	// The revision no instance uses is kept (among the last ten).
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "halting-2"}, &corev1alpha1.BlueprintRevision{}); apierrors.IsNotFound(err) {
		t.Errorf("revision 2 deleted: the last ten are kept")
	}
}

// infraplane fleet plan: what a Blueprint change would do to every
// instance, and which would fail, without writing anything.
func TestFleetPlanPreviewsAChange(t *testing.T) {
	bp := standardBlueprint(t, "planned", "Planned", "v1")
	applyBlueprint(t, bp)
	gvk := bp.Spec.GroupVersionKind()
	ns := queueNamespace(t)
	for _, n := range []string{"alpha", "bravo", "charlie"} {
		env.Create(t, newInstance(gvk, ns, n, map[string]any{}))
	}
	waitRolledOut(t, "planned", 1, 3)
	ctx := context.Background()

	same, err := blueprint.PlanFleet(ctx, env.Client, standardBlueprint(t, "planned", "Planned", "v1"))
	if err != nil || same.HasChanges() {
		t.Fatalf("the same Blueprint plans changes: %+v, %v", same, err)
	}

	p, err := blueprint.PlanFleet(ctx, env.Client, standardBlueprint(t, "planned", "Planned", "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.NewRevision || p.LatestRevision != 1 || p.Instances != 3 || p.Affected != 3 || p.Failed != 0 {
		t.Fatalf("plan %+v", p)
	}
	var got []string
	for _, c := range p.Changes {
		got = append(got, fmt.Sprintf("%s %s %s %s→%s ×%d", c.Resource, c.Action, c.Path, c.Old, c.New, c.Instances))
	}
	want := []string{
		`topic update metadata.labels.standard "v1"→"v2" ×3`,
		`topic update spec.labels.standard "v1"→"v2" ×3`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var out strings.Builder
	blueprint.WriteFleetPlan(&out, []*blueprint.FleetPlan{p})
	if !strings.Contains(out.String(), "Blueprint planned (Planned): revision 1 → 2; 3 of 3 instance(s) change") {
		t.Errorf("plan output:\n%s", out.String())
	}

	// A change the API server would refuse shows as failures, before it
	// halts a rollout.
	bad, err := blueprint.PlanFleet(ctx, env.Client, standardBlueprint(t, "planned", "Planned", "not valid!"))
	if err != nil {
		t.Fatal(err)
	}
	if bad.Failed != 3 || len(bad.Failures) != 3 || !strings.Contains(bad.Failures[0].Message, "the API server would refuse it") {
		t.Errorf("failures %d %+v", bad.Failed, bad.Failures)
	}

	// Nothing was written: no new revision, children unchanged.
	live := &corev1alpha1.Blueprint{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "planned"}, live); err != nil {
		t.Fatal(err)
	}
	if live.Status.LatestRevision != 1 {
		t.Errorf("latest revision %d after planning", live.Status.LatestRevision)
	}
	if s := topicStandard(t, ns, "alpha"); s != "v1" {
		t.Errorf("planning changed a topic: %q", s)
	}
}

// Removing a schema field that instances on an older revision still read
// is refused: the kind has one schema for all its instances.
func TestSchemaChangeMustKeepRevisionsInUse(t *testing.T) {
	withSchema := func(schema, label string) *corev1alpha1.Blueprint {
		return parseBlueprint(t, fmt.Sprintf(`
apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata: {name: schemaful}
spec:
  group: test.infraplane.dev
  version: v1alpha1
  kind: Schemaful
  schema: %s
  rollout: {canary: 1, batchSize: 1, paused: true}
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata: {name: "${metadata.name}"}
      spec:
        labels: {team: "%s"}
`, schema, label))
	}
	v1 := withSchema(`{type: object, properties: {team: {type: string, default: core}}}`, "${spec.team}")
	applyBlueprint(t, v1)
	ns := queueNamespace(t)
	inst := newInstance(v1.Spec.GroupVersionKind(), ns, "owned", map[string]any{})
	env.Create(t, inst)
	waitRolledOut(t, "schemaful", 1, 1)

	// Revision 2 no longer reads spec.team and the schema drops it; the
	// rollout is paused, so the instance stays on revision 1, which reads
	// it: refused, naming revision 1.
	v2 := withSchema(`{type: object, properties: {owner: {type: string, default: core}}}`, "fixed")
	// (The controller writes the status meanwhile: retry a stale version.)
	update := func(spec corev1alpha1.BlueprintSpec) error {
		var err error
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			live := &corev1alpha1.Blueprint{}
			if gerr := env.Client.Get(context.Background(), client.ObjectKey{Name: "schemaful"}, live); gerr != nil {
				return gerr
			}
			live.Spec = spec
			if err = env.Client.Update(context.Background(), live); apierrors.IsConflict(err) {
				return err
			}
			return nil
		})
		return err
	}
	err := update(v2.Spec)
	if err == nil || !strings.Contains(err.Error(), "revision 1, which 1 instance(s) still run, does not compile against it") ||
		!strings.Contains(err.Error(), "undefined field 'team'") {
		t.Fatalf("update: %v", err)
	}
	// Keeping the field is fine.
	v2ok := withSchema(`{type: object, properties: {team: {type: string, default: core}, owner: {type: string}}}`, "fixed")
	if err := update(v2ok.Spec); err != nil {
		t.Fatalf("a compatible schema change refused: %v", err)
	}
}

// waitHaltedGauge waits until infraplane_blueprint_rollout_halted of a
// Blueprint, as /metrics serves it, is want.
func waitHaltedGauge(t *testing.T, name string, want float64) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		families, err := ctrlmetrics.Registry.Gather()
		if err != nil {
			return err
		}
		for _, f := range families {
			if f.GetName() != "infraplane_blueprint_rollout_halted" {
				continue
			}
			for _, m := range f.GetMetric() {
				if m.GetLabel()[0].GetValue() == name {
					if v := m.GetGauge().GetValue(); v != want {
						return fmt.Errorf("infraplane_blueprint_rollout_halted{blueprint=%q} is %v, want %v", name, v, want)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("no infraplane_blueprint_rollout_halted{blueprint=%q}", name)
	})
}
