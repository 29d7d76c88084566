package blueprint

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// fleet makes n Ready instances on revision rev, named i00, i01, ….
func fleet(n int, rev int64) []instanceView {
	out := make([]instanceView, n)
	for i := range out {
		out[i] = instanceView{Namespace: "ns", Name: fmt.Sprintf("i%02d", i), Revision: rev, Applied: rev, Ready: true}
	}
	return out
}

// applyMoves does what the controller does with a plan's moves, and what
// the instance controller then reports: moved instances render the new
// revision, and those in fail become failed.
func applyMoves(items []instanceView, plan rolloutPlan, fail map[string]bool) {
	for _, m := range plan.Moves {
		for i := range items {
			if items[i].Name != m.Name {
				continue
			}
			items[i].Revision, items[i].Applied = m.To, m.To
			if m.Judge {
				items[i].Judged = m.To
			}
			if fail[m.Name] {
				items[i].Ready, items[i].Failed, items[i].Message = false, true, "resource sub: applying: refused"
			}
		}
	}
}

func moved(plan rolloutPlan) string {
	var names []string
	for _, m := range plan.Moves {
		names = append(names, m.Name)
	}
	return strings.Join(names, ",")
}

var distinct = map[int64]string{1: "a", 2: "b", 3: "c"}

func TestRolloutCanaryThenBatches(t *testing.T) {
	items := fleet(10, 1)
	items[7].Canary = true
	set := rolloutSettings{canary: 2, batch: intstr.FromString("30%"), deadline: time.Minute}
	now := time.Now()
	var prev *corev1alpha1.RolloutStatus

	var stages []string
	for range 10 {
		plan := planRollout(2, distinct, prev, 1, set, items, now)
		prev = &plan.Status
		if len(plan.Moves) == 0 {
			if plan.Status.Phase != corev1alpha1.RolloutComplete || plan.Stable != 2 {
				t.Fatalf("no moves but phase %s stable %d: %s", plan.Status.Phase, plan.Stable, plan.Status.Message)
			}
			break
		}
		stages = append(stages, plan.Status.Phase+":"+moved(plan))
		applyMoves(items, plan, nil)
	}
	want := []string{"Canary:i07,i00", "Progressing:i01,i02,i03", "Progressing:i04,i05,i06", "Progressing:i08,i09"}
	if fmt.Sprint(stages) != fmt.Sprint(want) {
		t.Fatalf("stages\n got %v\nwant %v", stages, want)
	}
}

func TestRolloutWaitsForStage(t *testing.T) {
	items := fleet(4, 1)
	set := rolloutSettings{canary: 1, batch: intstr.FromInt32(10), deadline: time.Minute}
	now := time.Now()
	plan := planRollout(2, distinct, nil, 1, set, items, now)
	if moved(plan) != "i00" || plan.Status.Phase != corev1alpha1.RolloutCanary {
		t.Fatalf("first step: moved %q phase %s", moved(plan), plan.Status.Phase)
	}
	// Moved but not rendered yet: the rollout waits.
	items[0].Revision, items[0].Judged = 2, 2
	prev := plan.Status
	plan = planRollout(2, distinct, &prev, 1, set, items, now.Add(time.Second))
	if len(plan.Moves) != 0 || plan.Status.Phase != corev1alpha1.RolloutCanary || !strings.Contains(plan.Status.Message, "waiting for 1 instance(s)") {
		t.Fatalf("while the canary renders: moved %q phase %s: %s", moved(plan), plan.Status.Phase, plan.Status.Message)
	}
	if plan.RequeueAfter <= 0 || plan.RequeueAfter > time.Minute {
		t.Fatalf("requeue after %s, want by the deadline", plan.RequeueAfter)
	}
	// Past the deadline, an instance still not Ready fails the rollout.
	items[0].Ready, items[0].Message = false, "resource topic: CloudError: …"
	items[0].Applied = 2
	plan = planRollout(2, distinct, &prev, 1, set, items, now.Add(2*time.Minute))
	if plan.Status.Phase != corev1alpha1.RolloutHalted || len(plan.Status.Failed) != 1 || !strings.Contains(plan.Status.Failed[0].Message, "not Ready within 1m0s") {
		t.Fatalf("after the deadline: phase %s failed %v", plan.Status.Phase, plan.Status.Failed)
	}
}

