package dashboard

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infraplane/infraplane/internal/ledger"
)

// TestAuditSee: what a person of some namespaces, and one of all, may see
// of each kind of entry.
func TestAuditSee(t *testing.T) {
	teamA := &scope{namespaces: []string{"team-a"}}
	all := &scope{all: true}
	none := &scope{}
	for _, c := range []struct {
		name         string
		e            ledger.Entry
		a, all, none bool
		objectsA     []string // the objects team-a sees
	}{
		{name: "a team-a object", e: ledger.Entry{Type: ledger.TypeCloudWrite, Object: "Topic team-a/x"}, a: true, all: true},
		{name: "a team-b object", e: ledger.Entry{Type: ledger.TypeCloudWrite, Object: "Topic team-b/x"}, all: true},
		{name: "a cluster-scoped object", e: ledger.Entry{Type: ledger.TypeDirectEdit, Object: "ProviderConfig default"}, all: true},
		{name: "no object", e: ledger.Entry{Type: ledger.TypeLedgerKey}, all: true},
		{name: "an object not parsed", e: ledger.Entry{Type: ledger.TypeDirectEdit, Object: "nonsense"}, all: true},
		{name: "a sync of team-a naming team-b, unknown and cluster-scoped objects", e: ledger.Entry{Type: ledger.TypeSync, Object: "GitSource team-a/apps",
			Objects: []string{"created Topic/team-a/x", "configured Topic/team-b/y", "pruned Topic/old", "released Blueprint//bp"}}, a: true, all: true, objectsA: []string{"Topic/team-a/x"}},
		{name: "a sync of team-b naming team-a", e: ledger.Entry{Type: ledger.TypeSync, Object: "GitSource team-b/apps", Objects: []string{"created Topic/team-a/x"}}, all: true},
		{name: "a break-glass of team-a", e: ledger.Entry{Type: ledger.TypeBreakGlassRevert, Object: "BreakGlass team-a/bg", BreakGlass: "team-a/bg",
			Objects: []string{"Topic/x", "Topic/y Returned"}}, a: true, all: true, objectsA: []string{"Topic/x", "Topic/y Returned"}},
		{name: "a break-glass of team-b", e: ledger.Entry{Type: ledger.TypeBreakGlassOpen, Object: "BreakGlass team-b/bg", BreakGlass: "team-b/bg", Objects: []string{"Topic/x"}}, all: true},
		{name: "a team-a object edited under a team-b break-glass", e: ledger.Entry{Type: ledger.TypeDirectEdit, Object: "Topic team-a/x", BreakGlass: "team-b/bg"}, all: true},
		{name: "a team-b object edited under a team-a break-glass", e: ledger.Entry{Type: ledger.TypeDirectEdit, Object: "Topic team-b/x", BreakGlass: "team-a/bg"}, all: true},
		{name: "a break-glass without a namespace", e: ledger.Entry{Type: ledger.TypeBreakGlassOpen, BreakGlass: "bg"}, all: true},
	} {
		for _, p := range []struct {
			who  string
			sc   *scope
			want bool
		}{{"team-a", teamA, c.a}, {"all", all, c.all}, {"none", none, c.none}} {
			row, _, ok := see(c.e, p.sc)
			if ok != p.want {
				t.Errorf("%s, seen by %s: %v, want %v", c.name, p.who, ok, p.want)
				continue
			}
			if ok && p.who == "team-a" {
				var got []string
				for _, o := range row.Objects {
					got = append(got, o.Text)
				}
				if strings.Join(got, ",") != strings.Join(c.objectsA, ",") {
					t.Errorf("%s: team-a sees objects %q, want %q", c.name, got, c.objectsA)
				}
			}
			if ok && p.who == "all" && len(row.Objects) != len(c.e.Objects) {
				t.Errorf("%s: all sees %d objects, want %d", c.name, len(row.Objects), len(c.e.Objects))
			}
		}
	}

	e := ledger.Entry{Seq: 7, Type: ledger.TypeCloudWrite, Object: "Topic team-a/x", Details: map[string]string{"operation": "update", "intent": "6", "newKey": "Topic team-b/y"}}
	row, _, _ := see(e, teamA)
	if len(row.Details) != 1 || row.Details[0].Key != "operation" || row.Withheld != 2 || row.Seq != 0 {
		t.Errorf("team-a sees details %v (%d withheld), seq %d; want operation only, 2 withheld, no seq", row.Details, row.Withheld, row.Seq)
	}
	row, _, _ = see(e, all)
	if len(row.Details) != 3 || row.Withheld != 0 || row.Seq != 7 {
		t.Errorf("all sees details %v (%d withheld), seq %d; want all 3, seq 7", row.Details, row.Withheld, row.Seq)
	}
}

