package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/pgtest"
)

// The database tests share one PostgreSQL per test binary (pgtest.Shared,
// started by the first of them), each in a database of its own.
func TestMain(m *testing.M) {
	m.Run()
	pgtest.StopShared()
	stopBenchServers()
}

func pgLedger(t *testing.T, dsn string) *Ledger {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := OpenLocation(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func sql(t *testing.T, dsn, query string, args ...any) {
	t.Helper()
	conn := dial(t, dsn)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func dial(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// rows returns the table's lines in seq order.
func tableLines(t *testing.T, dsn string) []string {
	t.Helper()
	conn := dial(t, dsn)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT line FROM `+TableName+` ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// inSchema returns dsn with a schema of its own as search_path: a second
// ledger in the same database.
func inSchema(t *testing.T, dsn, schema string) string {
	t.Helper()
	sql(t, dsn, "CREATE SCHEMA "+schema)
	return dsn + "&search_path=" + schema
}

func mustVerifyLoc(t *testing.T, loc string) Report {
	t.Helper()
	rep, err := VerifyLocation(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestLocation(t *testing.T) {
	for loc, db := range map[string]bool{
		"postgres://u:p@h/db":        true,
		"postgresql://h/db":          true,
		"POSTGRES://h/db":            true,
		"/var/lib/ledger.jsonl":      false,
		"ledger.jsonl":               false,
		"postgres:/x":                false,
		"host=localhost dbname=x":    false,
		".infraplane/ledger.jsonl":   false,
		"C:\\ledger\\ledger.jsonl":   false,
		"file:///tmp/x/ledger.jsonl": false,
	} {
		if IsDatabase(loc) != db {
			t.Errorf("IsDatabase(%q) = %v", loc, !db)
		}
	}
	for in, want := range map[string]string{
		"postgres://alice:s3cret@db.example.com:5432/infra?sslmode=require": "postgres://alice:xxxxx@db.example.com:5432/infra?sslmode=require",
		"postgres://alice@db/infra":                                         "postgres://alice@db/infra",
		"postgresql://db/infra?password=s3cret&sslmode=disable":             "postgresql://db/infra?password=xxxxx&sslmode=disable",
		"postgres://a:b@[bad":                                               "postgres://(unparsable URL)",
		"/data/ledger.jsonl":                                                "/data/ledger.jsonl",
	} {
		if got := RedactLocation(in); got != want {
			t.Errorf("RedactLocation(%q) = %q, want %q", in, got, want)
		}
	}
	// Unparsable URLs: the error does not show the password.
	for _, bad := range []string{"postgres://alice:s3cret@db:notaport/x", "postgres://alice:s3cret@db/x?sslmode=bogus", "postgres://alice@db/x?password=s3cret&sslmode=bogus"} {
		if _, err := OpenLocation(context.Background(), bad); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("OpenLocation(%q): %v", bad, err)
		} else {
			t.Log(err)
		}
	}
	// A key=value connection string is not taken for a file name.
	dir := t.TempDir()
	kv := "host=db dbname=infra user=x password=s3cret"
	if l, err := Open(kv); err == nil || !strings.Contains(err.Error(), "postgres://") || strings.Contains(err.Error(), "s3cret") {
		if l != nil {
			l.Close()
		}
		t.Errorf("Open(%q): %v", kv, err)
	}
	if l, err := Open(filepath.Join(dir, "my ledger=1.jsonl")); err != nil {
		t.Errorf("a file name with = and a space: %v", err)
	} else {
		l.Close()
	}
}

func TestPGAppendReopenContinue(t *testing.T) {
	dsn := pgtest.Database(t)
	ctx := context.Background()
	l := pgLedger(t, dsn)
	if strings.Contains(l.Location(), "@") && !strings.Contains(l.Location(), ":xxxxx@") || l.Path() != l.Location() {
		t.Errorf("Location %q, Path %q: the password must not show", l.Location(), l.Path())
	}
	first := appendN(t, l, 1, 3)
	for i, e := range first {
		if e.Seq != uint64(i+1) || len(e.Hash) != 64 || (i > 0 && e.Prev != first[i-1].Hash) {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	if seq, h := l.Head(); seq != 3 || h != first[2].Hash {
		t.Fatalf("Head = %d %s", seq, h)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, entry(9)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}

	// Open (no context) takes a URL too: what the controller calls.
	l, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if seq, h := l.Head(); seq != 3 || h != first[2].Hash {
		t.Fatalf("after reopen Head = %d %s", seq, h)
	}
	next := appendN(t, l, 4, 2)
	if next[0].Seq != 4 || next[0].Prev != first[2].Hash || next[1].Seq != 5 {
		t.Fatalf("chain did not continue: %+v", next)
	}
	rep := mustVerifyLoc(t, dsn)
	if !rep.OK() || rep.Entries != 5 || rep.LastHash != next[1].Hash || !strings.HasPrefix(rep.String(), "hash chain intact: 5 entries, last hash "+next[1].Hash+"\n") {
		t.Fatalf("Verify = %s", rep)
	}
	if rep2, err := Verify(dsn); err != nil || !reflect.DeepEqual(rep2, rep) {
		t.Fatalf("Verify(URL) = %v, %v", rep2, err)
	}
	got, err := Read(dsn, Filter{})
	if err != nil || len(got) != 5 || got[4].Hash != next[1].Hash || !got[4].Time.Equal(next[1].Time) || got[4].Summary != "edit 5" {
		t.Fatalf("Read = %+v, %v", got, err)
	}

	// The rows are the lines of a ledger file, byte for byte: exported,
	// they verify as a file, with the same last hash, and -o json prints
	// them as stored.
	lines := tableLines(t, dsn)
	file := filepath.Join(t.TempDir(), FileName)
	export := strings.Join(lines, "\n") + "\n"
	os.WriteFile(file, []byte(export), 0o600)
	if frep := mustVerify(t, file); !frep.OK() || frep.LastHash != rep.LastHash || frep.Entries != 5 {
		t.Fatalf("exported: %s", frep)
	}
	var b bytes.Buffer
	if err := Format(&b, got, FormatJSON); err != nil || b.String() != export {
		t.Fatalf("json output differs from the rows: %v\n%s\n%s", err, b.String(), export)
	}
}

// Two Ledgers on one database — two controller replicas — append at once:
// one chain, nothing lost, each appender's entries in its order. Also when
// the database's default isolation level is serializable (appends read
// committed anyway).
func TestPGConcurrentReplicas(t *testing.T) {
	t.Run("default", func(t *testing.T) { testReplicas(t, pgtest.Database(t)) })
	t.Run("serializable by default", func(t *testing.T) {
		dsn := pgtest.Database(t)
		sql(t, dsn, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = serializable', current_database()); END $$`)
		conn := dial(t, dsn)
		defer conn.Close(context.Background())
		var iso string
		if err := conn.QueryRow(context.Background(), "SHOW default_transaction_isolation").Scan(&iso); err != nil || iso != "serializable" {
			t.Fatalf("isolation %q: %v", iso, err)
		}
		testReplicas(t, dsn)
	})
}

func testReplicas(t *testing.T, dsn string) {
	// Replicas starting together: both may find the table missing.
	replicas := make([]*Ledger, 4)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			l, err := OpenLocation(context.Background(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			replicas[i] = l
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, l := range replicas {
		t.Cleanup(func() { l.Close() })
	}
	replicas[2].Close()
	replicas[3].Close()
	replicas = replicas[:2]

	const workers, each = 8, 40
	errs := make(chan error, len(replicas)*workers*each)
	for r, l := range replicas {
		for g := range workers {
			wg.Go(func() {
				for i := range each {
					e := entry(i)
					e.Actor = fmt.Sprintf("replica-%d/worker-%d", r, g)
					if _, err := l.Append(context.Background(), e); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = 2 * workers * each
	rep := mustVerifyLoc(t, dsn)
	if !rep.OK() || rep.Entries != total {
		t.Fatalf("Verify = %s", rep)
	}
	all, err := ReadLocation(context.Background(), dsn, Filter{})
	if err != nil || len(all) != total {
		t.Fatalf("Read: %d entries, %v", len(all), err)
	}
	next := map[string]int{}
	for _, e := range all {
		if e.Details["i"] != strconv.Itoa(next[e.Actor]) {
			t.Fatalf("%s: entry %s out of order (want %d)", e.Actor, e.Details["i"], next[e.Actor])
		}
		next[e.Actor]++
	}
	if len(next) != 2*workers {
		t.Fatalf("%d appenders seen", len(next))
	}
	// Each replica's Head is the last entry it wrote or saw.
	for _, l := range replicas {
		if seq, _ := l.Head(); seq == 0 || seq > total {
			t.Errorf("Head %d", seq)
		}
	}
}

// sealedPG writes n entries to a fresh ledger in its own schema and
// returns its DSN and lines.
func sealedPG(t *testing.T, dsn, schema string, n int) (string, []string) {
	t.Helper()
	loc := inSchema(t, dsn, schema)
	l := pgLedger(t, loc)
	appendN(t, l, 1, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return loc, tableLines(t, loc)
}

func TestPGVerifyTampering(t *testing.T) {
	const n = 6
	dsn := pgtest.Database(t)
	update := `UPDATE ` + TableName + ` SET line = $1 WHERE seq = $2`
	for i, tc := range []struct {
		name    string
		tamper  func(t *testing.T, loc string, lines []string)
		row     int
		seq     uint64
		kind    ProblemKind
		entries int
	}{{
		name: "UPDATE a line",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, `UPDATE `+TableName+` SET line = replace(line, '"actor":"alice"', '"actor":"mallory"') WHERE seq = 3`)
		},
		row: 3, seq: 3, kind: ProblemHash, entries: 2,
	}, {
		name: "UPDATE a line and recompute its hash",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, update, rehash(t, strings.Replace(l[2], `"actor":"alice"`, `"actor":"mallory"`, 1)), 3)
		},
		row: 4, seq: 4, kind: ProblemPrev, entries: 3,
	}, {
		name: "DELETE a middle row",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, `DELETE FROM `+TableName+` WHERE seq = 3`)
		},
		row: 3, seq: 4, kind: ProblemSeq, entries: 2,
	}, {
		name: "DELETE the first row",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, `DELETE FROM `+TableName+` WHERE seq = 1`)
		},
		row: 1, seq: 2, kind: ProblemSeq, entries: 0,
	}, {
		name: "swap the lines of two rows",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, update, l[2], 2)
			sql(t, loc, update, l[1], 3)
		},
		row: 2, seq: 3, kind: ProblemSeq, entries: 1,
	}, {
		name: "swap the seqs of two rows",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, `UPDATE `+TableName+` SET seq = 1000 WHERE seq = 2`)
			sql(t, loc, `UPDATE `+TableName+` SET seq = 2 WHERE seq = 3`)
			sql(t, loc, `UPDATE `+TableName+` SET seq = 3 WHERE seq = 1000`)
		},
		row: 2, seq: 3, kind: ProblemSeq, entries: 1,
	}, {
		name: "renumber every row",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, `UPDATE `+TableName+` SET seq = seq + 10`)
		},
		row: 1, seq: 1, kind: ProblemColumn, entries: 0,
	}, {
		name: "move a row in time",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, `UPDATE `+TableName+` SET time = time - interval '1 day' WHERE seq = 5`)
		},
		row: 5, seq: 5, kind: ProblemColumn, entries: 4,
	}, {
		name: "duplicate a row at the end",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, `INSERT INTO `+TableName+` (seq, time, line) SELECT 7, time, line FROM `+TableName+` WHERE seq = 6`)
		},
		row: 7, seq: 6, kind: ProblemSeq, entries: 6,
	}, {
		name: "garbage line",
		tamper: func(t *testing.T, loc string, l []string) {
			sql(t, loc, update, "not json", 4)
		},
		row: 4, kind: ProblemUnparsable, entries: 3,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			loc, lines := sealedPG(t, dsn, fmt.Sprintf("tamper%d", i), n)
			if rep := mustVerifyLoc(t, loc); !rep.OK() || rep.Entries != n {
				t.Fatalf("before: %s", rep)
			}
			tc.tamper(t, loc, lines)
			rep := mustVerifyLoc(t, loc)
			if rep.OK() {
				t.Fatal("tampered ledger verified")
			}
			p := rep.Problem
			if p.Line != tc.row || p.Kind != tc.kind || (tc.seq != 0 && p.Seq != tc.seq) || rep.Entries != tc.entries {
				t.Fatalf("got %s (entries %d), want row %d seq %d %s (entries %d)", p, rep.Entries, tc.row, tc.seq, tc.kind, tc.entries)
			}
			s := rep.String()
			if !strings.Contains(s, "ledger BROKEN at row") || !strings.Contains(s, string(tc.kind)) || (tc.entries > 0 && !strings.Contains(s, "from that row on")) {
				t.Errorf("report: %s", s)
			}
			t.Log(s)
		})
	}
}

