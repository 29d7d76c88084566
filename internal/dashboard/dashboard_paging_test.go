package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/testenv"
)

// createAll creates objects a few at a time.
func createAll(t testing.TB, objs []client.Object) {
	t.Helper()
	work := make(chan client.Object)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for o := range work {
				if err := env.Client.Create(context.Background(), o); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
}

var (
	nextRe = regexp.MustCompile(`<a href="([^"]*)" rel="next">`)
	prevRe = regexp.MustCompile(`<a href="([^"]*)" rel="prev">`)
)

// rows counts the objects a page shows.
func rows(body string) int { return strings.Count(body, `<div class="node">`) }

// TestNamespacePaging: a namespace of a few hundred objects shows 200 a
// page, with plain links to the next and previous pages; the state and
// name filters narrow the list (and page it too); the live updates'
// fragment of a page is that page; and a team-a viewer paging through
// team-a never sees team-b.
func TestNamespacePaging(t *testing.T) {
	kube, teamA, teamB, _ := twoTeams(t, "page")
	// team-a: 300 Topics and 20 Subscriptions (of a Topic that does not
	// exist); team-b: 250 Topics.
	var objs []client.Object
	for i := range 300 {
		objs = append(objs, topic(teamA, fmt.Sprintf("pg-%03d", i)))
	}
	for i := range 20 {
		objs = append(objs, &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: fmt.Sprintf("waiter-%02d", i)},
			Spec: pubsubv1.SubscriptionSpec{TopicRef: commonv1.ResourceRef{Name: "nowhere"}}})
	}
	for i := range 250 {
		objs = append(objs, topic(teamB, fmt.Sprintf("bravo-%03d", i)))
	}
	createAll(t, objs)
	tokenA := viewerToken(t, kube, teamA, "viewer")

	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	viewer := &browser{t: t, base: srv.URL}
	viewer.loginEventually(tokenA)
	page := func(path string) string {
		t.Helper()
		code, body := viewer.get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, code, body)
		}
		if strings.Contains(body, "bravo") || strings.Contains(body, teamB) {
			t.Errorf("GET %s as a %s viewer shows %s", path, teamA, teamB)
		}
		return body
	}
	link := func(re *regexp.Regexp, body string) string {
		if m := re.FindStringSubmatch(body); m != nil {
			return html.UnescapeString(m[1])
		}
		return ""
	}

	// The tree: Subscriptions first (by kind), then the Topics.
	first := page("/ns/" + teamA)
	if n := rows(first); n != 200 {
		t.Errorf("first page: %d rows, want 200", n)
	}
	if !strings.Contains(first, "Objects 1–200 of 320") || !strings.Contains(first, "page 1 of 2") {
		t.Errorf("first page does not say where it is")
	}
	if !strings.Contains(first, "waiter-00") || !strings.Contains(first, "pg-179") || strings.Contains(first, "pg-180") {
		t.Errorf("first page: want waiter-00 to pg-179, not pg-180")
	}
	if link(prevRe, first) != "" {
		t.Error("first page links to a previous page")
	}
	next := link(nextRe, first)
	if next != "/ns/"+teamA+"?page=2" {
		t.Fatalf("first page's next link: %q", next)
	}
	second := page(next)
	if n := rows(second); n != 120 || !strings.Contains(second, "Objects 201–320 of 320") {
		t.Errorf("second page: %d rows, want 120 (201–320)", n)
	}
	if !strings.Contains(second, "pg-180") || !strings.Contains(second, "pg-299") || strings.Contains(second, "pg-179") {
		t.Errorf("second page: want pg-180 to pg-299 only")
	}
	if link(nextRe, second) != "" || link(prevRe, second) != "/ns/"+teamA {
		t.Errorf("second page: next %q, previous %q; want none and the first page", link(nextRe, second), link(prevRe, second))
	}
	// A live update fetches the page's own URL: the same page.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+next, nil)
	req.Header.Set("X-Fragment", "1")
	if resp, body := viewer.do(req); resp.StatusCode != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, "pg-299") || strings.Contains(body, "pg-000") {
		t.Errorf("fragment of page 2: %d, want the main region of page 2:\n%s", resp.StatusCode, body)
	}
	// A page past the end is the last page.
	if body := page("/ns/" + teamA + "?page=99"); !strings.Contains(body, "Objects 201–320 of 320") {
		t.Error("?page=99 is not the last page")
	}

	// The state filter narrows. Without a ProviderConfig the controllers
	// fail every object for good: once the Subscriptions have failed,
	// none of them waits.
	testenv.Eventually(t, 60*time.Second, func() error {
		if body := page("/ns/" + teamA + "?state=failed&q=waiter"); rows(body) != 20 || !strings.Contains(body, "Objects 1–20 of 20") {
			return fmt.Errorf("?state=failed&q=waiter: %d rows, want the 20 Subscriptions", rows(body))
		}
		return nil
	})
	if body := page("/ns/" + teamA + "?state=waiting&q=waiter"); rows(body) != 0 || !strings.Contains(body, "No objects") {
		t.Errorf("?state=waiting&q=waiter: %d rows, want none:\n%s", rows(body), body)
	}
	// Every row is failed (one badge more: the heading's).
	failed := page("/ns/" + teamA + "?state=failed")
	if n, f := rows(failed), strings.Count(failed, `badge s-failed`)-1; n < 20 || n > 200 || f != n {
		t.Errorf("?state=failed: %d rows, %d failed; want 20 to 200, all failed", n, f)
	}
	// The name filter alone, case aside.
	if body := page("/ns/" + teamA + "?q=PG-01"); rows(body) != 10 || !strings.Contains(body, "pg-010") || !strings.Contains(body, "pg-019") {
		t.Errorf("?q=PG-01: %d rows, want pg-010 to pg-019", rows(body))
	}
	// A filtered list pages too, its links keeping the filter.
	all := page("/ns/" + teamA + "?q=pg-")
	if rows(all) != 200 || link(nextRe, all) != "/ns/"+teamA+"?page=2&q=pg-" {
		t.Errorf("?q=pg-: %d rows, next %q; want 200 and page 2 of the same filter", rows(all), link(nextRe, all))
	}
	if body := page(link(nextRe, all)); rows(body) != 100 || !strings.Contains(body, "pg-299") {
		t.Errorf("?q=pg-&page=2: %d rows, want 100", rows(body))
	}

	// Another team's namespace stays closed, whatever the page.
	for _, p := range []string{"/ns/" + teamB + "?page=2", "/ns/" + teamB + "?state=waiting", "/ns/" + teamB + "?q=bravo"} {
		code, body := viewer.get(p)
		if code != http.StatusForbidden || strings.Contains(body, "bravo-") {
			t.Errorf("GET %s as a %s viewer: %d, want 403 without its objects", p, teamA, code)
		}
	}
}
