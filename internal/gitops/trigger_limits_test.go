package gitops_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/infraplane/infraplane/internal/gitops"
)

// Nobody can spend another team's budget: with every other limit used up
// (garbage on unknown paths, team-b flooding its own path, anyone flooding
// the shared /hooks/git), team-a's push on its own path still syncs. Its
// own path has a budget of its own, which only callers who know the path
// can use up.
func TestPushHookFloodsDoNotStarveOtherPaths(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	b := newHookTenant(t, "team-b-infra")
	// Budgets that do not refill during the test: counts, not timing.
	never := rate.Every(time.Hour)
	url, secretGets := pathHookServer(t, gitops.HookOptions{
		Rate: never, Burst: 3, SourceRate: never, SourceBurst: 3, FailureRate: never, FailureBurst: 3,
	})
	pathA, pathB := a.hookPath(t), b.hookPath(t)
	before := hookSnapshot(t, a.gs)
	notFound0, tooMany0 := hookRequests(t, "source", "404"), hookRequests(t, "source", "429")

	// flood sends requests until one is answered 429, and returns how many
	// were answered otherwise (the budget the flood used up).
	flood := func(what string, send func() hookAnswer) int {
		t.Helper()
		for n := 0; n < 20; n++ {
			got := send()
			if got.status == http.StatusTooManyRequests {
				if got.header.Get("Retry-After") == "" {
					t.Errorf("%s: 429 without Retry-After", what)
				}
				return n
			}
		}
		t.Fatalf("%s: 20 requests and no 429", what)
		return 0
	}
	garbage := gitops.HookPathPrefix + strings.Repeat("0", 64)
	if n := flood("unknown paths", func() hookAnswer { return hookPost(t, url+garbage, "{}", hookSigned("guess", "{}")) }); n != 3 {
		t.Errorf("unknown paths: %d answered before 429, want the failure burst, 3", n)
	}
	if n := secretGets.Load(); n != 0 {
		t.Errorf("the garbage read %d Secrets", n)
	}
	// What an operator sees of it (other tests of this binary may add to
	// the counters meanwhile: at least).
	if d := hookRequests(t, "source", "404") - notFound0; d < 3 {
		t.Errorf("infraplane_gitops_hook_requests_total{endpoint=source,code=404} grew by %v, want ≥ 3", d)
	}
	if d := hookRequests(t, "source", "429") - tooMany0; d < 1 {
		t.Errorf("infraplane_gitops_hook_requests_total{endpoint=source,code=429} grew by %v, want ≥ 1", d)
	}
	bodyB := githubPush(b.repo)
	if n := flood("team-b's path", func() hookAnswer { return hookPost(t, url+pathB, bodyB, hookSigned(b.token, bodyB)) }); n != 3 {
		t.Errorf("team-b's path: %d answered before 429, want the per-path burst, 3", n)
	}
	if n := flood("the shared endpoint", func() hookAnswer { return hookPost(t, url, bodyB, hookSigned("guess", bodyB)) }); n != 3 {
		t.Errorf("shared endpoint: %d answered before 429, want its burst, 3", n)
	}
	hookUntouched(t, before, a.gs)

	body := githubPush(a.repo)
	if got := hookPost(t, url+pathA, body, hookSigned(a.token, body)); got.status != http.StatusOK || !reflect.DeepEqual(got.triggered(t), []string{a.key()}) {
		t.Fatalf("team-a on its own path after the floods: %d %q, want 200 and [%s]", got.status, got.body, a.key())
	}
	// Bad signatures on team-a's path (someone who knows it) use team-a's
	// budget: that is all they can reach.
	hookRefused(t, "bad signature on team-a's path", hookPost(t, url+pathA, body, hookSigned("guess", body)), a)
	if got := hookPost(t, url+pathA, body, hookSigned(a.token, body)); got.status != http.StatusOK {
		t.Fatalf("team-a's third request: %d %q, want 200", got.status, got.body)
	}
	if got := hookPost(t, url+pathA, body, hookSigned(a.token, body)); got.status != http.StatusTooManyRequests {
		t.Errorf("team-a's path above its burst: %d %q, want 429", got.status, got.body)
	}
}

// hookRequests reads the hook's request counter from the controllers'
// metrics registry.
func hookRequests(t *testing.T, endpoint, code string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "infraplane_gitops_hook_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["endpoint"] == endpoint && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