func TestPGCorruptTail(t *testing.T) {
	dsn := pgtest.Database(t)
	loc, _ := sealedPG(t, dsn, "tail", 3)
	running := pgLedger(t, loc) // opened while the ledger was intact
	sql(t, loc, `UPDATE `+TableName+` SET line = replace(line, 'alice', 'mallory') WHERE seq = 3`)

	_, err := OpenLocation(context.Background(), loc)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "hash mismatch") || !strings.Contains(err.Error(), "--verify") {
		t.Fatalf("Open: %v", err)
	}
	if strings.Contains(err.Error(), pgPassword(loc)) {
		t.Fatalf("the error shows the password: %v", err)
	}
	// A running Ledger reads the last row in every append: it refuses too,
	// and writes nothing.
	for range 2 {
		if _, err := running.Append(context.Background(), entry(4)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Append after the last row was edited: %v", err)
		}
	}
	if lines := tableLines(t, loc); len(lines) != 3 {
		t.Fatalf("%d rows", len(lines))
	}
	// Renumbered last row: refused as well.
	loc2, _ := sealedPG(t, dsn, "tail2", 2)
	sql(t, loc2, `UPDATE `+TableName+` SET seq = 5 WHERE seq = 2`)
	if _, err := OpenLocation(context.Background(), loc2); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "renumbered") {
		t.Fatalf("Open: %v", err)
	}
}

