package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/status"
)

// liveDebounce gathers a burst of changes (a sync applying many objects)
// into one page update.
const liveDebounce = 250 * time.Millisecond

// Bounds on what one person's live updates cost the API server: streams
// per session (tabs), and namespaces watched one by one (a person who may
// not watch cluster-wide needs a watch per kind and namespace). Beyond
// that, the page is told to refresh every pollInterval instead.
const (
	maxStreamsPerSession = 8
	maxWatchedNamespaces = 20
	pollInterval         = 10 * time.Second
)

// live streams server-sent events: "change" whenever an object the page
// shows may have changed. The watches are made as the person, so a change
// they may not see sends nothing. The page then fetches its main region
// again (X-Fragment) — one render per burst, not one request per object.
func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	ss := h.session(w, r)
	if ss == nil {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	ss.mu.Lock()
	if ss.streams >= maxStreamsPerSession {
		ss.mu.Unlock()
		http.Error(w, "too many live streams for this session; close some tabs", http.StatusTooManyRequests)
		return
	}
	ss.streams++
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		ss.streams--
		ss.mu.Unlock()
	}()
	sc, err := h.scopeOf(ctx, ss)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	namespaces := []string{metav1.NamespaceAll}
	if !sc.all {
		namespaces = sc.namespaces
	}
	if ns := r.URL.Query().Get("ns"); ns != "" {
		if !sc.all && !slices.Contains(sc.namespaces, ns) {
			http.Error(w, "you may not read namespace "+ns, http.StatusForbidden)
			return
		}
		namespaces = []string{ns}
	}
	kinds, err := h.clusterKinds(ctx)
	if err != nil {
		h.fail(w, r, ss, http.StatusBadGateway, err)
		return
	}
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	// ?kind= narrows the watches to what the page shows: BreakGlass, or
	// Blueprint (cluster-scoped: one watch, as the person, if they may).
	// The overview (no ns, no kind) shows Blueprints too.
	only := r.URL.Query().Get("kind")
	if only == "Blueprint" || (only == "" && r.URL.Query().Get("ns") == "") {
		go h.watchLoop(ctx, ss, corev1alpha1.GroupVersion.WithResource("blueprints"), metav1.NamespaceAll, poke)
	}
	var poll <-chan time.Time
	switch {
	case only == "Blueprint": // nothing namespaced to watch
	case len(namespaces) > maxWatchedNamespaces:
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		poll = t.C
	default:
		for _, k := range watchedKinds(kinds) {
			if only != "" && k.Kind != only {
				continue
			}
			gvr := schema.GroupVersionResource{Group: k.Group, Version: k.Version, Resource: k.Plural}
			for _, ns := range namespaces {
				go h.watchLoop(ctx, ss, gvr, ns, poke)
			}
		}
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // no proxy buffering
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	heartbeat := time.NewTicker(20 * time.Second)
	defer heartbeat.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-poll:
			poke()
			continue
		case <-changed:
			// More changes of the same burst arrive meanwhile.
			select {
			case <-time.After(liveDebounce):
			case <-ctx.Done():
				return
			}
			select {
			case <-changed:
			default:
			}
			n++
			fmt.Fprintf(w, "event: change\nid: %s\ndata: %d\n\n", strconv.Itoa(n), n)
		}
		fl.Flush()
	}
}

// watchedKinds are the namespaced kinds whose objects pages show.
func watchedKinds(kinds []status.Kind) []status.Kind {
	var out []status.Kind
	for _, k := range kinds {
		if k.Namespaced && (k.Managed() || k.IsInstance() || k.IsGitSource() || k.Kind == "BreakGlass") {
			out = append(out, k)
		}
	}
	return out
}

// watchLoop watches one kind in one namespace until ctx ends, starting
// again when the API server closes the watch. A kind the person may not
// watch is left alone.
func (h *Handler) watchLoop(ctx context.Context, ss *session, gvr schema.GroupVersionResource, ns string, poke func()) {
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			l, err := ss.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{Limit: 1})
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
				return
			}
			if err != nil {
				if !sleep(ctx, 2*time.Second) {
					return
				}
				continue
			}
			rv = l.GetResourceVersion()
		}
		wi, err := ss.dyn.Resource(gvr).Namespace(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if apierrors.IsForbidden(err) {
			return
		}
		if err != nil {
			rv = ""
			poke() // something may have changed while no watch ran
			if !sleep(ctx, 2*time.Second) {
				return
			}
			continue
		}
		for ev := range wi.ResultChan() {
			switch ev.Type {
			case watch.Error:
				rv = "" // too old: list again
			case watch.Bookmark:
				if m, err := metaOf(ev.Object); err == nil {
					rv = m
				}
			default:
				if m, err := metaOf(ev.Object); err == nil {
					rv = m
				}
				poke()
			}
		}
		wi.Stop()
	}
}

func metaOf(o any) (string, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return "", fmt.Errorf("no metadata")
	}
	return m.GetResourceVersion(), nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
