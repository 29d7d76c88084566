package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/ledger"
)

// writeLedger appends entries to a new ledger file and returns its path.
func writeLedger(t testing.TB, entries []ledger.Entry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger")
	l, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, e := range entries {
		if _, err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// auditServer serves a dashboard reading the ledger at path.
func auditServer(t testing.TB, path string) *httptest.Server {
	t.Helper()
	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config(), Ledger: path})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func adminBrowser(t *testing.T, srv *httptest.Server) *browser {
	t.Helper()
	b := &browser{t: t, base: srv.URL}
	if code, _ := b.get("/login?token=" + adminToken); code != http.StatusSeeOther {
		t.Fatalf("admin login: %d", code)
	}
	return b
}

// rowsIn counts the timeline's entries in a page.
func rowsIn(body string) int { return strings.Count(body, `<tr class="entry">`) }

// TestAuditRBAC: each person sees only the ledger entries, and the parts
// of entries, about namespaces they may read; a filter naming what they
// may not read answers as one that matches nothing.
func TestAuditRBAC(t *testing.T) {
	kube, teamA, teamB, _ := twoTeams(t, "audit")
	env.Create(t, topic(teamA, "alpha-orders"))
	env.Create(t, &corev1alpha1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "alpha-apps"}, Spec: corev1alpha1.GitSourceSpec{URL: "https://git.example/alpha"}})
	tokenA := viewerToken(t, kube, teamA, "auditor")

	path := writeLedger(t, []ledger.Entry{
		{Type: ledger.TypeCloudWrite, Actor: "controller/Topic", Object: "Topic " + teamA + "/alpha-orders", Summary: "created alpha-orders-cloud",
			Details: map[string]string{"operation": "create", "resource": "projects/p/topics/alpha-orders"}},
		{Type: ledger.TypeCloudWrite, Actor: "controller/Topic", Object: "Topic " + teamB + "/bravo-secret", Summary: "created bravo-secret-cloud"},
		{Type: ledger.TypeSync, Actor: "syncer", Object: "GitSource " + teamA + "/alpha-apps", Summary: "applied main@abc1234: 2 created, 0 configured, 1 pruned",
			Revision: "main@sha1:abc1234def5678", Author: "Ada <ada@example.com>",
			Objects: []string{"created Topic/" + teamA + "/alpha-orders", "created Topic/" + teamB + "/bravo-crossed", "pruned Topic/bravo-pruned"}},
		{Type: ledger.TypeDirectEdit, Actor: "alice", Object: "Topic " + teamA + "/alpha-orders", Summary: "patched spec.labels",
			BreakGlass: teamA + "/alpha-bg", Fields: []string{"spec.labels"},
			Details: map[string]string{"verb": "patch", "otherNote": "see Topic " + teamB + "/bravo-detail"}},
		{Type: ledger.TypeBreakGlassOpen, Actor: "bob", Object: "BreakGlass " + teamB + "/bravo-bg", BreakGlass: teamB + "/bravo-bg",
			Summary: "opened for 1h on Topic/bravo-secret", Reason: "bravo incident", Objects: []string{"Topic/bravo-secret"}},
		{Type: ledger.TypeDirectEdit, Actor: "platform-admin", Object: "ProviderConfig clusterwide-pc", Summary: "updated spec.project"},
		{Type: ledger.TypeLedgerKey, Actor: "infraplane", Summary: "signing with key k-rotated-7", Details: map[string]string{"signer": "k-rotated-7"}},
		{Type: ledger.TypeSync, Actor: "syncer", Object: "GitSource " + teamB + "/bravo-apps", Summary: "applied main@fff0000: 1 created",
			Revision: "main@sha1:fff0000aaa", Objects: []string{"created Topic/" + teamB + "/bravo-secret"}},
	})
	srv := auditServer(t, path)

	t.Run("admin sees everything", func(t *testing.T) {
		b := adminBrowser(t, srv)
		code, body := b.get("/audit")
		if code != http.StatusOK {
			t.Fatalf("/audit: %d\n%s", code, body)
		}
		if n := rowsIn(body); n != 8 {
			t.Errorf("admin's timeline: %d entries, want 8", n)
		}
		for _, want := range []string{"bravo-secret-cloud", "bravo-crossed", "bravo-pruned", "bravo incident", "ProviderConfig clusterwide-pc", "signing with key k-rotated-7", "bravo-detail", "main@sha1:abc1234def5678"} {
			if !strings.Contains(body, want) {
				t.Errorf("admin's timeline lacks %q", want)
			}
		}
		// Newest first.
		if strings.Index(body, "signing with key") > strings.Index(body, "created alpha-orders-cloud") {
			t.Error("the timeline is not newest first")
		}
	})

	viewer := &browser{t: t, base: srv.URL}
	viewer.loginEventually(tokenA)

	t.Run("team-a viewer sees team-a only", func(t *testing.T) {
		code, body := viewer.get("/audit")
		if code != http.StatusOK {
			t.Fatalf("/audit: %d\n%s", code, body)
		}
		if n := rowsIn(body); n != 3 {
			t.Errorf("viewer's timeline: %d entries, want 3 (cloud write, sync, direct edit of %s)\n%s", n, teamA, body)
		}
		for _, want := range []string{"created alpha-orders-cloud", "GitSource " + teamA + "/alpha-apps", "patched spec.labels", teamA + "/alpha-bg", "projects/p/topics/alpha-orders", "shown only to those who may read every namespace"} {
			if !strings.Contains(body, want) {
				t.Errorf("viewer's timeline lacks %q", want)
			}
		}
		for _, leak := range []string{teamB, "bravo", "ProviderConfig", "clusterwide-pc", "k-rotated-7"} {
			if strings.Contains(body, leak) {
				t.Errorf("a %s viewer's timeline shows %q:\n%s", teamA, leak, body)
			}
		}
		// The sync's own object of team-a is listed and linked.
		if !strings.Contains(body, `href="/o/`+teamA+`/topic/alpha-orders"`) {
			t.Error("the sync's team-a object is not linked to its page")
		}
	})

	t.Run("filters naming what the viewer may not read match nothing", func(t *testing.T) {
		for _, q := range []struct{ param, hidden, none string }{
			{"object", "Topic " + teamB + "/bravo-secret", "Topic " + teamB + "/no-such-zz"},
			{"object", "Topic " + teamB + "/bravo-crossed", "Topic " + teamB + "/no-such-zz"},
			{"object", "Topic/bravo", "Topic/no-such-zz"},
			{"breakglass", teamB + "/bravo-bg", teamB + "/no-such-zz"},
			{"source", teamB + "/bravo-apps", teamB + "/no-such-zz"},
			{"actor", "bob", "no-such-zz"},
			{"type", "ledger-key", "breakglass-expire"},
		} {
			code, hidden := viewer.get("/audit?" + url.Values{q.param: {q.hidden}}.Encode())
			if code != http.StatusOK || rowsIn(hidden) != 0 || !strings.Contains(hidden, "No entries match.") {
				t.Errorf("%s=%s as a %s viewer: %d, %d entries, want an empty timeline", q.param, q.hidden, teamA, code, rowsIn(hidden))
			}
			if q.param == "type" {
				continue // a choice of the form, not echoed text
			}
			_, none := viewer.get("/audit?" + url.Values{q.param: {q.none}}.Encode())
			// The same page but for the query, which the form shows.
			if a, b := strings.ReplaceAll(hidden, q.hidden, "Q"), strings.ReplaceAll(none, q.none, "Q"); a != b {
				t.Errorf("%s=%s answers otherwise than a filter matching nothing", q.param, q.hidden)
			}
		}
		// The viewer's own object finds its entries, the sync among them.
		_, body := viewer.get("/audit?" + url.Values{"object": {"Topic " + teamA + "/alpha-orders"}}.Encode())
		if n := rowsIn(body); n != 3 {
			t.Errorf("object=Topic %s/alpha-orders: %d entries, want 3 (cloud write, sync, direct edit)", teamA, n)
		}
		_, body = viewer.get("/audit?type=sync")
		if n := rowsIn(body); n != 1 || !strings.Contains(body, "alpha-apps") {
			t.Errorf("type=sync: %d entries, want team-a's sync", n)
		}
		_, body = viewer.get("/audit?" + url.Values{"breakglass": {teamA + "/alpha-bg"}}.Encode())
		if n := rowsIn(body); n != 1 || !strings.Contains(body, "patched spec.labels") {
			t.Errorf("breakglass=%s/alpha-bg: %d entries, want the edit under it", teamA, n)
		}
	})

	t.Run("object page history", func(t *testing.T) {
		code, body := viewer.get("/o/" + teamA + "/topic.pubsub.infraplane.dev/alpha-orders")
		if code != http.StatusOK {
			t.Fatalf("object page: %d\n%s", code, body)
		}
		for _, want := range []string{"History", "created alpha-orders-cloud", "patched spec.labels", "alpha-apps", `href="/audit?object=Topic&#43;` + teamA + `%2Falpha-orders"`} {
			if !strings.Contains(body, want) {
				t.Errorf("object page lacks %q", want)
			}
		}
		if strings.Contains(body, "bravo") {
			t.Errorf("the object page's history shows team-b:\n%s", body)
		}
		code, body = viewer.get("/o/" + teamA + "/gitsource/alpha-apps")
		if code != http.StatusOK || !strings.Contains(body, "applied main@abc1234") || strings.Contains(body, "bravo") {
			t.Errorf("GitSource page: %d, want its sync and nothing of team-b\n%s", code, body)
		}
	})
}

// TestAuditNoLedger: without a ledger the page says so.
func TestAuditNoLedger(t *testing.T) {
	srv := auditServer(t, "")
	b := adminBrowser(t, srv)
	code, body := b.get("/audit")
	if code != http.StatusOK || !strings.Contains(body, "No audit ledger is configured") {
		t.Errorf("/audit without a ledger: %d\n%s", code, body)
	}
	// A ledger file not written yet is an empty timeline.
	srv = auditServer(t, filepath.Join(t.TempDir(), "ledger"))
	b = adminBrowser(t, srv)
	code, body = b.get("/audit")
	if code != http.StatusOK || !strings.Contains(body, "No entries match.") {
		t.Errorf("/audit before the first entry: %d\n%s", code, body)
	}
}
