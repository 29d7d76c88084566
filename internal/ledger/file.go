package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// fileStore is a ledger in a file: JSON Lines, appended with O_APPEND and
// fsynced, locked (flock) while open.
type fileStore struct {
	path string
	f    *os.File
	size int64 // bytes of complete entries in the file; the writer's
	keys *Keys // sign new entries
}

// openFile opens (creating) and locks the file at path and returns it with
// its last entry (zero for an empty ledger).
func openFile(path string, keys *Keys) (*fileStore, Entry, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, Entry{}, fmt.Errorf("ledger: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, Entry{}, fmt.Errorf("ledger %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Entry{}, fmt.Errorf("ledger: %w", err)
	}
	s := &fileStore{path: path, f: f, size: st.Size(), keys: keys}
	var tail Entry
	if s.size == 0 {
		// The file may be new: make its directory entry durable too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, Entry{}, fmt.Errorf("ledger: %w", err)
		}
	} else if tail, err = readTail(f, s.size, keys); err != nil {
		f.Close()
		return nil, Entry{}, fmt.Errorf("%w: %s: %v; check it with `infraplane audit --verify --ledger %s`. "+
			"infraplane never rewrites a ledger: keep this file as evidence and move it aside to start a new one, "+
			"or remove the damaged last line by hand", ErrCorrupt, path, err, path)
	}
	return s, tail, nil
}

// readTail returns the last entry of a ledger of size bytes, after
// checking its line (and its MAC, if it is of one of keys).
func readTail(f *os.File, size int64, keys *Keys) (Entry, error) {
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return Entry{}, err
	}
	if last[0] != '\n' {
		return Entry{}, errors.New("the last line is incomplete (no newline at the end: a write was interrupted, e.g. by a crash)")
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
			return Entry{}, err
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
		return Entry{}, fmt.Errorf("the last line (at byte %d): %v", start, err)
	}
	if e.Seq == 0 {
		return Entry{}, fmt.Errorf("the last line (at byte %d) has no seq", start)
	}
	if keys.checkMAC(e) == macWrong {
		return Entry{}, fmt.Errorf("the last line (at byte %d, seq %d): %s", start, e.Seq, wrongMAC(e))
	}
	return e, nil
}

// wrongMAC says what a MAC that does not match means.
func wrongMAC(e Entry) string {
	return fmt.Sprintf("its MAC (key %s) does not match: the entry, or one before it, was changed and re-hashed without the key", macKeyID(e.MAC))
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

func (s *fileStore) location() string { return s.path }

func (s *fileStore) close() error { return s.f.Close() }

// commit writes batch after the entry seq (hash last) with one write and
// one fsync. The file has one appender (the lock): the head the Ledger
// knows is the file's.
func (s *fileStore) commit(batch []*request, seq uint64, last string) (uint64, string, error) {
	oldSeq, oldLast := seq, last
	written, seq, last := chain(batch, seq, last, s.keys)
	if len(written) == 0 {
		return seq, last, nil
	}
	buf := make([]byte, 0, 512*len(written))
	for _, r := range written {
		buf = append(buf, r.line...)
	}
	fail := func(err error) {
		for _, r := range written {
			r.err = err
		}
	}
	if _, err := s.f.Write(buf); err != nil {
		err = fmt.Errorf("ledger %s: writing entries %d to %d: %w", s.path, oldSeq+1, seq, err)
		fail(err)
		// Remove our partial line, if any, so the file ends with a
		// complete entry again. Only bytes this call wrote are removed.
		if terr := s.f.Truncate(s.size); terr != nil {
			return oldSeq, oldLast, fmt.Errorf("%w; removing the partial write failed too (%v): no more appends until the ledger is checked", err, terr)
		}
		if serr := s.f.Sync(); serr != nil {
			return oldSeq, oldLast, fmt.Errorf("%w; fsync after removing the partial write failed (%v): no more appends until the ledger is checked", err, serr)
		}
		return oldSeq, oldLast, nil
	}
	if err := s.f.Sync(); err != nil {
		err = fmt.Errorf("ledger %s: fsync of entries %d to %d failed, they may not be on disk: no more appends until the ledger is checked: %w", s.path, oldSeq+1, seq, err)
		fail(err)
		return oldSeq, oldLast, err
	}
	s.size += int64(len(buf))
	return seq, last, nil
}