// TestAuditQuery: a filter matches what the person sees of an entry, not
// the entry: a sync matches its object only if the person sees it there.
func TestAuditQuery(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	sync := ledger.Entry{Seq: 1, Time: now, Type: ledger.TypeSync, Actor: "syncer", Object: "GitSource team-a/apps", Revision: "main@sha1:abcdef1",
		Objects: []string{"created Topic/team-a/x", "configured Topic/team-b/y"}}
	for _, c := range []struct {
		query    string
		a, all   bool
		parseErr bool
	}{
		{query: "object=Topic+team-a/x", a: true, all: true},
		{query: "object=Topic+team-b/y", all: true},
		{query: "object=Topic/y", all: true},
		{query: "object=Topic", a: true, all: true},
		{query: "source=team-a/apps&revision=abcdef", a: true, all: true},
		{query: "source=team-b/apps"},
		{query: "type=sync&actor=syncer&since=2026-12-07", a: true, all: true},
		{query: "since=2026-12-08"},
		{query: "since=1h", a: true, all: true},
		{query: "type=nonsense", parseErr: true},
		{query: "since=yesterday", parseErr: true},
	} {
		v, _ := url.ParseQuery(c.query)
		q, err := parseAuditQuery(v, now.Add(time.Minute))
		if (err != nil) != c.parseErr {
			t.Errorf("%s: %v", c.query, err)
			continue
		}
		if c.parseErr {
			continue
		}
		_, shownA, _ := see(sync, &scope{namespaces: []string{"team-a"}})
		_, shownAll, _ := see(sync, &scope{all: true})
		if got := q.match(shownA); got != c.a {
			t.Errorf("%s as team-a: %v, want %v", c.query, got, c.a)
		}
		if got := q.match(shownAll); got != c.all {
			t.Errorf("%s as all: %v, want %v", c.query, got, c.all)
		}
	}
	if seq, ok := openCursor(sealCursor(12345)); !ok || seq != 12345 {
		t.Errorf("cursor: %d %v", seq, ok)
	}
}

// TestLedgerCache: the cache reads what was appended since, and keeps the
// newest maxCached entries.
func TestLedgerCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger")
	c := &ledgerCache{loc: path}
	if _, err := c.load(t.Context()); err != errNoLedger {
		t.Fatalf("no file yet: %v", err)
	}
	l, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	add := func(n int) {
		for range n {
			if _, err := l.Append(context.Background(), ledger.Entry{Type: ledger.TypeCloudWrite, Actor: "a", Summary: "s"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer func(m int) { maxCached = m }(maxCached)
	maxCached = 10
	add(5)
	got, err := c.load(t.Context())
	if err != nil || len(got) != 5 {
		t.Fatalf("%d entries, %v; want 5", len(got), err)
	}
	add(7)
	got, _ = c.load(t.Context())
	if len(got) != 10 || got[0].Seq != 3 || got[9].Seq != 12 || !c.dropped {
		t.Fatalf("%d entries from %d, dropped %v; want the newest 10", len(got), got[0].Seq, c.dropped)
	}
}
