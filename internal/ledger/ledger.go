package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	// incomplete or does not match its hash.
	ErrCorrupt = errors.New("ledger: corrupt")
)

// Ledger appends entries to a file. It is safe for concurrent use; entries
// appended concurrently are written together (one write and one fsync per
// batch), in the order Append was called.
type Ledger struct {
	path    string
	f       *os.File
	stopped chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*request
	closing bool
	broken  error  // set when the file may not hold what we think: no more appends
	seq     uint64 // the last entry written
	last    string // its hash
	size    int64  // bytes of complete entries in the file

	closeOnce sync.Once
	closeErr  error
}

type request struct {
	entry Entry
	err   error
	done  chan struct{}
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
func Open(path string) (*Ledger, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	l := &Ledger{path: path, f: f, size: st.Size(), stopped: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	if l.size == 0 {
		// The file may be new: make its directory entry durable too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("ledger: %w", err)
		}
	} else if l.seq, l.last, err = readTail(f, l.size); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v; check it with `infraplane audit --verify --ledger %s`. "+
			"infraplane never rewrites a ledger: keep this file as evidence and move it aside to start a new one, "+
			"or remove the damaged last line by hand", ErrCorrupt, path, err, path)
	}
	go l.run()
	return l, nil
}

// readTail returns the seq and hash of the last line of a ledger of size
// bytes, after checking that line.
func readTail(f *os.File, size int64) (uint64, string, error) {
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, "", err
	}
	if last[0] != '\n' {
		return 0, "", errors.New("the last line is incomplete (no newline at the end: a write was interrupted, e.g. by a crash)")
	}
	// Read backwards, a block at a time, to the newline before the last line.
	const block = 4096
	end := size - 1 // the last line is [start, end)
	var tail []byte
	start := end
	for start > 0 {
		n := min(int64(block), start)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, start-n); err != nil && !errors.Is(err, io.EOF) {
			return 0, "", err
		}
		tail = append(buf, tail...)
		start -= n
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			tail = tail[i+1:]
			start += int64(i) + 1
			break
		}
	}
	line := tail[:end-start]
	e, err := decodeLine(line)
	if err != nil {
		return 0, "", fmt.Errorf("the last line (at byte %d): %v", start, err)
	}
	if e.Seq == 0 {
		return 0, "", fmt.Errorf("the last line (at byte %d) has no seq", start)
	}
	return e.Seq, e.Hash, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

// Head returns the seq and hash of the last entry written (0 and "" for an
// empty ledger). Publishing the hash somewhere else (a log, a ticket) pins
// the history up to it: see the package documentation.
func (l *Ledger) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.last
}

// Append writes e and returns it with Seq, Time, Prev and Hash filled in,
// once it is on disk (written and fsynced). The caller fills Type (one of
// Types), Actor and Summary, and whatever else applies; Details keys that
// look like credentials are dropped (see SecretKey).
//
// If ctx ends while the entry waits for the disk, Append returns ctx's
// error, and the entry may still be written. After a failed write the
// ledger removes what it partly wrote and goes on; after a failed fsync, or
// a failed clean-up, every later Append fails: the file may not hold what
// the chain says it does.
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

// run is the writer: it takes whatever is queued, writes it with one write
// and one fsync, and wakes the appenders. It alone changes seq, last and
// size after Open.
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
		seq, last, size, broken := l.seq, l.last, l.size, l.broken
		l.mu.Unlock()

		if broken == nil {
			seq, last, size, broken = l.commit(batch, seq, last, size)
		} else {
			for _, r := range batch {
				r.err = broken
			}
		}

		l.mu.Lock()
		// Head must show an entry by the time its Append returns.
		l.seq, l.last, l.size, l.broken = seq, last, size, broken
		for _, r := range batch {
			close(r.done)
		}
	}
}

// commit writes batch after the entry seq (hash last), size bytes into the
// file, and returns the new state. It sets each request's entry or error.
func (l *Ledger) commit(batch []*request, seq uint64, last string, size int64) (uint64, string, int64, error) {
	oldSeq, oldLast := seq, last
	buf := make([]byte, 0, 512*len(batch))
	var written []*request
	for _, r := range batch {
		e := r.entry
		e.Seq, e.Time, e.Prev = seq+1, time.Now().UTC(), last
		line, hash, err := encodeLine(e)
		if err != nil {
			r.err = err
			continue
		}
		e.Hash = hash
		r.entry = e
		seq, last = e.Seq, hash
		buf = append(buf, line...)
		written = append(written, r)
	}
	if len(buf) == 0 {
		return seq, last, size, nil
	}
	fail := func(err error) {
		for _, r := range written {
			r.err = err
		}
	}
	if _, err := l.f.Write(buf); err != nil {
		err = fmt.Errorf("ledger %s: writing entries %d to %d: %w", l.path, oldSeq+1, seq, err)
		fail(err)
		// Remove our partial line, if any, so the file ends with a
		// complete entry again. Only bytes this call wrote are removed.
		if terr := l.f.Truncate(size); terr != nil {
			return oldSeq, oldLast, size, fmt.Errorf("%w; removing the partial write failed too (%v): no more appends until the ledger is checked", err, terr)
		}
		if serr := l.f.Sync(); serr != nil {
			return oldSeq, oldLast, size, fmt.Errorf("%w; fsync after removing the partial write failed (%v): no more appends until the ledger is checked", err, serr)
		}
		return oldSeq, oldLast, size, nil
	}
	if err := l.f.Sync(); err != nil {
		err = fmt.Errorf("ledger %s: fsync of entries %d to %d failed, they may not be on disk: no more appends until the ledger is checked: %w", l.path, oldSeq+1, seq, err)
		fail(err)
		return oldSeq, oldLast, size, err
	}
	return seq, last, size + int64(len(buf)), nil
}

// Close writes what is queued, then closes the file (releasing its lock).
// Append fails with ErrClosed afterwards. Close is idempotent.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		l.cond.Broadcast()
		l.mu.Unlock()
		<-l.stopped
		l.closeErr = l.f.Close()
	})
	return l.closeErr
}
