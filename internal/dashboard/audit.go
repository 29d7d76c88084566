package dashboard

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infraplane/infraplane/internal/ledger"
)

// The audit ledger is not a Kubernetes object: the dashboard reads it
// with its own access and shows each person only the entries, and the
// parts of entries, about namespaces they may read (docs/dashboard.md,
// "Who you are, and what you see"):
//
//   - an entry about a namespaced object (its Object, or for a
//     break-glass entry the break-glass) is shown only if the person may
//     read that namespace (the session's scope);
//   - of the objects an entry lists (a sync's, a break-glass's), only
//     those in namespaces the person may read are shown; one whose
//     namespace is not known (an older sync's "pruned Kind/name") or that
//     is cluster-scoped only to people who may read everything;
//   - entries about cluster-scoped objects (ProviderConfig, Blueprint) and
//     entries about no object (ledger-key) only to people who may read
//     everything (scope.all);
//   - Details: all of them for people who may read everything; for others
//     only the keys infraplane's writers fill with facts of the entry's
//     own object (detailsShown), the rest are withheld.
//
// Filters apply to what a person may see of an entry, after it was cut
// down: a filter that names an object of a namespace they may not read
// matches nothing, the same as one that names no object at all.

// auditPageSize is the number of entries per audit page; historySize the
// number an object page shows.
const (
	auditPageSize = 100
	historySize   = 20
)

// detailsShown are the Details keys shown to people who may read some
// namespaces only: each holds a fact of the entry's own object (or
// break-glass). A key not listed here is withheld from them.
var detailsShown = map[string]bool{
	"verb": true, "userAgent": true, "fieldManager": true, "recordedAt": true, "resourceVersion": true,
	"operation": true, "cause": true, "resource": true,
	"expiresAt": true, "incident": true, "fluxReconcileDisabled": true, "branch": true, "commit": true,
	"redacted": true,
}

// ledgerCache keeps the ledger's entries between requests. Of a file only
// what was appended since the last request is read (it is append-only); a
// database is asked at most every dbRefresh, for the entries since the
// last one read.
type ledgerCache struct {
	loc string

	mu      sync.Mutex
	entries []ledger.Entry // oldest first; never changed in place, only appended to
	file    os.FileInfo    // the file read, and how far
	offset  int64
	readAt  time.Time
	dropped bool // older entries were let go (maxCached)
}

// maxCached bounds the entries kept: the newest ones. Older ones are read
// with `infraplane audit`.
var maxCached = 100_000

// keep lets go of the oldest entries beyond maxCached, a tenth more at a
// time so that not every request copies.
func (c *ledgerCache) keep() {
	if len(c.entries) > maxCached+maxCached/10 {
		c.entries = slices.Clone(c.entries[len(c.entries)-maxCached:])
		c.dropped = true
	}
}

const dbRefresh = 5 * time.Second

// errNoLedger: the ledger's file does not exist (yet).
var errNoLedger = errors.New("the audit ledger has no entries yet")

func (c *ledgerCache) load(ctx context.Context) ([]ledger.Entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ledger.IsDatabase(c.loc) {
		if c.readAt.IsZero() || time.Since(c.readAt) >= dbRefresh {
			var f ledger.Filter
			var last uint64
			if n := len(c.entries); n > 0 {
				f.Since, last = c.entries[n-1].Time, c.entries[n-1].Seq
			}
			got, err := ledger.ReadLocation(ctx, c.loc, f)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, errNoLedger
			}
			if err != nil {
				return nil, err
			}
			for _, e := range got {
				if e.Seq > last {
					c.entries = append(c.entries, e)
				}
			}
			c.readAt = time.Now()
			c.keep()
		}
		return c.entries, nil
	}
	st, err := os.Stat(c.loc)
	if errors.Is(err, fs.ErrNotExist) {
		c.entries, c.file = nil, nil
		return nil, errNoLedger
	}
	if err != nil {
		return nil, err
	}
	if c.file == nil || !os.SameFile(st, c.file) || st.Size() < c.offset {
		// First read, or another file (a restored backup): from the start.
		c.entries, c.offset, c.file, c.dropped = []ledger.Entry{}, 0, st, false
	}
	if st.Size() > c.offset {
		got, off, err := ledger.ReadFrom(c.loc, c.offset, ledger.Filter{})
		if err != nil {
			return nil, err
		}
		c.entries, c.offset = append(c.entries, got...), off
		c.keep()
	}
	return c.entries, nil
}

