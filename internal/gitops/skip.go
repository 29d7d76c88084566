package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// appliedState is what the syncer knows about an object it applied: the
// manifest it sent, and the object's generation and metadata right after.
// While all three still match, applying the same manifest again would
// change nothing, so the per-object read and dry run are skipped — a
// one-line commit in a repository of 1,000 objects then costs a handful of
// API requests instead of two thousand.
type appliedState struct {
	manifest   string // hash of the rendered manifest
	generation int64
	meta       string // hash of labels and annotations
}

// skipCache remembers appliedState per source. It lives in memory: after a
// restart the first sync applies everything, which is also what re-checks
// the cluster once.
type skipCache struct {
	mu     sync.Mutex
	by     map[string]map[string]appliedState // source -> subject -> state
	fullAt map[string]time.Time               // source -> last apply of everything
}

// fullApplyEvery bounds how long objects may be skipped: a change that
// slipped in between an apply and the read that recorded it is repaired
// at the latest by the next full apply.
const fullApplyEvery = 30 * time.Minute

func newSkipCache() *skipCache {
	return &skipCache{by: map[string]map[string]appliedState{}, fullAt: map[string]time.Time{}}
}

func manifestHash(u *unstructured.Unstructured) string {
	b, _ := json.Marshal(u.Object) // map keys are sorted: deterministic
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func metaHash(u *unstructured.Unstructured) string {
	b, _ := json.Marshal([]map[string]string{u.GetLabels(), u.GetAnnotations()})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// liveStates lists, with one request per kind, the objects of a source in
// its target namespace (Blueprints: cluster-wide), as the GitSource's
// identity c: a repository may hold kinds that neither it nor the
// controller may read. A kind c may not list is left out (its objects are
// applied, and the apply refuses them with file and line).
func (s *Syncer) liveStates(ctx context.Context, c client.Reader, sourceLabel string, objs []*unstructured.Unstructured) (map[string]*unstructured.Unstructured, error) {
	kinds := map[schema.GroupVersionKind]string{} // kind -> namespace
	for _, o := range objs {
		kinds[o.GroupVersionKind()] = o.GetNamespace()
	}
	out := map[string]*unstructured.Unstructured{}
	for _, gvk := range slices.SortedFunc(maps.Keys(kinds), func(a, b schema.GroupVersionKind) int {
		return compareStrings(a.String(), b.String())
	}) {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.InNamespace(kinds[gvk]), client.MatchingLabels{corev1alpha1.SourceLabel: sourceLabel}); err != nil {
			if apierrors.IsForbidden(err) {
				continue
			}
			return nil, err
		}
		for i := range list.Items {
			it := &list.Items[i]
			it.SetGroupVersionKind(gvk)
			out[subject(it)] = it
		}
	}
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// partition splits the objects into those that must go through apply and
// those that provably would not change.
func (c *skipCache) partition(source string, objs []*unstructured.Unstructured, live map[string]*unstructured.Unstructured) (apply, skip []*unstructured.Unstructured) {
	c.mu.Lock()
	prev := c.by[source]
	if time.Since(c.fullAt[source]) > fullApplyEvery {
		prev = nil
	}
	c.mu.Unlock()
	if prev == nil {
		return objs, nil
	}
	for _, o := range objs {
		subj := subject(o)
		st, known := prev[subj]
		l, exists := live[subj]
		if known && exists && st.manifest == manifestHash(o) && st.generation == l.GetGeneration() && st.meta == metaHash(l) {
			skip = append(skip, o)
			continue
		}
		apply = append(apply, o)
	}
	return apply, skip
}

// remember records the state after a successful apply; full says whether
// every object went through apply.
func (c *skipCache) remember(source string, objs []*unstructured.Unstructured, live map[string]*unstructured.Unstructured, full bool) {
	next := make(map[string]appliedState, len(objs))
	for _, o := range objs {
		subj := subject(o)
		if l, ok := live[subj]; ok {
			next[subj] = appliedState{manifest: manifestHash(o), generation: l.GetGeneration(), meta: metaHash(l)}
		}
	}
	c.mu.Lock()
	c.by[source] = next
	if full {
		c.fullAt[source] = time.Now()
	}
	c.mu.Unlock()
}

// forget drops what is known about a source (after a failed apply).
func (c *skipCache) forget(source string) {
	c.mu.Lock()
	delete(c.by, source)
	c.mu.Unlock()
}

// unchangedEntries makes change-set entries for skipped objects.
func unchangedEntries(objs []*unstructured.Unstructured) []ssa.ChangeSetEntry {
	out := make([]ssa.ChangeSetEntry, len(objs))
	for i, o := range objs {
		out[i] = ssa.ChangeSetEntry{Subject: subject(o), Action: ssa.UnchangedAction}
	}
	return out
}