func TestRolloutHaltsOnFailedCanary(t *testing.T) {
	items := fleet(5, 1)
	set := settingsOf(nil)
	now := time.Now()
	plan := planRollout(2, distinct, nil, 1, set, items, now)
	applyMoves(items, plan, map[string]bool{"i00": true})
	prev := plan.Status
	plan = planRollout(2, distinct, &prev, 1, set, items, now)
	if plan.Status.Phase != corev1alpha1.RolloutHalted || len(plan.Moves) != 0 {
		t.Fatalf("phase %s moves %q: %s", plan.Status.Phase, moved(plan), plan.Status.Message)
	}
	if plan.NewInstances != 1 {
		t.Fatalf("new instances get revision %d while halted, want the stable 1", plan.NewInstances)
	}
	if got := plan.Status.Failed; len(got) != 1 || got[0].Name != "i00" || !strings.Contains(plan.Status.Message, "i00") {
		t.Fatalf("failed %v: %s", got, plan.Status.Message)
	}
	if plan.Stable != 1 || plan.Status.Updated != 1 {
		t.Fatalf("stable %d updated %d", plan.Stable, plan.Status.Updated)
	}

	// Reverting the Blueprint makes revision 3 with revision 1's hash:
	// instances on 1 move at once, without stages; the failed canary then
	// moves (not judged: it was not Ready) and the rollout completes.
	hashes := map[int64]string{1: "a", 2: "b", 3: "a"}
	prev = plan.Status
	plan = planRollout(3, hashes, &prev, 1, set, items, now)
	if moved(plan) != "i01,i02,i03,i04,i00" {
		t.Fatalf("revert moved %q, want every instance", moved(plan))
	}
	for _, m := range plan.Moves {
		if m.Judge {
			t.Fatalf("%s judged: a revert to a known hash or a failed instance is not judged", m.Name)
		}
	}
	applyMoves(items, plan, nil)
	items[0].Ready, items[0].Failed = true, false
	prev = plan.Status
	plan = planRollout(3, hashes, &prev, 1, set, items, now)
	if plan.Status.Phase != corev1alpha1.RolloutComplete || plan.Stable != 3 {
		t.Fatalf("after revert: phase %s stable %d: %s", plan.Status.Phase, plan.Stable, plan.Status.Message)
	}
}

func TestRolloutLeavesUnjudgedInstancesAlone(t *testing.T) {
	// An instance that was already failing, or a new one on the latest
	// revision that is not Ready yet, does not hold the rollout.
	items := fleet(3, 1)
	items[1].Ready, items[1].Message = false, "resource topic: waiting for Topic x"
	items = append(items, instanceView{Namespace: "ns", Name: "new", Revision: 2, Applied: 2, Message: "not reconciled yet"})
	set := rolloutSettings{canary: 1, batch: intstr.FromInt32(5), deadline: time.Minute}
	now := time.Now()
	var prev *corev1alpha1.RolloutStatus
	for range 5 {
		plan := planRollout(2, distinct, prev, 1, set, items, now)
		prev = &plan.Status
		if len(plan.Moves) == 0 {
			break
		}
		applyMoves(items, plan, nil)
	}
	if prev.Phase != corev1alpha1.RolloutComplete {
		t.Fatalf("phase %s: %s", prev.Phase, prev.Message)
	}
}

