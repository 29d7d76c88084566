package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// FileName is the ledger's file name in a data dir.
const FileName = "ledger.jsonl"

// DefaultPath is the ledger of the data dir dataDir.
func DefaultPath(dataDir string) string { return filepath.Join(dataDir, FileName) }

var (
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("ledger: closed")
	// ErrCorrupt is wrapped by Open's error when the ledger's last line is
	// incomplete or does not match its hash (and, for a database ledger,
	// by Append's when its last row does not).
	ErrCorrupt = errors.New("ledger: corrupt")
)

// Ledger appends entries to a file or to a PostgreSQL table (see
// OpenLocation). It is safe for concurrent use; entries appended
// concurrently are written together (one write and one fsync, or one
// transaction, per batch), in the order Append was called.
type Ledger struct {
	store   store
	stopped chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*request
	closing bool
	broken  error  // set when the store may not hold what we think: no more appends
	seq     uint64 // the last entry written (or, in a database, seen)
	last    string // its hash

	closeOnce sync.Once
	closeErr  error
}

type request struct {
	entry Entry
	line  []byte // the entry's line, with its newline, once chained
	err   error
	done  chan struct{}
}

// store is where a Ledger's entries go: a file or a database table.
type store interface {
	// commit chains batch after the entry seq (hash last) — the head as
	// the Ledger knows it; a store that other processes append to reads
	// its own — writes it, and returns the new head. It sets each
	// request's entry (or err). A non-nil error means the store may not
	// hold what the chain says: every later Append fails with it.
	commit(batch []*request, seq uint64, last string) (uint64, string, error)
	// location is the file, or the database (password hidden).
	location() string
	close() error
}

// Open opens the ledger at path, creating it (mode 0600) if it does not
// exist, and continues its chain: the next entry gets the last entry's seq
// plus one and its hash as prev. Only the last line is read. If it is
// incomplete (a crash in the middle of a write) or does not match its own
// hash, Open fails with an error wrapping ErrCorrupt: appending after it
// would chain new entries to a broken one, and a ledger is never rewritten.
//
// On Unix the file is locked (flock) while open: a second Open, by this or
// another process, fails instead of interleaving two chains. Readers (Read,
// Verify) do not lock and need no lock.
//
// A path that is a PostgreSQL URL (postgres://… or postgresql://…, see
// IsDatabase) opens a database ledger, as OpenLocation does, with one
// minute to connect.
func Open(path string) (*Ledger, error) {
	if IsDatabase(path) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return OpenLocation(ctx, path)
	}
	if looksLikeKeywordDSN(path) {
		return nil, fmt.Errorf("ledger: %q looks like a PostgreSQL connection string in key=value form: give a URL, postgres://user@host:port/database?sslmode=…",
			keywordPassword.ReplaceAllString(path, "password=xxxxx"))
	}
	fst, seq, last, err := openFile(path)
	if err != nil {
		return nil, err
	}
	return start(fst, seq, last), nil
}

// OpenLocation opens the ledger at loc: a file path (as Open does), or a
// PostgreSQL URL, postgres://user:password@host:port/database?options or
// postgresql://… (see IsDatabase), where the ledger is the table
// infraplane_ledger (TableName), created if missing. ctx bounds the
// opening only (connecting, creating the table, reading its last row).
//
// Any number of Ledgers, in any number of processes, may append to the
// same database ledger at once (controller replicas): each append is a
// transaction that takes a lock on the ledger, reads its last row and
// chains after it, so they form one chain. The password can also come
// from PGPASSWORD or a .pgpass file, and TLS settings from the URL
// (sslmode, sslrootcert…) or PG* variables, as for psql.
func OpenLocation(ctx context.Context, loc string) (*Ledger, error) {
	if !IsDatabase(loc) {
		return Open(loc)
	}
	ps, seq, last, err := openPG(ctx, loc)
	if err != nil {
		return nil, err
	}
	return start(ps, seq, last), nil
}

var keywordPassword = regexp.MustCompile(`password=\S*`)

// looksLikeKeywordDSN reports whether loc is a key=value connection
// string ("host=db dbname=infra user=x"), which Open would otherwise take
// for a file name.
func looksLikeKeywordDSN(loc string) bool {
	if !strings.Contains(loc, "=") || !strings.Contains(loc, " ") {
		return false
	}
	for _, f := range strings.Fields(loc) {
		k, _, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return false
		case k == "host" || k == "dbname" || k == "user" || k == "port" || k == "password" || k == "sslmode":
		default:
			return false
		}
	}
	return true
}

