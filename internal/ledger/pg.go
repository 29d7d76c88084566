package ledger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TableName is the table of a database ledger. It is not schema-qualified:
// it is found through the connection's search_path, so a URL with
// ?search_path=team_a keeps a ledger in schema team_a.
const TableName = "infraplane_ledger"

// The table: seq and line are the ledger; time repeats the line's time
// (to the microsecond) so that reads can be bounded by time on the server.
// line is the entry's line as in a ledger file, without its newline: the
// hashed bytes, unchanged.
const createTableSQL = `CREATE TABLE ` + TableName + ` (
	seq  bigint PRIMARY KEY CHECK (seq > 0),
	time timestamptz NOT NULL,
	line text NOT NULL
);
CREATE INDEX ` + TableName + `_time ON ` + TableName + ` (time);
COMMENT ON TABLE ` + TableName + ` IS 'infraplane audit ledger: append-only, hash-chained; check with infraplane audit --verify --ledger URL'`

// lockKey is the first key of the ledger's transaction-level advisory
// lock ("LEDG"); the second is the table's OID, so ledgers in different
// schemas do not wait for each other.
const lockKey = 0x4c454447

var (
	// Serializes appenders, in every process, until their transaction
	// ends. An advisory lock needs no privilege on the table: the
	// appending role needs only SELECT and INSERT.
	lockSQL = fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, '%s'::regclass::oid::int4)`, lockKey, TableName)
	// Around creating the table.
	createLockSQL   = fmt.Sprintf(`SELECT pg_advisory_lock(%d, 0)`, lockKey)
	createUnlockSQL = fmt.Sprintf(`SELECT pg_advisory_unlock(%d, 0)`, lockKey)
	tailSQL         = `SELECT seq, time, line FROM ` + TableName + ` ORDER BY seq DESC LIMIT 1`
	insertSQL       = `INSERT INTO ` + TableName + ` (seq, time, line) SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[])`
)

// commitTimeout bounds one append transaction; connectTimeout a
// reconnection.
const (
	commitTimeout  = 30 * time.Second
	connectTimeout = 10 * time.Second
)

// IsDatabase reports whether loc names a database ledger: a PostgreSQL URL,
// postgres://… or postgresql://… (any other string is a file path).
func IsDatabase(loc string) bool {
	l := strings.ToLower(loc)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// RedactLocation returns loc with a database URL's password (in its user
// info or a password parameter) replaced by xxxxx; a path is returned as
// it is.
func RedactLocation(loc string) string {
	if !IsDatabase(loc) {
		return loc
	}
	u, err := url.Parse(loc)
	if err != nil {
		scheme, _, _ := strings.Cut(loc, ":")
		return scheme + "://(unparsable URL)"
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// scrub replaces the passwords of the URL loc in msg by xxxxx, as they are
// in the URL and decoded.
func scrub(loc, msg string) string {
	var secrets []string
	if _, rest, ok := strings.Cut(loc, "://"); ok {
		if userinfo, _, ok := strings.Cut(rest, "@"); ok {
			if _, pw, ok := strings.Cut(userinfo, ":"); ok {
				secrets = append(secrets, pw)
				if d, err := url.PathUnescape(pw); err == nil {
					secrets = append(secrets, d)
				}
			}
		}
	}
	if u, err := url.Parse(loc); err == nil {
		for _, k := range []string{"password", "sslpassword"} {
			secrets = append(secrets, u.Query()[k]...)
		}
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}

// pgStore is a ledger in a PostgreSQL table.
type pgStore struct {
	loc  string // redacted
	cfg  *pgx.ConnConfig
	conn *pgx.Conn // the writer's; nil or closed after a lost connection
	keys *Keys     // sign new entries
}

// connect connects to the database of loc.
func connect(ctx context.Context, loc string) (*pgx.Conn, *pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(loc)
	if err != nil {
		// Not wrapped: the message may quote the URL (pgx hides the
		// password, but net/url's errors do not).
		return nil, nil, fmt.Errorf("ledger %s: %s", RedactLocation(loc), scrub(loc, err.Error()))
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "infraplane-ledger"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger %s: %w", RedactLocation(loc), err)
	}
	// The lines must come back byte for byte: text in a UTF8 (or
	// SQL_ASCII, bytes as they are) database.
	var enc string
	if err := conn.QueryRow(ctx, "SHOW server_encoding").Scan(&enc); err != nil {
		conn.Close(context.Background())
		return nil, nil, fmt.Errorf("ledger %s: %w", RedactLocation(loc), err)
	}
	if enc != "UTF8" && enc != "SQL_ASCII" {
		conn.Close(context.Background())
		return nil, nil, fmt.Errorf("ledger %s: the database's encoding is %s: use a UTF8 database (CREATE DATABASE … ENCODING 'UTF8'), "+
			"so that entries are stored byte for byte", RedactLocation(loc), enc)
	}
	return conn, cfg, nil
}

// openPG connects, creates the table if it is missing, and returns the
// store with the entry of its last row, after checking that row.
func openPG(ctx context.Context, loc string, keys *Keys) (*pgStore, Entry, error) {
	conn, cfg, err := connect(ctx, loc)
	if err != nil {
		return nil, Entry{}, err
	}
	s := &pgStore{loc: RedactLocation(loc), cfg: cfg, conn: conn, keys: keys}
	fail := func(err error) (*pgStore, Entry, error) {
		conn.Close(context.Background())
		return nil, Entry{}, err
	}
	if err := s.ensureTable(ctx); err != nil {
		return fail(fmt.Errorf("ledger %s: creating table %s: %w", s.loc, TableName, err))
	}
	tail, err := s.tail(ctx, conn)
	if err != nil {
		return fail(err)
	}
	return s, tail, nil
}

// ensureTable creates the table unless it exists, under a lock so that
// replicas starting together do not both try. Creating it needs the CREATE
// privilege on the schema; appending to an existing one does not.
func (s *pgStore) ensureTable(ctx context.Context) error {
	return ensureTable(ctx, s.conn, TableName, createTableSQL)
}

// ensureTable runs createSQL unless table exists, under a session lock.
//
// The lock is a session lock, and the check after it a statement of its
// own: a transaction sees catalog changes committed while it waited for an
// advisory lock only from its next transaction on.
func ensureTable(ctx context.Context, conn *pgx.Conn, table, createSQL string) (err error) {
	exists, err := tableExists(ctx, conn, table)
	if err != nil || exists {
		return err
	}
	if _, err := conn.Exec(ctx, createLockSQL); err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), connectTimeout)
		defer cancel()
		if _, uerr := conn.Exec(uctx, createUnlockSQL); uerr != nil && err == nil {
			err = uerr
		}
	}()
	if exists, err := tableExists(ctx, conn, table); err != nil || exists {
		return err
	}
	_, err = conn.Exec(ctx, createSQL) // one transaction
	return err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func tableExists(ctx context.Context, q querier, table string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok)
	return ok, err
}

// tail returns the entry of the last row, after checking it.
func (s *pgStore) tail(ctx context.Context, q querier) (Entry, error) {
	e, err := s.checkTail(q.QueryRow(ctx, tailSQL))
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("ledger %s: reading the last row: %w", s.loc, err)
	}
	return e, err
}

// checkTail scans the last row (seq, time, line; none: an empty ledger)
// and returns its entry. Its line must match its hash (and its MAC, if
// of one of the store's keys), and its seq and time columns its line; if
// not, the error wraps ErrCorrupt.
func (s *pgStore) checkTail(row pgx.Row) (Entry, error) {
	var seq int64
	var t time.Time
	var line string
	err := row.Scan(&seq, &t, &line)
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, nil
	}
	if err != nil {
		return Entry{}, err
	}
	e, err := decodeLine([]byte(line))
	if err == nil {
		if p := checkColumns(0, seq, t, e); p != nil {
			err = errors.New(p.Detail)
		} else if s.keys.checkMAC(e) == macWrong {
			err = errors.New(wrongMAC(e))
		}
	}
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %s, table %s: the last row (seq %d): %v; check it with `infraplane audit --verify --ledger URL`. "+
			"infraplane never rewrites a ledger: keep the table as evidence (rename it) to start a new one", ErrCorrupt, s.loc, TableName, seq, err)
	}
	return e, nil
}

func (s *pgStore) location() string { return s.loc }

func (s *pgStore) close() error {
	if s.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	return s.conn.Close(ctx)
}

// commit appends batch in one transaction: take the ledger's lock, read the
// last row (another process may have appended since this one last did),
// chain after it, insert, commit. When the connection was lost it tries
// once more on a new one, re-chaining after whatever the last row is
// then. It never marks the ledger broken: a failed transaction leaves
// nothing behind.
func (s *pgStore) commit(batch []*request, seq uint64, last string) (uint64, string, error) {
	for attempt := 1; ; attempt++ {
		newSeq, newLast, err, retry := s.try(batch)
		if err == nil {
			return newSeq, newLast, nil
		}
		if retry && attempt < 2 {
			continue
		}
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
		return seq, last, nil
	}
}

// try is one attempt of commit; retry says whether another may succeed.
// It takes two round trips: BEGIN, the lock and the last row in one
// pipeline; the insert and COMMIT in another.
func (s *pgStore) try(batch []*request) (seq uint64, last string, err error, retry bool) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if s.conn == nil || s.conn.IsClosed() {
		s.conn = nil
		conn, err := pgx.ConnectConfig(ctx, s.cfg)
		if err != nil {
			return 0, "", fmt.Errorf("ledger %s: connecting: %w", s.loc, err), false
		}
		s.conn = conn
	}
	failed := func(what string, err error) (uint64, string, error, bool) {
		lost := s.conn.IsClosed()
		s.rollback(ctx)
		return 0, "", fmt.Errorf("ledger %s: %s: %w", s.loc, what, err), lost || retryable(err)
	}

	// Read committed whatever the database's default: the last row must be
	// read with a snapshot taken after the lock was granted.
	var b pgx.Batch
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue(lockSQL)
	b.Queue(tailSQL)
	br := s.conn.SendBatch(ctx, &b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	var tail Entry
	if err == nil {
		tail, err = s.checkTail(br.QueryRow())
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, ErrCorrupt) {
		s.rollback(ctx)
		return 0, "", err, false
	}
	if err != nil {
		return failed("locking the ledger and reading its last row", err)
	}

	written, seq, last := chain(batch, tail.Seq, tail.Hash, s.keys)
	if len(written) == 0 {
		s.rollback(ctx)
		return seq, last, nil, false
	}
	seqs := make([]int64, len(written))
	times := make([]time.Time, len(written))
	lines := make([]string, len(written))
	for i, r := range written {
		seqs[i], times[i] = int64(r.entry.Seq), r.entry.Time
		lines[i] = string(r.line[:len(r.line)-1])
	}
	b = pgx.Batch{}
	b.Queue(insertSQL, seqs, times, lines)
	b.Queue("COMMIT")
	br = s.conn.SendBatch(ctx, &b)
	_, ierr := br.Exec()
	var tag pgconn.CommandTag
	var cerr error
	if ierr == nil {
		tag, cerr = br.Exec()
	}
	if err := br.Close(); cerr == nil {
		cerr = err
	}
	what := fmt.Sprintf("entries %d to %d", seqs[0], seq)
	switch {
	case ierr != nil:
		return failed("inserting "+what, ierr)
	case cerr == nil && tag.String() == "COMMIT":
		return seq, last, nil, false
	case cerr == nil:
		cerr = fmt.Errorf("COMMIT answered %q", tag)
	}
	// The commit failed, or its answer was lost and it may have happened:
	// ask.
	in, qerr := s.committed(written[len(written)-1])
	switch {
	case qerr != nil:
		return 0, "", fmt.Errorf("ledger %s: committing %s: %w; whether they were written is unknown (%v): check with `infraplane audit`",
			s.loc, what, cerr, qerr), false
	case in:
		return seq, last, nil, false
	}
	return failed("committing "+what, cerr)
}

// rollback ends the transaction try began, if the connection is still
// there (pgx closes it when a query fails on the network).
func (s *pgStore) rollback(ctx context.Context) {
	if s.conn != nil && !s.conn.IsClosed() {
		_, _ = s.conn.Exec(ctx, "ROLLBACK")
	}
}

// committed reports whether r's line is in the table at its seq, asking on
// a new connection when the writer's was lost.
func (s *pgStore) committed(r *request) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if s.conn.IsClosed() {
		conn, err := pgx.ConnectConfig(ctx, s.cfg)
		if err != nil {
			return false, err
		}
		s.conn = conn
	}
	var line string
	err := s.conn.QueryRow(ctx, `SELECT line FROM `+TableName+` WHERE seq = $1`, int64(r.entry.Seq)).Scan(&line)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return line == string(r.line[:len(r.line)-1]), nil
}

// retryable: a serialization failure, a deadlock, or a seq taken by an
// appender that did not take the lock (a table dropped and re-created
// under a running Ledger): chaining again after the new last row works.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "23505":
			return true
		}
	}
	return false
}

// checkColumns checks a row's seq and time columns against its line's
// entry e (row n).
func checkColumns(n int, seq int64, t time.Time, e Entry) *Problem {
	if seq != int64(e.Seq) {
		return &Problem{Line: n, Seq: e.Seq, Kind: ProblemColumn, row: true,
			Detail: fmt.Sprintf("the row's seq column is %d, its line's seq %d: rows were renumbered", seq, e.Seq)}
	}
	if d := t.Sub(e.Time); d <= -time.Microsecond || d >= time.Microsecond {
		return &Problem{Line: n, Seq: e.Seq, Kind: ProblemColumn, row: true,
			Detail: fmt.Sprintf("the row's time column is %s, its line's time %s: the row was edited (reads bounded by time use the column)",
				t.UTC().Format(time.RFC3339Nano), e.Time.UTC().Format(time.RFC3339Nano))}
	}
	return nil
}

// openRead connects to loc for Read and Verify; the error wraps
// fs.ErrNotExist when there is no ledger table.
func openRead(ctx context.Context, loc string) (*pgx.Conn, error) {
	conn, _, err := connect(ctx, loc)
	if err != nil {
		return nil, err
	}
	exists, err := tableExists(ctx, conn, TableName)
	if err == nil && !exists {
		err = fmt.Errorf("no table %s: %w", TableName, fs.ErrNotExist)
	}
	if err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("ledger %s: %w", RedactLocation(loc), err)
	}
	return conn, nil
}

// timeMargin widens the time bounds sent to the server: the time column
// holds microseconds, entries nanoseconds. Filter.Match then applies the
// exact bounds.
const timeMargin = time.Millisecond

// readPG is Read for a database ledger: the rows within f's time bounds
// (give or take timeMargin) are read in seq order, and f is applied to
// each entry here.
func readPG(ctx context.Context, loc string, f Filter) ([]Entry, error) {
	conn, err := openRead(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	q := `SELECT seq, line FROM ` + TableName
	var where []string
	var args []any
	if !f.Since.IsZero() {
		args = append(args, f.Since.Add(-timeMargin))
		where = append(where, fmt.Sprintf("time >= $%d", len(args)))
	}
	if !f.Until.IsZero() {
		args = append(args, f.Until.Add(timeMargin))
		where = append(where, fmt.Sprintf("time < $%d", len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq"
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", RedactLocation(loc), err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var seq int64
		var line string
		if err := rows.Scan(&seq, &line); err != nil {
			return nil, fmt.Errorf("ledger %s: %w", RedactLocation(loc), err)
		}
		e, err := parseLine([]byte(line), false)
		if err != nil {
			return nil, fmt.Errorf("%s: row seq %d: %v (see `infraplane audit --verify`)", RedactLocation(loc), seq, err)
		}
		if f.Match(e) {
			out = append(out, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", RedactLocation(loc), err)
	}
	return out, nil
}

// verifyPG is Verify for a database ledger: the rows in seq order, each
// line checked as in a file, and each row's seq and time columns against
// its line.
func verifyPG(ctx context.Context, loc string, v *verifier) (Report, error) {
	rep := Report{Path: RedactLocation(loc)}
	conn, err := openRead(ctx, loc)
	if err != nil {
		return rep, err
	}
	defer conn.Close(context.Background())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the query after the first problem
	rows, err := conn.Query(ctx, `SELECT seq, time, line FROM `+TableName+` ORDER BY seq`)
	if err != nil {
		return rep, fmt.Errorf("ledger %s: %w", rep.Path, err)
	}
	defer rows.Close()
	for n := 1; rows.Next(); n++ {
		var seq int64
		var t time.Time
		var line string
		if err := rows.Scan(&seq, &t, &line); err != nil {
			return rep, fmt.Errorf("ledger %s: %w", rep.Path, err)
		}
		p := checkLine(n, []byte(line), true, rep.LastSeq, rep.LastHash)
		var e Entry
		if p == nil {
			e, _ = decodeLine([]byte(line)) // checked above
			p = checkColumns(n, seq, t, e)
		}
		if p == nil {
			p = v.entry(&rep, n, e)
		}
		if p != nil {
			p.row = true
			rep.Problem = p
			cancel() // rather than read the rest
			return rep, nil
		}
		rep.Entries++
		rep.LastSeq, rep.LastHash = e.Seq, e.Hash
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("ledger %s: %w", rep.Path, err)
	}
	return rep, nil
}
