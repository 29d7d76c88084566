package ledger

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/infraplane/infraplane/internal/pgtest"
)

// superuser is the DSN of the shared server's superuser for dsn's
// database.
func superuser(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return pgtest.Shared(t).AdminDSN(strings.TrimPrefix(u.Path, "/"))
}

// roleDSN is dsn with another role and password.
func roleDSN(t *testing.T, dsn, role, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	return u.String()
}

// The documented separation of roles: the ledger's role may SELECT and
// INSERT on the ledger only, the checkpoint role on the checkpoint table
// only; a ledger opened with both publishes its checkpoints, and neither
// role can write where the other does, nor change a row.
func TestPGCheckpointGrants(t *testing.T) {
	dsn := pgtest.Database(t) // the tables' owner
	admin := superuser(t, dsn)
	keys := testKeys(t, "k1")
	db := strings.TrimPrefix(must(url.Parse(dsn)).Path, "/")
	ledgerRole, cpRole := db+"_ledger", db+"_checkpoint"
	sql(t, admin, "CREATE ROLE "+ledgerRole+" LOGIN PASSWORD 'ledger-pw'")
	sql(t, admin, "CREATE ROLE "+cpRole+" LOGIN PASSWORD 'checkpoint-pw'")
	t.Cleanup(func() {
		sql(t, admin, "DROP OWNED BY "+ledgerRole+", "+cpRole)
		sql(t, admin, "DROP ROLE "+ledgerRole+", "+cpRole)
	})

	// The owner creates the tables (a first entry, published on Close).
	owner, err := OpenWith(context.Background(), dsn, Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, owner, 1, 1)
	owner.Close()
	sql(t, dsn, "GRANT SELECT, INSERT ON "+TableName+" TO "+ledgerRole)
	sql(t, dsn, "GRANT SELECT, INSERT ON "+CheckpointTableName+" TO "+cpRole)
	ledgerURL, cpURL := roleDSN(t, dsn, ledgerRole, "ledger-pw"), roleDSN(t, dsn, cpRole, "checkpoint-pw")

	l, err := OpenWith(context.Background(), ledgerURL, Options{Keys: keys, CheckpointDatabase: cpURL})
	if err != nil {
		t.Fatal(err)
	}
	es := appendN(t, l, 2, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cps, err := NewPGCheckpoints(cpURL)
	if err != nil {
		t.Fatal(err)
	}
	rep := verifyWith(t, ledgerURL, VerifyOptions{Keys: keys, Checkpoints: []CheckpointSource{cps}})
	if !rep.OK() || rep.Entries != 4 || rep.Checkpoints[0].Matched != 2 || rep.Checkpoints[0].Last.Hash != es[2].Hash {
		t.Fatalf("%s", rep)
	}
	if strings.Contains(rep.String(), "checkpoint-pw") || !strings.Contains(rep.String(), "PostgreSQL table "+CheckpointTableName+" in postgres://"+cpRole+":xxxxx@") {
		t.Errorf("report: %s", rep)
	}

	denied := func(dsn, query string) {
		t.Helper()
		conn := dial(t, dsn)
		defer conn.Close(context.Background())
		_, err := conn.Exec(context.Background(), query)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s: %v, want permission denied", query, err)
		}
	}
	denied(ledgerURL, "INSERT INTO "+CheckpointTableName+" VALUES (100, '"+strings.Repeat("0", 64)+"', now())")
	denied(ledgerURL, "UPDATE "+TableName+" SET line = line")
	denied(ledgerURL, "DELETE FROM "+TableName)
	denied(cpURL, "UPDATE "+CheckpointTableName+" SET hash = hash")
	denied(cpURL, "DELETE FROM "+CheckpointTableName)
	denied(cpURL, "INSERT INTO "+TableName+" SELECT * FROM "+TableName)

	// The ledger's role publishing to its own database (no separate URL)
	// is refused, with what to grant.
	own, _ := NewPGCheckpoints(ledgerURL)
	defer own.Close()
	err = own.PublishCheckpoint(context.Background(), Checkpoint{Seq: 4, Hash: es[2].Hash, Time: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "GRANT SELECT, INSERT ON "+CheckpointTableName+" TO the checkpoint role") || strings.Contains(err.Error(), "ledger-pw") {
		t.Fatalf("publishing as the ledger's role: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Rows deleted from the end of a database ledger, by a superuser: the
// chain and the MACs are intact, the checkpoint table shows the cut; and
// `infraplane audit --verify` checks the ledger's own database's table by
// default.
func TestPGCheckpointTruncatedTail(t *testing.T) {
	dsn := pgtest.Database(t)
	keys := testKeys(t, "k1")
	l, err := OpenWith(context.Background(), dsn, Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	es := appendN(t, l, 1, 6)
	l.Close()
	sql(t, superuser(t, dsn), `DELETE FROM `+TableName+` WHERE seq > 4`)

	if rep := verifyWith(t, dsn, VerifyOptions{Keys: keys}); !rep.OK() || rep.Authenticated != 4 {
		t.Fatalf("without checkpoints: %s", rep)
	}
	cps, _ := NewPGCheckpoints(dsn)
	rep := verifyWith(t, dsn, VerifyOptions{Keys: keys, Checkpoints: []CheckpointSource{cps}})
	if p := rep.Problem; p == nil || p.Kind != ProblemTail || p.Seq != 4 || !strings.Contains(p.Detail, "recorded seq 6 (hash "+es[5].Hash+")") ||
		!strings.HasPrefix(rep.String(), "ledger BROKEN at the end, after row 4 (seq 4): truncated tail") {
		t.Fatalf("%s", rep)
	}

	keyFile := t.TempDir() + "/" + KeyFileName
	writeLines(t, keyFile, []string{"k1 " + b64(keys.secrets["k1"])}, true)
	var out strings.Builder
	err = RunAudit(&out, AuditOptions{Path: dsn, Verify: true, KeyFile: keyFile}, time.Now())
	if !errors.Is(err, ErrVerifyFailed) || !strings.Contains(out.String(), "truncated tail") {
		t.Fatalf("RunAudit: %v\n%s", err, out.String())
	}
	// "-": no checkpoint table, and the cut does not show.
	out.Reset()
	if err := RunAudit(&out, AuditOptions{Path: dsn, Verify: true, KeyFile: keyFile, CheckpointDatabase: "-"}, time.Now()); err != nil {
		t.Fatalf("RunAudit without checkpoints: %v\n%s", err, out.String())
	}
}

// A checkpoint table holds one hash per seq: publishing another is a
// mismatch; the same, or another seq, is not.
func TestPGCheckpointMismatch(t *testing.T) {
	dsn := pgtest.Database(t)
	cps, err := NewPGCheckpoints(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer cps.Close()
	ctx := context.Background()
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for _, c := range []Checkpoint{{Seq: 5, Hash: a}, {Seq: 5, Hash: a}, {Seq: 3, Hash: b}, {Seq: 9, Hash: b}} {
		c.Time = time.Now()
		if err := cps.PublishCheckpoint(ctx, c); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	err = cps.PublishCheckpoint(ctx, Checkpoint{Seq: 5, Hash: b, Time: time.Now()})
	if !errors.Is(err, ErrCheckpointMismatch) || !strings.Contains(err.Error(), "holds hash "+a+" for seq 5") {
		t.Fatalf("another hash for seq 5: %v", err)
	}
	var seqs []uint64
	for c, err := range cps.Checkpoints(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, c.Seq)
	}
	if len(seqs) != 3 || seqs[0] != 3 || seqs[1] != 5 || seqs[2] != 9 {
		t.Fatalf("rows %v", seqs)
	}
	if _, err := NewPGCheckpoints("/var/lib/x"); err == nil {
		t.Error("a path accepted as a checkpoint database")
	}
}