func start(s store, seq uint64, last string) *Ledger {
	l := &Ledger{store: s, seq: seq, last: last, stopped: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	go l.run()
	return l
}

// Path is the ledger's file; for a database ledger, the same as Location.
func (l *Ledger) Path() string { return l.store.location() }

// Location is the ledger's file, or its database's URL with the password
// hidden (RedactLocation): for messages.
func (l *Ledger) Location() string { return l.store.location() }

// Head returns the seq and hash of the last entry written (0 and "" for an
// empty ledger). Publishing the hash somewhere else (a log, a ticket) pins
// the history up to it: see the package documentation. For a database
// ledger it is the last entry this Ledger wrote, or saw when it opened or
// last appended: other processes may have appended since.
func (l *Ledger) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.last
}

// Append writes e and returns it with Seq, Time, Prev and Hash filled in,
// once it is durable: written and fsynced to the file, or committed to the
// database. The caller fills Type (one of Types), Actor and Summary, and
// whatever else applies; Details keys that look like credentials are
// dropped (see SecretKey).
//
// If ctx ends while the entry waits for the disk, Append returns ctx's
// error, and the entry may still be written. After a failed write the
// ledger removes what it partly wrote and goes on; after a failed fsync, or
// a failed clean-up, every later Append fails: the file may not hold what
// the chain says it does. A database ledger rolls a failed transaction
// back and goes on (it tries once more on a new connection when the
// connection was lost).
func (l *Ledger) Append(ctx context.Context, e Entry) (Entry, error) {
	e, err := prepare(e)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		appendErrorsTotal.Inc()
		return Entry{}, err
	}
	r := &request{entry: e, done: make(chan struct{})}
	l.mu.Lock()
	switch {
	case l.closing:
		err = ErrClosed
	case l.broken != nil:
		err = l.broken
	default:
		l.queue = append(l.queue, r)
		l.cond.Signal()
	}
	l.mu.Unlock()
	if err != nil {
		appendErrorsTotal.Inc()
		return Entry{}, err
	}
	select {
	case <-r.done:
		if r.err != nil {
			appendErrorsTotal.Inc()
			return Entry{}, r.err
		}
		entriesTotal.WithLabelValues(string(r.entry.Type)).Inc()
		return r.entry, nil
	case <-ctx.Done():
		appendErrorsTotal.Inc()
		return Entry{}, fmt.Errorf("ledger: stopped waiting for the disk (the entry is queued and may still be written): %w", ctx.Err())
	}
}

// run is the writer: it takes whatever is queued, has the store write it
// (one write and one fsync, or one transaction), and wakes the appenders.
// It alone changes seq and last after Open.
func (l *Ledger) run() {
	defer close(l.stopped)
	l.mu.Lock()
	for {
		for len(l.queue) == 0 && !l.closing {
			l.cond.Wait()
		}
		if len(l.queue) == 0 {
			l.mu.Unlock()
			return
		}
		batch := l.queue
		l.queue = nil
		seq, last, broken := l.seq, l.last, l.broken
		l.mu.Unlock()

		if broken == nil {
			seq, last, broken = l.store.commit(batch, seq, last)
		} else {
			for _, r := range batch {
				r.err = broken
			}
		}

		l.mu.Lock()
		// Head must show an entry by the time its Append returns.
		l.seq, l.last, l.broken = seq, last, broken
		for _, r := range batch {
			close(r.done)
		}
	}
}

// chain fills in Seq, Time, Prev and Hash of the batch's entries, after
// the entry seq (hash last), and their lines. It returns the requests it
// chained (the others have err set: they could not be encoded) and the new
// head.
func chain(batch []*request, seq uint64, last string) ([]*request, uint64, string) {
	var chained []*request
	for _, r := range batch {
		r.err, r.line = nil, nil
		e := r.entry
		e.Seq, e.Time, e.Prev = seq+1, time.Now().UTC(), last
		line, hash, err := encodeLine(e)
		if err != nil {
			r.err = err
			continue
		}
		e.Hash = hash
		r.entry, r.line = e, line
		seq, last = e.Seq, hash
		chained = append(chained, r)
	}
	return chained, seq, last
}

// Close writes what is queued, then closes the file (releasing its lock)
// or the database connection. Append fails with ErrClosed afterwards.
// Close is idempotent.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		l.cond.Broadcast()
		l.mu.Unlock()
		<-l.stopped
		l.closeErr = l.store.close()
	})
	return l.closeErr
}