func pgPassword(dsn string) string {
	_, rest, _ := strings.Cut(dsn, "://")
	userinfo, _, _ := strings.Cut(rest, "@")
	_, pw, _ := strings.Cut(userinfo, ":")
	return pw
}

// The server ends the writer's connection (a restart, a fail-over, an
// idle timeout): the next Append reconnects.
func TestPGReconnect(t *testing.T) {
	dsn := pgtest.Database(t)
	l := pgLedger(t, dsn)
	appendN(t, l, 1, 2)
	conn := dial(t, dsn)
	defer conn.Close(context.Background())
	var n int
	err := conn.QueryRow(context.Background(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'infraplane-ledger' AND datname = current_database()`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminated %d backends: %v", n, err)
	}
	es := appendN(t, l, 3, 2)
	if es[1].Seq != 4 {
		t.Fatalf("seq %d", es[1].Seq)
	}
	if rep := mustVerifyLoc(t, dsn); !rep.OK() || rep.Entries != 4 {
		t.Fatalf("Verify = %s", rep)
	}
}

// Read from a database returns what Read of the same ledger as a file
// returns, for every filter; the time bounds are exact to the nanosecond
// although the time column holds microseconds.
func TestPGReadFilters(t *testing.T) {
	path, all := sample(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The same entries, as rows.
	dsn := pgtest.Database(t)
	pgLedger(t, dsn).Close() // creates the table
	conn := dial(t, dsn)
	defer conn.Close(context.Background())
	for _, e := range all {
		line, _, _, _ := encodeLine(e, nil)
		if _, err := conn.Exec(context.Background(), `INSERT INTO `+TableName+` (seq, time, line) VALUES ($1, $2, $3)`,
			int64(e.Seq), e.Time, strings.TrimSuffix(string(line), "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if lines := tableLines(t, dsn); strings.Join(lines, "\n")+"\n" != string(data) {
		t.Fatal("rows differ from the file")
	}
	filters := []Filter{
		{},
		{Object: "Topic team-a/orders"},
		{Object: "topic/orders"},
		{Object: "Topic/team-a/"},
		{Object: "subscription"},
		{Type: TypeCloudWrite},
		{Actor: "controller/"},
		{Actor: "dave"},
		{Since: all[3].Time},
		{Until: all[3].Time},
		{Since: all[3].Time.Add(time.Nanosecond)},
		{Until: all[3].Time.Add(time.Nanosecond)},
		{Since: all[1].Time, Until: all[3].Time},
		{Since: all[5].Time.Add(time.Hour)},
		{Object: "Topic/orders", Type: TypeCloudWrite, Since: all[2].Time},
	}
	for _, f := range filters {
		want, err := Read(path, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadLocation(context.Background(), dsn, f)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(seqs(got)) != fmt.Sprint(seqs(want)) {
			t.Errorf("%+v: database %v, file %v", f, seqs(got), seqs(want))
		}
	}
	if got, _ := ReadLocation(context.Background(), dsn, Filter{Since: all[3].Time}); fmt.Sprint(seqs(got)) != "[4 5 6]" {
		t.Errorf("since: %v", seqs(got))
	}
	if got, _ := ReadLocation(context.Background(), dsn, Filter{Until: all[3].Time}); fmt.Sprint(seqs(got)) != "[1 2 3]" {
		t.Errorf("until: %v", seqs(got))
	}
}

func TestPGRunAudit(t *testing.T) {
	dsn := pgtest.Database(t)
	l := pgLedger(t, dsn)
	var es []Entry
	for _, e := range []Entry{
		{Type: TypeCloudWrite, Actor: "controller/Topic", Object: "Topic team-a/orders", Summary: "created orders"},
		{Type: TypeDirectEdit, Actor: "dave", Object: "Topic team-a/payments", Summary: "kubectl edit", Fields: []string{"spec.labels"}},
		{Type: TypeSync, Actor: "syncer", Summary: "synced abc123", Objects: []string{"Topic team-a/orders"}},
	} {
		got, err := l.Append(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, got)
	}
	now := es[2].Time.Add(time.Minute)
	run := func(o AuditOptions) (string, error) {
		var b bytes.Buffer
		err := RunAudit(&b, o, now)
		return b.String(), err
	}
	out, err := run(AuditOptions{Path: dsn, Object: "topic/orders", Since: "1h"})
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 3 || !strings.Contains(lines[1], "created orders") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = run(AuditOptions{Path: dsn, Actor: "dave", Output: "json"})
	if err != nil || out != tableLines(t, dsn)[1]+"\n" {
		t.Fatalf("json: %v\n%s", err, out)
	}
	out, err = run(AuditOptions{Path: dsn, Verify: true})
	if err != nil || !strings.HasPrefix(out, "hash chain intact: 3 entries, last hash "+es[2].Hash+"\n") {
		t.Fatalf("verify: %v %q", err, out)
	}

	// No ledger table there (another schema): say so, without the password.
	empty := inSchema(t, dsn, "nothing")
	for _, o := range []AuditOptions{{Path: empty}, {Path: empty, Verify: true}} {
		_, err := run(o)
		if err == nil || !strings.Contains(err.Error(), "no ledger in postgres://") || !strings.Contains(err.Error(), "no table "+TableName) ||
			strings.Contains(err.Error(), pgPassword(dsn)) {
			t.Errorf("missing table: %v", err)
		}
	}
	// A wrong password: the server's refusal, without the password.
	wrong := strings.Replace(dsn, pgPassword(dsn), "wrongpassword", 1)
	if _, err := run(AuditOptions{Path: wrong, Verify: true}); err == nil || strings.Contains(err.Error(), "wrongpassword") ||
		!strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("wrong password: %v", err)
	}

	// Tampered: --verify says which row and fails.
	sql(t, dsn, `UPDATE `+TableName+` SET line = replace(line, '"actor":"dave"', '"actor":"eve"') WHERE seq = 2`)
	out, err = run(AuditOptions{Path: dsn, Verify: true})
	if !errors.Is(err, ErrVerifyFailed) || !strings.Contains(out, "ledger BROKEN at row 2 (seq 2): hash mismatch") ||
		!strings.Contains(out, "the 1 entries before it are intact") || strings.Contains(err.Error(), pgPassword(dsn)) {
		t.Fatalf("verify of a tampered ledger: %v\n%s", err, out)
	}
	t.Log(out)
}

func TestPGCloudWriteAdapter(t *testing.T) {
	dsn := pgtest.Database(t)
	l := pgLedger(t, dsn)
	var a managed.Auditor = l
	a.CloudWrite(context.Background(), cloudWrite())
	es, err := ReadLocation(context.Background(), dsn, Filter{Type: TypeCloudWrite})
	if err != nil || len(es) != 1 || es[0].Actor != "controller/Topic" || es[0].Details["cause"] != "drift-repair" {
		t.Fatalf("Read = %+v, %v", es, err)
	}
}

// Benchmarks: go test ./internal/ledger -run '^$' -bench PG
//
// fsync=off is the shared test server; fsync=on a server of its own, as
// a production database would run.

var benchServers struct {
	sync.Mutex
	m map[bool]*pgtest.Server
}

func benchDSN(b *testing.B, fsync bool) string {
	b.Helper()
	if !fsync {
		return pgtest.Database(b)
	}
	benchServers.Lock()
	s := benchServers.m[fsync]
	if s == nil {
		var err error
		s, err = pgtest.Start(context.Background(), pgtest.Options{Fsync: true})
		if err != nil {
			benchServers.Unlock()
			if errors.Is(err, pgtest.ErrUnavailable) {
				b.Skip(err)
			}
			b.Fatal(err)
		}
		if benchServers.m == nil {
			benchServers.m = map[bool]*pgtest.Server{}
		}
		benchServers.m[fsync] = s
	}
	benchServers.Unlock()
	return s.Database(b)
}

func stopBenchServers() {
	benchServers.Lock()
	defer benchServers.Unlock()
	for _, s := range benchServers.m {
		s.Stop()
	}
}

func BenchmarkPGAppend(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		b.Run("fsync="+strconv.FormatBool(fsync), func(b *testing.B) {
			dsn := benchDSN(b, fsync)
			l, err := OpenLocation(context.Background(), dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			e := CloudWriteEntry(cloudWrite())
			for b.Loop() {
				if _, err := l.Append(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// 8 concurrent appenders: on one Ledger (group commit), and spread over
// two Ledgers (two replicas taking turns at the lock).
func BenchmarkPGAppendConcurrent(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		for _, replicas := range []int{1, 2} {
			b.Run(fmt.Sprintf("fsync=%v/replicas=%d/appenders=8", fsync, replicas), func(b *testing.B) {
				dsn := benchDSN(b, fsync)
				ls := make([]*Ledger, replicas)
				for i := range ls {
					l, err := OpenLocation(context.Background(), dsn)
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					ls[i] = l
				}
				e := CloudWriteEntry(cloudWrite())
				work := make(chan struct{})
				var wg sync.WaitGroup
				start := time.Now()
				for g := range 8 {
					wg.Go(func() {
						l := ls[g%replicas]
						for range work {
							if _, err := l.Append(context.Background(), e); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for b.Loop() {
					work <- struct{}{}
				}
				close(work)
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
				if rep := mustVerifyLocB(b, dsn); !rep.OK() {
					b.Fatal(rep)
				}
			})
		}
	}
}

func mustVerifyLocB(b *testing.B, loc string) Report {
	rep, err := VerifyLocation(context.Background(), loc)
	if err != nil {
		b.Fatal(err)
	}
	return rep
}
