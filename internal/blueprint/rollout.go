package blueprint

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// RolloutAnnotation on an instance is the revision a rollout moved it to
// while it was Ready: the rollout judges such instances (a stage waits
// for them, and their failure halts it). Instances that were not Ready
// when moved, new instances and instances moved between revisions with
// one hash are not judged: their state says nothing about the revision.
const RolloutAnnotation = "infraplane.dev/rollout-judged"

// Rollout defaults.
const (
	DefaultCanary           = 1
	DefaultProgressDeadline = 10 * time.Minute
)

// DefaultBatchSize is a quarter of the instances, rounded up.
var DefaultBatchSize = intstr.FromString("25%")

// movers is how many instances the rollout moves at once.
const movers = 8

// maxFailures is how many failed instances the status lists.
const maxFailures = 10

// instanceView is what the rollout needs to know of one instance.
type instanceView struct {
	Namespace, Name string
	// Canary is true for instances labelled infraplane.dev/canary=true.
	Canary bool
	// Revision is the revision the instance is to run (its label; 0 when
	// it has none yet); Applied is the one it last rendered.
	Revision, Applied int64
	// Judged is the revision a rollout moved it to while Ready (0: none).
	Judged int64
	// Ready: the Ready condition is True for the current generation.
	Ready bool
	// Failed: Ready is False for a reason waiting does not fix (the
	// template does not render, or the API server refuses a child).
	Failed  bool
	Message string
	// Held: a break-glass shields the instance (its Paused condition): it
	// renders nothing, so the rollout neither moves nor judges it until
	// the break-glass ends; PausedMessage names it.
	Held          bool
	PausedMessage string
}

func (v instanceView) key() string { return v.Namespace + "/" + v.Name }

// rolloutSettings are a Blueprint's rollout settings with defaults.
type rolloutSettings struct {
	canary   int
	batch    intstr.IntOrString
	deadline time.Duration
	paused   bool
	// maxFailedNamespaces: failures in at most this many namespaces do not
	// halt the rollout.
	maxFailedNamespaces int
}

func settingsOf(spec *corev1alpha1.BlueprintRollout) rolloutSettings {
	s := rolloutSettings{canary: DefaultCanary, batch: DefaultBatchSize, deadline: DefaultProgressDeadline}
	if spec == nil {
		return s
	}
	if spec.Canary != nil {
		s.canary = int(*spec.Canary)
	}
	if spec.BatchSize != nil {
		s.batch = *spec.BatchSize
	}
	if spec.ProgressDeadline != nil && spec.ProgressDeadline.Duration > 0 {
		s.deadline = spec.ProgressDeadline.Duration
	}
	s.paused = spec.Paused
	s.maxFailedNamespaces = int(spec.MaxFailedNamespaces)
	return s
}

// move is an instance to give another revision.
type move struct {
	Namespace, Name string
	To              int64
	// Judge marks the instance as judged by this rollout.
	Judge bool
}

// rolloutPlan is what one pass of the rollout decided.
type rolloutPlan struct {
	Status corev1alpha1.RolloutStatus
	// Stable is the last revision every instance reached.
	Stable int64
	// NewInstances is the revision a new instance gets: the latest, or
	// the stable one while the latest is halted.
	NewInstances int64
	Moves        []move
	Counts       []corev1alpha1.RevisionCount
	// RequeueAfter is when a stage's deadline passes (0: none pending).
	RequeueAfter time.Duration
}

