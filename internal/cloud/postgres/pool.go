package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// connPool hands out administrator connections: at most cap(slots) in use,
// idle ones kept for the next reconcile. (pgxpool would do, but needs a
// module go.mod does not list.)
type connPool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{}

	mu     sync.Mutex
	idle   []*pgx.Conn
	closed bool
}

func newConnPool(cfg *pgx.ConnConfig, size int) *connPool {
	return &connPool{cfg: cfg, slots: make(chan struct{}, size)}
}

// with runs fn on a connection of the pool.
func (p *connPool) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return cloudError(ctx.Err())
	}
	defer func() { <-p.slots }()
	conn, err := p.take(ctx)
	if err != nil {
		return err
	}
	err = fn(conn)
	p.give(conn)
	return err
}

func (p *connPool) take(ctx context.Context) (*pgx.Conn, error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		conn := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !conn.IsClosed() {
			p.mu.Unlock()
			return conn, nil
		}
	}
	p.mu.Unlock()
	start := time.Now()
	conn, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		return nil, read("CONNECT", start, err)
	}
	return conn, nil
}

func (p *connPool) give(conn *pgx.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || conn.IsClosed() {
		_ = conn.Close(context.Background())
		return
	}
	p.idle = append(p.idle, conn)
}

// close closes the idle connections; those in use are closed when given
// back.
func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, conn := range p.idle {
		_ = conn.Close(context.Background())
	}
	p.idle = nil
}

// exec runs one write statement on a pooled connection.
func (s *server) exec(ctx context.Context, method, sql string) error {
	return s.pool.with(ctx, func(conn *pgx.Conn) error { return exec(ctx, conn, method, sql) })
}

// inTx runs fn in one transaction on a pooled connection: all of its
// statements take effect, or (fn failed) none. Inside, fn must use only
// tx: taking a second pooled connection could wait forever for one.
func (s *server) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.pool.with(ctx, func(conn *pgx.Conn) error {
		return cloudError(pgx.BeginFunc(ctx, conn, fn))
	})
}

// queryRow scans the one row of a catalogue query; found is false when
// there is none.
func (s *server) queryRow(ctx context.Context, sql string, args []any, dest ...any) (found bool, err error) {
	err = s.pool.with(ctx, func(conn *pgx.Conn) error {
		found, err = queryRow(ctx, conn, sql, args, dest...)
		return err
	})
	return found, err
}

// queryRows runs a catalogue query and calls each for every row, after
// scanning it into dest.
func (s *server) queryRows(ctx context.Context, sql string, args []any, dest []any, each func() error) error {
	return s.pool.with(ctx, func(conn *pgx.Conn) error { return queryRows(ctx, conn, sql, args, dest, each) })
}

// queryRow is server.queryRow on a given connection or transaction.
func queryRow(ctx context.Context, q querier, sql string, args []any, dest ...any) (found bool, err error) {
	start := time.Now()
	err = q.QueryRow(ctx, sql, args...).Scan(dest...)
	if err == pgx.ErrNoRows {
		return false, read("SELECT", start, nil)
	}
	return err == nil, read("SELECT", start, err)
}

// queryRows is server.queryRows on a given connection or transaction.
func queryRows(ctx context.Context, q querier, sql string, args []any, dest []any, each func() error) error {
	start := time.Now()
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return read("SELECT", start, err)
	}
	_, err = pgx.ForEachRow(rows, dest, each)
	return read("SELECT", start, err)
}