func (c *ledgerCache) isDropped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// syncVerbs begin a sync's Objects.
var syncVerbs = []string{"created", "configured", "pruned", "released"}

// auditRef is one object an entry names, as a page shows it.
type auditRef struct {
	Verb string // created, configured, pruned, released (a sync's)
	Text string
	URL  string // its object page, when it has one
}

type auditDetail struct{ Key, Value string }

// auditRow is one entry as a person may see it.
type auditRow struct {
	seq uint64 // for the next page's cursor
	// Seq is the entry's number, for those who see every entry: to others
	// the gaps between numbers would tell how much they do not see.
	Seq                       uint64
	Time                      time.Time
	Type, Actor               string
	Object                    *auditRef
	Objects                   []auditRef
	Summary, Reason, Error    string
	Revision, Author          string
	BreakGlass, BreakGlassURL string
	Fields                    []string
	Details                   []auditDetail
	Withheld                  int // details withheld
}

// ref is an object reference taken apart; namespace is "" for a
// cluster-scoped object, and for a sync's pruned object in entries
// written before they carried their namespace.
type ref struct{ kind, namespace, name string }

// parseObject reads an Entry.Object: "Kind ns/name" or "Kind name".
func parseObject(s string) (ref, bool) {
	kind, rest, ok := strings.Cut(s, " ")
	if !ok || kind == "" || rest == "" {
		return ref{}, false
	}
	ns, name, ok := strings.Cut(rest, "/")
	if !ok {
		return ref{kind: kind, name: rest}, true
	}
	return ref{kind: kind, namespace: ns, name: name}, true
}

func (r ref) String() string { return ledger.ObjectRef(r.kind, r.namespace, r.name) }

// url is the page of r: a break-glass's own page, or the object page of
// the other namespaced kinds.
func (r ref) url() string {
	if r.namespace == "" {
		return ""
	}
	if strings.EqualFold(r.kind, "BreakGlass") {
		return bgURL(r.namespace, r.name)
	}
	return "/o/" + url.PathEscape(r.namespace) + "/" + url.PathEscape(strings.ToLower(r.kind)) + "/" + url.PathEscape(r.name)
}

func (sc *scope) reads(ns string) bool {
	if sc.all {
		return true
	}
	return ns != "" && slices.Contains(sc.namespaces, ns)
}

// see cuts e down to what a person of scope sc may see of it: the row to
// show, and an entry holding only what is shown, for filters to match. ok
// is false when they may see nothing of it.
func see(e ledger.Entry, sc *scope) (row auditRow, shown ledger.Entry, ok bool) {
	var obj ref
	hasObj := false
	if e.Object != "" {
		if obj, hasObj = parseObject(e.Object); !hasObj && !sc.all {
			return auditRow{}, ledger.Entry{}, false
		}
	}
	// The entry's own namespace: its break-glass's, else its object's;
	// none (cluster-wide readers only) for cluster-scoped objects and
	// entries about no object.
	home := ""
	if e.BreakGlass != "" {
		ns, _, found := strings.Cut(e.BreakGlass, "/")
		if !found {
			ns = ""
		}
		home = ns
	} else if hasObj {
		home = obj.namespace
	}
	if !sc.reads(home) || (hasObj && obj.namespace != home && !sc.reads(obj.namespace)) {
		return auditRow{}, ledger.Entry{}, false
	}
	if home == "" && !sc.all {
		return auditRow{}, ledger.Entry{}, false
	}
	row = auditRow{
		seq: e.Seq, Time: e.Time, Type: string(e.Type), Actor: e.Actor,
		Summary: e.Summary, Reason: e.Reason, Error: e.Error, Revision: e.Revision, Author: e.Author,
		BreakGlass: e.BreakGlass, Fields: e.Fields,
	}
	shown = ledger.Entry{Seq: e.Seq, Time: e.Time, Type: e.Type, Actor: e.Actor, Object: e.Object, Revision: e.Revision, BreakGlass: e.BreakGlass}
	if sc.all {
		row.Seq = e.Seq
	}
	if e.BreakGlass != "" {
		row.BreakGlassURL = "/audit?" + url.Values{"breakglass": {e.BreakGlass}}.Encode()
	}
	if hasObj {
		row.Object = &auditRef{Text: e.Object, URL: obj.url()}
	} else if e.Object != "" {
		row.Object = &auditRef{Text: e.Object}
	}
	for _, o := range e.Objects {
		var r ref
		var verb, text string
		switch {
		case e.Type == ledger.TypeSync:
			// "created Kind/ns/name": the verb, then the object.
			r, _ = parseObject(ledger.ListedObject(o))
			text = o
			if v, rest, found := strings.Cut(o, " "); found && slices.Contains(syncVerbs, v) {
				verb, text = v, rest
			}
		case e.BreakGlass != "":
			// "Kind/name", or "Kind/name State": the break-glass's
			// targets, in its namespace.
			if r, _ = parseObject(ledger.ListedObject(o)); r.kind != "" {
				r.namespace = home
			}
			text = o
		default:
			r, _ = parseObject(o)
			text = o
		}
		visible := sc.all
		if !visible && r.namespace != "" {
			visible = sc.reads(r.namespace)
		}
		if !visible {
			continue
		}
		row.Objects = append(row.Objects, auditRef{Verb: verb, Text: text, URL: r.url()})
		if r.kind != "" {
			shown.Objects = append(shown.Objects, r.String())
		}
	}
	for _, k := range sortedKeys(e.Details) {
		if sc.all || detailsShown[k] {
			row.Details = append(row.Details, auditDetail{k, e.Details[k]})
		} else {
			row.Withheld++
		}
	}
	return row, shown, true
}

