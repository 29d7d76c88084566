package dashboard_test

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/infraplane/infraplane/internal/ledger"
)

var olderLink = regexp.MustCompile(`<a href="([^"]*)" rel="next">`)

// TestAuditPaging: the timeline comes 100 entries a page, newest first,
// with a link to the older ones; a viewer's pages are made of what they
// may see (another team's entries neither fill nor end a page) and carry
// no entry numbers, which would count what they do not see.
func TestAuditPaging(t *testing.T) {
	kube, teamA, teamB, _ := twoTeams(t, "page")
	tokenA := viewerToken(t, kube, teamA, "pager")
	var entries []ledger.Entry
	for i := range 250 {
		for _, ns := range []string{teamA, teamB} {
			entries = append(entries, ledger.Entry{Type: ledger.TypeCloudWrite, Actor: "controller/Topic",
				Object: ledger.ObjectRef("Topic", ns, fmt.Sprintf("t-%03d", i)), Summary: fmt.Sprintf("updated %s entry-%03d", ns, i)})
		}
	}
	srv := auditServer(t, writeLedger(t, entries))

	// pages follows the older links from path, returning each page.
	pages := func(b *browser, path string) []string {
		var out []string
		for path != "" && len(out) < 10 {
			code, body := b.get(path)
			if code != http.StatusOK {
				t.Fatalf("%s: %d\n%s", path, code, body)
			}
			out = append(out, body)
			path = ""
			if m := olderLink.FindStringSubmatch(body); m != nil {
				path = html.UnescapeString(m[1])
			}
		}
		return out
	}

	admin := adminBrowser(t, srv)
	got := pages(admin, "/audit")
	if len(got) != 5 || rowsIn(got[0]) != 100 || rowsIn(got[4]) != 100 {
		t.Fatalf("admin: %d pages, want 5 of 100 entries", len(got))
	}
	if !strings.Contains(got[0], "#500") || !strings.Contains(got[4], "#1<") {
		t.Error("the admin's pages do not run from #500 down to #1")
	}
	if !strings.Contains(got[1], "Newest entries") {
		t.Error("a later page has no link back to the newest entries")
	}

	viewer := &browser{t: t, base: srv.URL}
	viewer.loginEventually(tokenA)
	got = pages(viewer, "/audit")
	if len(got) != 3 || rowsIn(got[0]) != 100 || rowsIn(got[1]) != 100 || rowsIn(got[2]) != 50 {
		t.Fatalf("viewer: %d pages, want 100, 100 and 50 entries", len(got))
	}
	for i, p := range got {
		if strings.Contains(p, teamB) || regexp.MustCompile(`#\d`).MatchString(p) {
			t.Errorf("viewer's page %d shows %s or entry numbers", i+1, teamB)
		}
	}
	if !strings.Contains(got[0], "entry-249") || !strings.Contains(got[2], "entry-000") || strings.Contains(got[2], "entry-050") {
		t.Error("the viewer's pages do not run from entry-249 down to entry-000")
	}
	// A page link of another process (or made up) is refused plainly.
	if code, body := viewer.get("/audit?before=AAAAAAAAAAAAAAAAAAAAAA"); code != http.StatusBadRequest || !strings.Contains(body, "out of date") {
		t.Errorf("a made-up page link: %d", code)
	}
}
