package blueprint_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/status"
)

// requestLog records the method and path of every request through it.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// infraplane status reads a namespace with one list per kind (the
// GitSources, every managed kind, every Blueprint's kind) and no request
// per object, through the raw lists the CLI uses; the report is the one
// the client's typed lists give.
func TestStatusListsEachKindOnce(t *testing.T) {
	ns := queueNamespace(t)
	q := newInstance(queueGVK, ns, "orders", map[string]any{"retentionDays": int64(3)})
	env.Create(t, q)
	waitInstance(t, q, isReady)
	ctx := context.Background()

	var log requestLog
	cfg := rest.CopyConfig(env.Config())
	cfg.Wrap(log.wrap)
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := status.RawGetter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := status.LoadClusterKinds(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// The GitSource list's discovery, once per process, is not what is
	// counted: list it once first.
	if _, err := status.Collect(ctx, c, kinds, status.Scope{Namespace: ns, Raw: raw}); err != nil {
		t.Fatal(err)
	}
	log.take()

	snap, err := status.Collect(ctx, c, kinds, status.Scope{Namespace: ns, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"GET /apis/infraplane.dev/v1alpha1/gitsources": 1}
	for _, k := range append(status.ManagedKinds(kinds), status.InstanceKinds(kinds)...) {
		want["GET /apis/"+k.Group+"/"+k.Version+"/namespaces/"+ns+"/"+k.Plural] = 1
	}
	got := map[string]int{}
	for _, r := range log.take() {
		got[r]++
	}
	for r, n := range got {
		if want[r] != n {
			t.Errorf("%s: %d requests, want %d", r, n, want[r])
		}
	}
	for r := range want {
		if got[r] == 0 {
			t.Errorf("%s: not requested", r)
		}
	}

	typed, err := status.Collect(ctx, env.Client, kinds, status.Scope{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	typed.Now = snap.Now
	a, _ := json.Marshal(status.BuildSnapshot(*snap))
	b, _ := json.Marshal(status.BuildSnapshot(*typed))
	if string(a) != string(b) {
		t.Errorf("raw lists report\n%s\ntyped lists report\n%s", a, b)
	}
	if !strings.Contains(string(a), `"Queue"`) {
		t.Errorf("the report has no Queue: %s", a)
	}
}