// planRollout decides one step of the rollout of the latest revision: it
// moves instances whose revision renders the same at once; then, unless a
// judged instance failed (halt) or is still becoming Ready (wait), moves
// the next stage: up to `canary` instances first, then batches.
func planRollout(latest int64, hashes map[int64]string, prev *corev1alpha1.RolloutStatus, stable int64, set rolloutSettings, items []instanceView, now time.Time) rolloutPlan {
	plan := rolloutPlan{Stable: stable, NewInstances: latest}
	st := corev1alpha1.RolloutStatus{Revision: latest, Total: int32(len(items))}
	if prev != nil && prev.Revision == latest {
		st.StageStartedAt = prev.StageStartedAt
	}
	sameAsLatest := func(rev int64) bool { return rev == latest || (hashes[rev] != "" && hashes[rev] == hashes[latest]) }

	var updated, outdated, waiting, failed, held []instanceView
	proven := 0 // judged instances Ready on the latest revision
	for _, it := range items {
		switch {
		case it.Revision == 0:
			continue // the instance controller gives it a revision
		case it.Revision != latest && sameAsLatest(it.Revision):
			plan.Moves = append(plan.Moves, move{Namespace: it.Namespace, Name: it.Name, To: latest})
			it.Revision = latest
		case it.Revision != latest && it.Held:
			held = append(held, it)
			continue
		case it.Revision != latest:
			outdated = append(outdated, it)
			continue
		}
		updated = append(updated, it)
		if it.Judged != latest {
			continue
		}
		onLatest := sameAsLatest(it.Applied)
		late := st.StageStartedAt != nil && now.Sub(st.StageStartedAt.Time) >= set.deadline
		switch {
		case onLatest && it.Ready:
			proven++
		case onLatest && it.Failed:
			failed = append(failed, it)
		case late:
			it.Message = fmt.Sprintf("not Ready within %s: %s", set.deadline, it.Message)
			failed = append(failed, it)
		default:
			waiting = append(waiting, it)
		}
	}
	st.Updated = int32(len(updated))

	// Failures in few enough namespaces are one team's doing (or one
	// team's problem): listed, not halting.
	tolerated := ""
	if len(failed) > 0 && namespacesOf(failed) <= set.maxFailedNamespaces {
		for _, f := range failed[:min(len(failed), maxFailures)] {
			st.Failed = append(st.Failed, corev1alpha1.InstanceFailure{Namespace: f.Namespace, Name: f.Name, Message: f.Message})
		}
		tolerated = fmt.Sprintf("; %d failed instance(s) in %d namespace(s) do not halt it (spec.rollout.maxFailedNamespaces is %d): %s: %s",
			len(failed), namespacesOf(failed), set.maxFailedNamespaces, failed[0].key(), failed[0].Message)
		failed = nil
	}

	switch {
	case len(failed) > 0:
		st.Phase = corev1alpha1.RolloutHalted
		for _, f := range failed[:min(len(failed), maxFailures)] {
			st.Failed = append(st.Failed, corev1alpha1.InstanceFailure{Namespace: f.Namespace, Name: f.Name, Message: f.Message})
		}
		st.Message = fmt.Sprintf("halted: %d instance(s) failed on revision %d (%s: %s); %d instance(s) stay on older revisions until the failure clears, the Blueprint changes or the instances recover",
			len(failed), latest, failed[0].key(), failed[0].Message, len(outdated))
		if set.maxFailedNamespaces > 0 {
			st.Message += fmt.Sprintf(" (the failures are in %d namespaces, more than spec.rollout.maxFailedNamespaces, %d)", namespacesOf(failed), set.maxFailedNamespaces)
		}
		if stable > 0 {
			plan.NewInstances = stable
		}
	case len(outdated) == 0 && len(waiting) == 0 && len(held) > 0:
		st.Phase = corev1alpha1.RolloutProgressing
		st.Message = fmt.Sprintf("%d instance(s) wait for their break-glass to end before they move to revision %d (%s: %s)",
			len(held), latest, held[0].key(), held[0].PausedMessage)
	case len(outdated) == 0 && len(waiting) == 0:
		st.Phase = corev1alpha1.RolloutComplete
		st.StageStartedAt = nil
		st.Message = fmt.Sprintf("all %d instance(s) on revision %d", len(updated), latest)
		plan.Stable = latest
	case len(waiting) > 0:
		st.Phase = stagePhase(proven, set.canary, len(outdated))
		st.Message = fmt.Sprintf("waiting for %d instance(s) to be Ready on revision %d (%s: %s); %d instance(s) to go",
			len(waiting), latest, waiting[0].key(), waiting[0].Message, len(outdated))
		if st.StageStartedAt != nil {
			plan.RequeueAfter = max(time.Second, st.StageStartedAt.Add(set.deadline).Sub(now)+time.Second)
		}
	case set.paused:
		st.Phase = corev1alpha1.RolloutPaused
		st.Message = fmt.Sprintf("paused (spec.rollout.paused): %d instance(s) on older revisions", len(outdated))
	default:
		slices.SortFunc(outdated, func(a, b instanceView) int {
			// Volunteers first, then instances whose state tells something
			// about the new revision (Ready ones), then by name.
			if a.Canary != b.Canary {
				return boolFirst(a.Canary)
			}
			if a.Ready != b.Ready {
				return boolFirst(a.Ready)
			}
			return cmp.Compare(a.key(), b.key())
		})
		n := 0
		if proven < set.canary {
			st.Phase = corev1alpha1.RolloutCanary
			n = set.canary - proven
		} else {
			st.Phase = corev1alpha1.RolloutProgressing
			n, _ = intstr.GetScaledValueFromIntOrPercent(&set.batch, len(items), true)
		}
		n = max(1, min(n, len(outdated)))
		var names []string
		for _, it := range outdated[:n] {
			plan.Moves = append(plan.Moves, move{Namespace: it.Namespace, Name: it.Name, To: latest, Judge: it.Ready})
			names = append(names, it.key())
		}
		st.Updated += int32(n)
		st.StageStartedAt = &metav1.Time{Time: now}
		plan.RequeueAfter = set.deadline + time.Second
		st.Message = fmt.Sprintf("moved %d instance(s) to revision %d (%s); %d to go", n, latest, abbreviate(names, 5), len(outdated)-n)
	}
	st.Message += tolerated
	plan.Status = st
	plan.Counts = countRevisions(items, plan.Moves)
	return plan
}

