package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Extensions live in each database, out of sight of the administrator's
// pool, so reading them needs a connection to the database itself. dbConns
// keeps such connections idle between uses, one per database: a pass that
// creates extensions and then reads them, and the passes that follow
// within dbConnIdle, connect once.
const (
	// dbConnIdle is how long an unused connection to a database stays
	// open. An open session makes a plain DROP DATABASE fail ("being
	// accessed by other users"), so it is kept short.
	dbConnIdle = time.Minute
	// maxIdleDBConns bounds the idle connections per server; past it the
	// one unused longest is closed.
	maxIdleDBConns = 8
)

type dbConns struct {
	cfg *pgx.ConnConfig // the administrator's; Database is replaced

	mu     sync.Mutex
	idle   map[string]*idleConn // database name -> its idle connection
	closed bool
}

type idleConn struct {
	conn  *pgx.Conn
	since time.Time
	timer *time.Timer
}

func newDBConns(cfg *pgx.ConnConfig) *dbConns {
	return &dbConns{cfg: cfg, idle: map[string]*idleConn{}}
}

// with runs fn on a connection to database db: the idle one if there is
// one, else a new one. Afterwards the connection is kept for the next use.
func (d *dbConns) with(ctx context.Context, db string, fn func(*pgx.Conn) error) error {
	conn := d.take(db)
	reused := conn != nil
	if !reused {
		var err error
		if conn, err = d.connect(ctx, db); err != nil {
			return err
		}
	}
	err := fn(conn)
	if err != nil && reused && conn.IsClosed() && ctx.Err() == nil {
		// The idle connection had died meanwhile (a server restart, its
		// session terminated): once more, on a new one.
		if conn, err = d.connect(ctx, db); err != nil {
			return err
		}
		err = fn(conn)
	}
	d.give(db, conn)
	return err
}

func (d *dbConns) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg := d.cfg.Copy()
	cfg.Database = db
	start := time.Now()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, read("CONNECT", start, fmt.Errorf("connecting to database %q: %w", db, err))
	}
	return conn, nil
}

// take removes and returns db's idle connection, nil when there is none.
func (d *dbConns) take(db string) *pgx.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	ic := d.idle[db]
	if ic == nil {
		return nil
	}
	ic.timer.Stop()
	delete(d.idle, db)
	if ic.conn.IsClosed() {
		return nil
	}
	return ic.conn
}

// give keeps conn as db's idle connection, closing it instead when it is
// broken, the cache is closed, or db already has one.
func (d *dbConns) give(db string, conn *pgx.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || conn.IsClosed() || d.idle[db] != nil {
		go closeConn(conn)
		return
	}
	if len(d.idle) >= maxIdleDBConns {
		d.evictOldestLocked()
	}
	ic := &idleConn{conn: conn, since: time.Now()}
	ic.timer = time.AfterFunc(dbConnIdle, func() { d.expire(db, ic) })
	d.idle[db] = ic
}

func (d *dbConns) evictOldestLocked() {
	var oldest string
	for db, ic := range d.idle {
		if oldest == "" || ic.since.Before(d.idle[oldest].since) {
			oldest = db
		}
	}
	if ic := d.idle[oldest]; ic != nil {
		ic.timer.Stop()
		delete(d.idle, oldest)
		go closeConn(ic.conn)
	}
}

// expire closes db's idle connection if it is still ic.
func (d *dbConns) expire(db string, ic *idleConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.idle[db] == ic {
		delete(d.idle, db)
		go closeConn(ic.conn)
	}
}

// forget closes db's idle connection, if any: before the database is
// dropped or renamed.
func (d *dbConns) forget(db string) {
	if conn := d.take(db); conn != nil {
		closeConn(conn)
	}
}

// close closes every idle connection; those in use are closed when given
// back.
func (d *dbConns) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for db, ic := range d.idle {
		ic.timer.Stop()
		go closeConn(ic.conn)
		delete(d.idle, db)
	}
}

// closeConn says goodbye to the server, waiting a few seconds at most.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