// cursorBlock seals the seq a next page starts below: a person sees no
// entry numbers (see auditRow.Seq), nor in the links. The key is made
// per process; a link of an earlier one is refused.
var cursorBlock = sync.OnceValue(func() cipher.Block {
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	return b
})

func sealCursor(seq uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[8:], seq)
	cursorBlock().Encrypt(b[:], b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func openCursor(s string) (uint64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return 0, false
	}
	cursorBlock().Decrypt(b, b)
	if binary.BigEndian.Uint64(b[:8]) != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[8:]), true
}

// auditQuery is what the audit page's form asks for.
type auditQuery struct {
	Object, Actor, BreakGlass, Source, Revision, Type, Since string
	// Paged is true on a page after the first.
	Paged  bool
	before uint64 // entries below this seq
	filter ledger.Filter
}

func (q auditQuery) Values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"object": q.Object, "actor": q.Actor, "breakglass": q.BreakGlass, "source": q.Source, "revision": q.Revision, "type": q.Type, "since": q.Since} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func parseAuditQuery(v url.Values, now time.Time) (auditQuery, error) {
	q := auditQuery{
		Object: strings.TrimSpace(v.Get("object")), Actor: strings.TrimSpace(v.Get("actor")),
		BreakGlass: strings.TrimSpace(v.Get("breakglass")), Source: strings.TrimSpace(v.Get("source")),
		Revision: strings.TrimSpace(v.Get("revision")), Type: strings.TrimSpace(v.Get("type")), Since: strings.TrimSpace(v.Get("since")),
	}
	q.filter = ledger.Filter{Object: q.Object, Actor: q.Actor, BreakGlass: q.BreakGlass}
	var errs []string
	if q.Type != "" {
		t, err := ledger.ParseType(q.Type)
		if err != nil {
			errs = append(errs, err.Error())
		}
		q.filter.Type = t
	}
	if q.Since != "" {
		t, err := parseSince(q.Since, now)
		if err != nil {
			errs = append(errs, err.Error())
		}
		q.filter.Since = t
	}
	if b := v.Get("before"); b != "" {
		n, ok := openCursor(b)
		if !ok {
			errs = append(errs, "this page's link is out of date (the dashboard restarted): start from the newest entries")
		}
		q.before, q.Paged = n, ok
	}
	if len(errs) > 0 {
		return q, errors.New(strings.Join(errs, "; "))
	}
	return q, nil
}

// parseSince reads a time ("2026-12-01", "2026-12-01T15:04" as a browser's
// datetime-local gives it, RFC 3339, all UTC unless they say otherwise) or
// an age ("90m", "24h", "7d").
func parseSince(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since %q: a date (2026-12-01), a time (2026-12-01T15:04, UTC) or an age (24h, 7d)", s)
}

