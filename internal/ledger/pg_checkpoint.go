package ledger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CheckpointTableName is the table of PGCheckpoints, found through the
// connection's search_path like TableName.
const CheckpointTableName = "infraplane_ledger_checkpoint"

// One row per publication that moved the checkpoint; rows are only ever
// inserted. seq is the key: writers that publish the same head add one
// row, and a different hash for a seq already there is refused.
const createCheckpointTableSQL = `CREATE TABLE ` + CheckpointTableName + ` (
	seq  bigint PRIMARY KEY CHECK (seq > 0),
	hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
	time timestamptz NOT NULL
);
COMMENT ON TABLE ` + CheckpointTableName + ` IS 'infraplane audit ledger checkpoints: append-only; infraplane audit --verify compares the ledger with them'`

// PGCheckpoints keeps checkpoints in the table infraplane_ledger_checkpoint
// of a PostgreSQL database, one row per checkpoint, rows only inserted: a
// CheckpointSink and a CheckpointSource. Give it a role of its own that may
// only SELECT and INSERT on that table (and nothing on the ledger's), and
// the ledger's role none on it: then whoever holds the ledger's
// credentials cannot rewrite the checkpoints. It connects when it first
// publishes (and again after a lost connection), creating the table if it
// is missing, which needs the CREATE privilege on the schema.
type PGCheckpoints struct {
	url string
	loc string // redacted

	mu   sync.Mutex
	conn *pgx.Conn
}

// NewPGCheckpoints returns the checkpoint table of the database at url
// (postgres://…). It does not connect yet.
func NewPGCheckpoints(url string) (*PGCheckpoints, error) {
	if !IsDatabase(url) {
		return nil, fmt.Errorf("ledger checkpoints: %q is not a PostgreSQL URL (postgres://user@host/database)", RedactLocation(url))
	}
	if _, err := pgx.ParseConfig(url); err != nil {
		return nil, fmt.Errorf("ledger checkpoints %s: %s", RedactLocation(url), scrub(url, err.Error()))
	}
	return &PGCheckpoints{url: url, loc: RedactLocation(url)}, nil
}

func (p *PGCheckpoints) String() string {
	return "PostgreSQL table " + CheckpointTableName + " in " + p.loc
}

// PublishCheckpoint inserts c, unless its seq is there already; if it is
// with another hash, the error wraps ErrCheckpointMismatch.
func (p *PGCheckpoints) PublishCheckpoint(ctx context.Context, c Checkpoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil || p.conn.IsClosed() {
		conn, _, err := connect(ctx, p.url)
		if err != nil {
			return err
		}
		if err := ensureTable(ctx, conn, CheckpointTableName, createCheckpointTableSQL); err != nil {
			conn.Close(context.Background())
			return fmt.Errorf("ledger checkpoints %s: creating table %s: %w%s", p.loc, CheckpointTableName, err, privilegeHint(err))
		}
		p.conn = conn
	}
	// ON CONFLICT DO NOTHING needs no UPDATE privilege.
	var stored string
	err := p.conn.QueryRow(ctx, `WITH ins AS (
		INSERT INTO `+CheckpointTableName+` (seq, hash, time) VALUES ($1, $2, $3) ON CONFLICT (seq) DO NOTHING RETURNING hash
	) SELECT hash FROM ins UNION ALL SELECT hash FROM `+CheckpointTableName+` WHERE seq = $1 LIMIT 1`,
		int64(c.Seq), c.Hash, c.Time).Scan(&stored)
	if err != nil {
		if p.conn.IsClosed() {
			p.conn = nil
		}
		return fmt.Errorf("ledger checkpoints %s: %w%s", p.loc, err, privilegeHint(err))
	}
	if stored != c.Hash {
		return fmt.Errorf("%w: %s holds hash %s for seq %d, the ledger's entry %d has hash %s: the ledger was rewritten (or replaced by a new one)",
			ErrCheckpointMismatch, p, stored, c.Seq, c.Seq, c.Hash)
	}
	return nil
}

// privilegeHint says what to grant after a permission error.
func privilegeHint(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		return ""
	}
	return fmt.Sprintf(" (as the table's owner, create it if missing and GRANT SELECT, INSERT ON %s TO the checkpoint role: see `infraplane audit --help`)", CheckpointTableName)
}

// Checkpoints yields the table's rows in seq order, on a connection of
// their own. The error wraps fs.ErrNotExist when there is no table.
func (p *PGCheckpoints) Checkpoints(ctx context.Context) iter.Seq2[Checkpoint, error] {
	return func(yield func(Checkpoint, error) bool) {
		conn, _, err := connect(ctx, p.url)
		if err != nil {
			yield(Checkpoint{}, err)
			return
		}
		defer conn.Close(context.Background())
		exists, err := tableExists(ctx, conn, CheckpointTableName)
		if err == nil && !exists {
			err = noTableError{CheckpointTableName}
		}
		if err != nil {
			yield(Checkpoint{}, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // stops the query when the caller stops early
		rows, err := conn.Query(ctx, `SELECT seq, hash, time FROM `+CheckpointTableName+` ORDER BY seq`)
		if err != nil {
			yield(Checkpoint{}, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var c Checkpoint
			if err := rows.Scan(&seq, &c.Hash, &c.Time); err != nil {
				yield(Checkpoint{}, err)
				return
			}
			c.Seq = uint64(seq)
			if !yield(c, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Checkpoint{}, err)
		}
	}
}

// Close closes the publishing connection.
func (p *PGCheckpoints) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	err := p.conn.Close(ctx)
	p.conn = nil
	return err
}

var _ CheckpointSink = (*PGCheckpoints)(nil)
var _ CheckpointSource = (*PGCheckpoints)(nil)

// noTableError: a table is missing (errors.Is fs.ErrNotExist).
type noTableError struct{ table string }

func (e noTableError) Error() string {
	return "no table " + e.table + " (no checkpoint was published there, or it was dropped)"
}

func (e noTableError) Is(target error) bool { return target == fs.ErrNotExist }