// namespacesOf counts the namespaces of instances.
func namespacesOf(items []instanceView) int {
	seen := map[string]bool{}
	for _, it := range items {
		seen[it.Namespace] = true
	}
	return len(seen)
}

// stagePhase names a stage: Canary while fewer judged instances than
// canaries proved the revision and others remain.
func stagePhase(proven, canary, outdated int) string {
	if proven < canary && outdated > 0 {
		return corev1alpha1.RolloutCanary
	}
	return corev1alpha1.RolloutProgressing
}

// countRevisions counts instances (and Ready ones) per revision, after
// the moves.
func countRevisions(items []instanceView, moves []move) []corev1alpha1.RevisionCount {
	to := map[string]int64{}
	for _, m := range moves {
		to[m.Namespace+"/"+m.Name] = m.To
	}
	by := map[int64]*corev1alpha1.RevisionCount{}
	for _, it := range items {
		rev := it.Revision
		if r, ok := to[it.key()]; ok {
			rev = r
		}
		if rev == 0 {
			continue
		}
		c := by[rev]
		if c == nil {
			c = &corev1alpha1.RevisionCount{Revision: rev}
			by[rev] = c
		}
		c.Instances++
		if it.Ready && it.Applied == rev {
			c.Ready++
		}
	}
	out := make([]corev1alpha1.RevisionCount, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b corev1alpha1.RevisionCount) int { return cmp.Compare(a.Revision, b.Revision) })
	return out
}

func boolFirst(a bool) int {
	if a {
		return -1
	}
	return 1
}

func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

// Instance reasons a rollout counts as failures at once: waiting does not
// fix them.
var failedReasons = map[string]bool{ReasonRenderFailed: true, ReasonApplyFailed: true, ReasonRevisionMissing: true, ReasonResourceFailed: true}