// match reports whether what a person may see of an entry passes q.
func (q auditQuery) match(shown ledger.Entry) bool {
	if !q.filter.Match(shown) {
		return false
	}
	if q.Source != "" && shown.Object != "GitSource "+q.Source {
		return false
	}
	if q.Revision != "" && !strings.Contains(shown.Revision, q.Revision) {
		return false
	}
	return true
}

// timeline is one page of what a person may see, newest first.
type timeline struct {
	Rows []auditRow
	// Older is the link to the next page, "" on the last.
	Older string
	// Dropped is true when the dashboard let older entries go.
	Dropped bool
}

// page walks entries newest first (below q.before) and keeps the first n
// the person may see that pass q. Each entry is cut down before it is
// matched and counted: what is left out leaves no trace in the page.
func page(entries []ledger.Entry, sc *scope, q auditQuery, n int) (rows []auditRow, more bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if q.before != 0 && e.Seq >= q.before {
			continue
		}
		if !q.filter.Since.IsZero() && e.Time.Before(q.filter.Since) {
			continue // not break: a clock set back puts older times after newer ones
		}
		row, shown, ok := see(e, sc)
		if !ok || !q.match(shown) {
			continue
		}
		if len(rows) == n {
			return rows, true
		}
		rows = append(rows, row)
	}
	return rows, false
}

type auditData struct {
	// Configured is false when the dashboard has no ledger.
	Configured bool
	// Problem is why the ledger could not be read, or what is wrong with
	// the query.
	Problem  string
	Query    auditQuery
	Types    []ledger.Type
	Timeline timeline
	All      bool // the person sees every namespace
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request) {
	ss, sc := h.pageSession(w, r)
	if ss == nil {
		return
	}
	ctx := r.Context()
	d := &auditData{Configured: h.ledger != nil, Types: ledger.Types, All: sc.all}
	q, qerr := parseAuditQuery(r.URL.Query(), time.Now())
	d.Query = q
	code := http.StatusOK
	switch {
	case !d.Configured:
	case qerr != nil:
		d.Problem, code = qerr.Error(), http.StatusBadRequest
	default:
		entries, err := h.ledger.load(ctx)
		switch {
		case errors.Is(err, errNoLedger):
		case err != nil:
			h.log.Error("dashboard: reading the audit ledger", "err", err) // the ledger redacts a database URL's password
			d.Problem, code = "The audit ledger could not be read; the dashboard's log says why.", http.StatusBadGateway
		default:
			rows, more := page(entries, sc, q, auditPageSize)
			d.Timeline.Rows, d.Timeline.Dropped = rows, !more && h.ledger.isDropped()
			if more {
				v := q.Values()
				v.Set("before", sealCursor(rows[len(rows)-1].seq))
				d.Timeline.Older = "/audit?" + v.Encode()
			}
		}
	}
	if code != http.StatusOK {
		w.WriteHeader(code)
	}
	h.render(w, r, "audit", pageData{Title: "Audit", Person: &ss.person, Audit: d})
}

// historyData is an object's last entries on its page.
type historyData struct {
	Configured bool
	Problem    string
	Rows       []auditRow
	// More links to the audit page of the object.
	More string
}

// history is the last historySize entries about an object the person may
// see (for a GitSource: its syncs).
func (h *Handler) history(ctx context.Context, ss *session, kind, ns, name string) *historyData {
	d := &historyData{Configured: h.ledger != nil}
	if h.ledger == nil {
		return d
	}
	sc, err := h.scopeOf(ctx, ss)
	if err != nil {
		d.Problem = "Your access could not be checked: " + err.Error()
		return d
	}
	entries, err := h.ledger.load(ctx)
	if errors.Is(err, errNoLedger) {
		return d
	}
	if err != nil {
		h.log.Error("dashboard: reading the audit ledger", "err", err) // the ledger redacts a database URL's password
		d.Problem = "The audit ledger could not be read; the dashboard's log says why."
		return d
	}
	obj := ledger.ObjectRef(kind, ns, name)
	q := auditQuery{Object: obj, filter: ledger.Filter{Object: obj}}
	rows, more := page(entries, sc, q, historySize)
	d.Rows = rows
	if more || len(rows) > 0 {
		d.More = "/audit?" + q.Values().Encode()
	}
	return d
}

// rowsView is what the auditrows template gets.
type rowsView struct {
	Rows           []auditRow
	Caption, Empty string
}

func rowsOf(rows []auditRow, caption, empty string) rowsView {
	return rowsView{Rows: rows, Caption: caption, Empty: empty}
}