func TestRolloutPaused(t *testing.T) {
	items := fleet(3, 1)
	plan := planRollout(2, distinct, nil, 1, rolloutSettings{canary: 1, batch: intstr.FromInt32(1), deadline: time.Minute, paused: true}, items, time.Now())
	if plan.Status.Phase != corev1alpha1.RolloutPaused || len(plan.Moves) != 0 {
		t.Fatalf("phase %s moves %q", plan.Status.Phase, moved(plan))
	}
	if got := plan.Counts; len(got) != 1 || got[0].Revision != 1 || got[0].Instances != 3 || got[0].Ready != 3 {
		t.Fatalf("counts %+v", got)
	}
}

func TestRolloutStageTimeKept(t *testing.T) {
	items := fleet(2, 1)
	set := settingsOf(nil)
	start := metav1.NewTime(time.Now().Add(-time.Minute))
	items[0].Revision, items[0].Judged = 2, 2
	prev := &corev1alpha1.RolloutStatus{Revision: 2, Phase: corev1alpha1.RolloutCanary, StageStartedAt: &start}
	plan := planRollout(2, distinct, prev, 1, set, items, time.Now())
	if plan.Status.StageStartedAt == nil || !plan.Status.StageStartedAt.Equal(&start) {
		t.Fatalf("stage start %v, want the previous %v", plan.Status.StageStartedAt, start)
	}
}

// A child is judged as kstatus judges it: Current is ready, Failed
// (Stalled) is failed for good, anything else waits.
func TestChildReady(t *testing.T) {
	child := func(gen, observed int64, conds ...map[string]any) *unstructured.Unstructured {
		cs := make([]any, len(conds))
		for i, c := range conds {
			c["observedGeneration"] = observed
			cs[i] = c
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "pubsub.infraplane.dev/v1alpha1", "kind": "Topic",
			"metadata": map[string]any{"name": "t", "generation": gen},
			"status":   map[string]any{"observedGeneration": observed, "conditions": cs},
		}}
	}
	cond := func(typ, status, reason, msg string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg}
	}
	for name, tc := range map[string]struct {
		u             *unstructured.Unstructured
		ready, failed bool
		msg           string
	}{
		"ready":       {child(2, 2, cond("Ready", "True", "Available", "")), true, false, ""},
		"not created": {child(1, -1), false, false, "generation"},
		"refused": {child(2, 2, cond("Ready", "True", "Available", ""),
			cond("Stalled", "True", "CloudError", "updating topic t failed: InvalidArgument: label updates are not supported")), false, true, "InvalidArgument"},
		"retrying": {child(2, 2, cond("Ready", "True", "Available", ""),
			cond("Reconciling", "True", "CloudError", "updating topic t failed: Unavailable: connection refused")), false, false, "Unavailable"},
		"waiting": {child(2, 2, cond("Ready", "False", "WaitingForReference", "waiting for Topic x"),
			cond("Reconciling", "True", "WaitingForReference", "waiting for Topic x")), false, false, "WaitingForReference: waiting for Topic x"},
		"older generation": {child(3, 2, cond("Ready", "True", "Available", ""),
			cond("Stalled", "True", "CloudError", "InvalidArgument: x")), false, false, "generation"},
		"no status (a kind outside infraplane)": {&unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}}}, true, false, ""},
	} {
		ready, failed, msg := childReady(nil, &Resource{}, Instance{}, tc.u)
		if ready != tc.ready || failed != tc.failed || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: ready %v failed %v (%q), want %v %v (%q)", name, ready, failed, msg, tc.ready, tc.failed, tc.msg)
		}
	}
}

