package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// rolloutRecorder watches a rollout through the controllers' informers:
// every rollout status of the Blueprint, and every change of a Queue's
// revision label (a move), with the time it arrived.
type rolloutRecorder struct {
	mu       sync.Mutex
	statuses []rolloutEvent
	moves    []moveEvent
	changes  map[string]float64 // Queue updates by what they changed
}

type rolloutEvent struct {
	at     time.Time
	stable int64
	status corev1alpha1.RolloutStatus
}

type moveEvent struct {
	at time.Time
	to string // the new revision label
}

func recordRollouts(ctx context.Context, mgr ctrl.Manager, name string) (*rolloutRecorder, error) {
	inf, err := mgr.GetCache().GetInformer(ctx, &corev1alpha1.Blueprint{})
	if err != nil {
		return nil, err
	}
	r := &rolloutRecorder{changes: map[string]float64{}}
	add := func(obj any) {
		bp, ok := obj.(*corev1alpha1.Blueprint)
		if !ok || bp.Name != name || bp.Status.Rollout == nil {
			return
		}
		e := rolloutEvent{at: time.Now(), stable: bp.Status.StableRevision, status: *bp.Status.Rollout.DeepCopy()}
		r.mu.Lock()
		r.statuses = append(r.statuses, e)
		r.mu.Unlock()
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    add,
		UpdateFunc: func(_, obj any) { add(obj) },
	})
	return r, err
}

// watchQueues records the Queues' moves and changes; call it once the
// kind is served.
func (r *rolloutRecorder) watchQueues(ctx context.Context, mgr ctrl.Manager, gvk schema.GroupVersionKind) error {
	q := &unstructured.Unstructured{}
	q.SetGroupVersionKind(gvk)
	inf, err := mgr.GetCache().GetInformer(ctx, q)
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(old, obj any) {
		o, ok1 := old.(*unstructured.Unstructured)
		n, ok2 := obj.(*unstructured.Unstructured)
		if !ok1 || !ok2 || o.GetResourceVersion() == n.GetResourceVersion() {
			return
		}
		r.noteChange(o, n)
	}})
	return err
}

// noteChange records a move, and counts which parts of a Queue an update
// changed.
func (r *rolloutRecorder) noteChange(old, obj *unstructured.Unstructured) {
	now := time.Now()
	var parts []string
	for _, p := range [][]string{{"metadata", "labels"}, {"metadata", "annotations"}, {"metadata", "finalizers"}, {"spec"},
		{"status", "conditions"}, {"status", "resources"}, {"status", "revision"}} {
		a, _, _ := unstructured.NestedFieldNoCopy(old.Object, p...)
		b, _, _ := unstructured.NestedFieldNoCopy(obj.Object, p...)
		if !equality.Semantic.DeepEqual(a, b) {
			parts = append(parts, strings.Join(p, "."))
		}
	}
	key := strings.Join(parts, "+")
	if key == "" {
		key = "other metadata"
	}
	from, to := old.GetLabels()[corev1alpha1.BlueprintRevisionLabel], obj.GetLabels()[corev1alpha1.BlueprintRevisionLabel]
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes[key]++
	if from != "" && to != from {
		r.moves = append(r.moves, moveEvent{at: now, to: to})
	}
}

// takeChanges returns the counts noteChange kept, and resets them.
func (r *rolloutRecorder) takeChanges() map[string]float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.changes
	r.changes = map[string]float64{}
	return out
}

// stage is one set of instances the rollout moved at once.
type stage struct {
	phase string // Canary or Progressing
	moved int
	// first and last are when the first and the last instance of the
	// stage got the new revision, after the Blueprint update.
	first, last time.Duration
}

// stages are the stages of revision rev's rollout: the rollout statuses
// that say they moved instances give the stages and their sizes (the
// Blueprint controller moves a stage's instances one by one, then writes
// that status); the Queues' label changes give their times.
func (r *rolloutRecorder) stages(rev int64, t0 time.Time) []stage {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []stage
	seen := map[string]bool{}
	for _, e := range r.statuses {
		st := e.status
		if st.Revision != rev || !strings.HasPrefix(st.Message, "moved ") || seen[st.Message] {
			continue
		}
		seen[st.Message] = true
		s := stage{phase: st.Phase}
		fmt.Sscanf(st.Message, "moved %d instance(s)", &s.moved)
		// Until the moves are matched below: when the status arrived.
		s.first, s.last = e.at.Sub(t0), e.at.Sub(t0)
		out = append(out, s)
	}
	var moves []time.Time
	for _, m := range r.moves {
		if m.to == fmt.Sprint(rev) && !m.at.Before(t0) {
			moves = append(moves, m.at)
		}
	}
	slices.SortFunc(moves, func(a, b time.Time) int { return a.Compare(b) })
	i := 0
	for k := range out {
		if i+out[k].moved > len(moves) || out[k].moved == 0 {
			break // a move the informer did not show: keep the status times
		}
		out[k].first, out[k].last = moves[i].Sub(t0), moves[i+out[k].moved-1].Sub(t0)
		i += out[k].moved
	}
	return out
}

// completedAt is when the informer first delivered revision rev Complete
// and stable.
func (r *rolloutRecorder) completedAt(rev int64) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.statuses {
		if e.status.Revision == rev && e.status.Phase == corev1alpha1.RolloutComplete && e.stable == rev {
			return e.at, true
		}
	}
	return time.Time{}, false
}
