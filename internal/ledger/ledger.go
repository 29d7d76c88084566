package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
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

	// Checkpoint publishers started by OpenWith: stopped (after a last
	// publication) by Close, before the store closes.
	publishStop context.CancelFunc
	publishing  sync.WaitGroup
	owned       []io.Closer // sinks OpenWith made

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*request
	closing bool
	broken  error  // set when the store may not hold what we think: no more appends
	seq     uint64 // the last entry written (or, in a database, seen)
	last    string // its hash

	// late are outcomes of cloud writes waiting for the ledger to take
	// entries again (auditor.go).
	late lateOutcomes

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
	// its own — signs it with the store's keys, writes it, and returns
	// the new head. It sets each request's entry (or err). A non-nil
	// error means the store may not hold what the chain says: every later
	// Append fails with it.
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return OpenWith(ctx, path, Options{})
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
// (sslmode, sslrootcert…) or PG* variables, as for psql. A database
// ledger publishes its checkpoints to the table
// infraplane_ledger_checkpoint of the same database (see OpenWith and
// Options.CheckpointDatabase).
func OpenLocation(ctx context.Context, loc string) (*Ledger, error) {
	return OpenWith(ctx, loc, Options{})
}

// Options are OpenWith's.
type Options struct {
	// Keys sign every new entry (a mac member; see the package
	// documentation). Nil: entries carry no MAC, and anyone who can write
	// the ledger can rewrite it undetectably but for checkpoints.
	Keys *Keys
	// Checkpoints receive the ledger's head (Checkpoint) every
	// CheckpointInterval when it moved, and on Close. The Ledger does not
	// close them.
	Checkpoints []CheckpointSink
	// CheckpointDatabase is a PostgreSQL URL whose table
	// infraplane_ledger_checkpoint receives checkpoints too (see
	// PGCheckpoints), on a connection of its own: give a role that may only
	// SELECT and INSERT there. A database ledger defaults to its own URL;
	// "-" publishes none there.
	CheckpointDatabase string
	// CheckpointInterval is how often the head is checked for moving; 0
	// means DefaultCheckpointInterval.
	CheckpointInterval time.Duration
}

// OpenWith opens the ledger at loc (a file or a PostgreSQL URL, as
// OpenLocation does) with options: keys to sign new entries, and
// checkpoint sinks. ctx bounds the opening only.
//
// With Keys, when the ledger's last entry is not signed with the signing
// key (a ledger written before there were keys, or under the previous
// key), OpenWith appends a ledger-key entry signed with it: the ledger
// itself records from which entry on the new key vouches for the chain,
// and a verifier holding the key never sees an unauthenticated last entry
// unless the MACs were removed.
func OpenWith(ctx context.Context, loc string, o Options) (*Ledger, error) {
	var (
		s    store
		tail Entry
		err  error
	)
	switch {
	case IsDatabase(loc):
		s, tail, err = openPG(ctx, loc, o.Keys)
	case looksLikeKeywordDSN(loc):
		return nil, fmt.Errorf("ledger: %q looks like a PostgreSQL connection string in key=value form: give a URL, postgres://user@host:port/database?sslmode=…",
			keywordPassword.ReplaceAllString(loc, "password=xxxxx"))
	default:
		s, tail, err = openFile(loc, o.Keys)
	}
	if err != nil {
		return nil, err
	}
	l := start(s, tail.Seq, tail.Hash)
	if !o.Keys.empty() && tail.Seq > 0 && macKeyID(tail.MAC) != o.Keys.SigningID() {
		before := "entries before it carry no MAC"
		if tail.MAC != "" {
			before = "entries before it are signed with key " + macKeyID(tail.MAC)
		}
		_, err := l.Append(ctx, Entry{
			Type: TypeLedgerKey, Actor: "infraplane",
			Summary: fmt.Sprintf("entries are signed with key %s from here on (%s)", o.Keys.SigningID(), before),
			Details: map[string]string{"signer": o.Keys.SigningID(), "previousSigner": macKeyID(tail.MAC)},
		})
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("ledger %s: recording the new signing key: %w", s.location(), err)
		}
	}
	sinks := o.Checkpoints
	cpdb := o.CheckpointDatabase
	if cpdb == "" && IsDatabase(loc) {
		cpdb = loc
	}
	if cpdb != "" && cpdb != "-" {
		pc, err := NewPGCheckpoints(cpdb)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.owned = append(l.owned, pc)
		sinks = append(slices.Clip(sinks), pc)
	}
	if len(sinks) > 0 {
		pctx, cancel := context.WithCancel(context.Background())
		l.publishStop = cancel
		for _, sink := range sinks {
			l.publishing.Go(func() { l.PublishCheckpoints(pctx, sink, o.CheckpointInterval) })
		}
	}
	return l, nil
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

// chain fills in Seq, Time, Prev, Hash and (with keys) MAC of the batch's
// entries, after the entry seq (hash last), and their lines. It returns the requests it
// chained (the others have err set: they could not be encoded) and the new
// head.
func chain(batch []*request, seq uint64, last string, keys *Keys) ([]*request, uint64, string) {
	var chained []*request
	for _, r := range batch {
		r.err, r.line = nil, nil
		e := r.entry
		e.Seq, e.Time, e.Prev = seq+1, time.Now().UTC(), last
		line, hash, mac, err := encodeLine(e, keys)
		if err != nil {
			r.err = err
			continue
		}
		e.Hash, e.MAC = hash, mac
		r.entry, r.line = e, line
		seq, last = e.Seq, hash
		chained = append(chained, r)
	}
	return chained, seq, last
}

// Close writes what is queued, publishes the last checkpoint to the sinks
// of OpenWith, then closes the file (releasing its lock) or the database
// connection. Append fails with ErrClosed afterwards. Close is
// idempotent.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		l.cond.Broadcast()
		l.mu.Unlock()
		<-l.stopped
		if l.publishStop != nil {
			l.publishStop()
			l.publishing.Wait()
		}
		for _, c := range l.owned {
			c.Close()
		}
		l.closeErr = l.store.close()
	})
	return l.closeErr
}