// viewOf reads what the rollout needs from an instance.
func viewOf(u *unstructured.Unstructured) instanceView {
	v := instanceView{
		Namespace: u.GetNamespace(), Name: u.GetName(),
		Canary:   u.GetLabels()[corev1alpha1.CanaryLabel] == "true",
		Revision: revisionOf(u),
	}
	v.Applied, _, _ = unstructured.NestedInt64(u.Object, "status", "revision")
	v.Judged, _ = strconv.ParseInt(u.GetAnnotations()[RolloutAnnotation], 10, 64)
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		if m, ok := x.(map[string]any); ok && m["type"] == TypePaused && m["status"] == "True" {
			v.Held = true
			v.PausedMessage, _ = m["message"].(string)
		}
	}
	// Judged as kstatus judges it (Current, Failed, else waiting), as long
	// as the instance controller has written a Ready condition for it.
	c := readyCondition(u)
	if c == nil || c.ObservedGeneration != u.GetGeneration() {
		v.Message = "not reconciled yet since the last change"
		return v
	}
	v.Message = c.Message
	r, err := kstatus.Compute(u)
	switch {
	case err != nil:
		v.Message = "reading its status: " + err.Error()
	case r.Status == kstatus.CurrentStatus:
		v.Ready = true
	case r.Status == kstatus.FailedStatus:
		v.Failed = true
		v.Message = r.Message
	}
	return v
}

// rollout plans and performs one step of the rollout of the latest
// revision, and fills the Blueprint's instance counts, revisions and
// RolledOut condition.
func (r *Controller) rollout(ctx context.Context, bp *corev1alpha1.Blueprint, ks *kindState, revs []corev1alpha1.BlueprintRevision, items []unstructured.Unstructured, setCond func(string, bool, string, string)) (reconcile.Result, error) {
	latest := revs[len(revs)-1].Spec.Revision
	hashes := make(map[int64]string, len(revs))
	for _, rev := range revs {
		hashes[rev.Spec.Revision] = rev.Spec.Hash
	}
	views := make([]instanceView, len(items))
	for i := range items {
		views[i] = viewOf(&items[i])
	}
	plan := planRollout(latest, hashes, bp.Status.Rollout, bp.Status.StableRevision, settingsOf(bp.Spec.Rollout), views, time.Now())
	ks.newInstances.Store(plan.NewInstances)

	// A stage's instances move in parallel (a batch of 100% is the whole
	// fleet).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(movers)
	for _, m := range plan.Moves {
		g.Go(func() error {
			judged := any(nil) // removes a judgement of an earlier rollout
			if m.Judge {
				judged = strconv.FormatInt(m.To, 10)
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
				"labels":      map[string]any{corev1alpha1.BlueprintRevisionLabel: strconv.FormatInt(m.To, 10)},
				"annotations": map[string]any{RolloutAnnotation: judged},
			}})
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(ks.gvk)
			u.SetNamespace(m.Namespace)
			u.SetName(m.Name)
			if err := r.c.Patch(gctx, u, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("moving %s %s/%s to revision %d: %w", ks.gvk.Kind, m.Namespace, m.Name, m.To, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return reconcile.Result{}, err
	}

	inUse := map[int64]bool{latest: true, plan.Stable: true}
	for _, v := range views {
		inUse[v.Revision], inUse[v.Applied] = true, true
	}
	if err := r.pruneRevisions(ctx, revs, inUse); err != nil {
		return reconcile.Result{}, err
	}

	st := &bp.Status
	st.LatestRevision, st.StableRevision = latest, plan.Stable
	st.Rollout = &plan.Status
	st.Revisions = plan.Counts
	st.Instances, st.ReadyInstances = int32(len(views)), 0
	for _, v := range views {
		if v.Ready {
			st.ReadyInstances++
		}
	}
	setCond(corev1alpha1.BlueprintRolledOut, plan.Status.Phase == corev1alpha1.RolloutComplete, plan.Status.Phase, plan.Status.Message)
	return reconcile.Result{RequeueAfter: plan.RequeueAfter}, nil
}

// readyCondition is an instance's Ready condition, or nil.
func readyCondition(u *unstructured.Unstructured) *metav1.Condition {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		m, ok := x.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		c := &metav1.Condition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, c); err != nil {
			return nil
		}
		return c
	}
	return nil
}