func TestRolloutLeavesHeldInstances(t *testing.T) {
	items := fleet(3, 1)
	items[0].Held, items[0].PausedMessage = true, "break-glass inc-1 covers it until 12:00"
	set := rolloutSettings{canary: 1, batch: intstr.FromInt32(5), deadline: time.Minute}
	now := time.Now()
	var prev *corev1alpha1.RolloutStatus
	var plan rolloutPlan
	for range 5 {
		plan = planRollout(2, distinct, prev, 1, set, items, now)
		prev = &plan.Status
		for _, m := range plan.Moves {
			if m.Name == "i00" {
				t.Fatalf("the held instance moved")
			}
		}
		if len(plan.Moves) == 0 {
			break
		}
		applyMoves(items, plan, nil)
	}
	if plan.Status.Phase != corev1alpha1.RolloutProgressing || !strings.Contains(plan.Status.Message, "ns/i00: break-glass inc-1") || plan.Stable != 1 {
		t.Fatalf("phase %s stable %d: %s", plan.Status.Phase, plan.Stable, plan.Status.Message)
	}
	// Once the break-glass ends, it moves and the rollout completes.
	items[0].Held = false
	for range 3 {
		plan = planRollout(2, distinct, prev, 1, set, items, now)
		prev = &plan.Status
		applyMoves(items, plan, nil)
	}
	if plan.Status.Phase != corev1alpha1.RolloutComplete {
		t.Fatalf("after the break-glass: %s: %s", plan.Status.Phase, plan.Status.Message)
	}
}

// A team can volunteer its instance as a canary (the label is the
// team's) and make it fail on the new revision. With maxFailedNamespaces
// 1 that halts nothing: the failure is listed, another instance becomes
// the canary and the rollout completes for the other teams. Failures in
// two namespaces still halt it.
func TestRolloutToleratesOneNamespacesFailures(t *testing.T) {
	items := fleet(6, 1)
	for i := range items {
		items[i].Namespace = fmt.Sprintf("team-%c", 'a'+i/2) // two instances per team
	}
	items[5].Canary = true // team-c volunteers i05
	set := settingsOf(&corev1alpha1.BlueprintRollout{MaxFailedNamespaces: 1, BatchSize: ptrTo(intstr.FromInt32(2))})
	now := time.Now()
	fail := map[string]bool{"i05": true, "i04": true} // team-c fails on purpose
	var prev *corev1alpha1.RolloutStatus
	var plan rolloutPlan
	for range 10 {
		plan = planRollout(2, distinct, prev, 1, set, items, now)
		if plan.Status.Phase == corev1alpha1.RolloutComplete {
			break
		}
		if plan.Status.Phase == corev1alpha1.RolloutHalted {
			t.Fatalf("halted by one team's failures: %s", plan.Status.Message)
		}
		applyMoves(items, plan, fail)
		prev = &plan.Status
	}
	if plan.Status.Phase != corev1alpha1.RolloutComplete {
		t.Fatalf("phase %s: %s", plan.Status.Phase, plan.Status.Message)
	}
	for _, it := range items {
		if it.Revision != 2 {
			t.Errorf("%s/%s on revision %d, want 2", it.Namespace, it.Name, it.Revision)
		}
	}
	if len(plan.Status.Failed) == 0 || plan.Status.Failed[0].Namespace != "team-c" ||
		!strings.Contains(plan.Status.Message, "do not halt it (spec.rollout.maxFailedNamespaces is 1)") {
		t.Errorf("the tolerated failures are not reported: %+v: %s", plan.Status.Failed, plan.Status.Message)
	}

	// A revision that fails for two teams halts.
	items = fleet(6, 1)
	for i := range items {
		items[i].Namespace = fmt.Sprintf("team-%c", 'a'+i/2)
	}
	fail = map[string]bool{"i00": true, "i02": true}
	prev = nil
	for range 10 {
		plan = planRollout(2, distinct, prev, 1, set, items, now)
		if plan.Status.Phase == corev1alpha1.RolloutHalted || plan.Status.Phase == corev1alpha1.RolloutComplete {
			break
		}
		applyMoves(items, plan, fail)
		prev = &plan.Status
	}
	if plan.Status.Phase != corev1alpha1.RolloutHalted || !strings.Contains(plan.Status.Message, "in 2 namespaces, more than spec.rollout.maxFailedNamespaces, 1") {
		t.Fatalf("two teams' failures: phase %s: %s", plan.Status.Phase, plan.Status.Message)
	}
}

func ptrTo[T any](v T) *T { return &v }
