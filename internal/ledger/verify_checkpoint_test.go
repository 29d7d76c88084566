package ledger

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memCheckpoints keeps every checkpoint published to it, in memory.
type memCheckpoints struct {
	mu  sync.Mutex
	cps []Checkpoint
	err error // what reading them fails with
}

func (m *memCheckpoints) PublishCheckpoint(_ context.Context, c Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, old := range m.cps {
		if old.Seq == c.Seq && old.Hash != c.Hash {
			return fmt.Errorf("%w: seq %d", ErrCheckpointMismatch, c.Seq)
		}
	}
	m.cps = append(m.cps, c)
	return nil
}

func (m *memCheckpoints) Checkpoints(context.Context) iter.Seq2[Checkpoint, error] {
	m.mu.Lock()
	cps := slices.Clone(m.cps)
	m.mu.Unlock()
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return int(a.Seq) - int(b.Seq) })
	return func(yield func(Checkpoint, error) bool) {
		for _, c := range cps {
			if !yield(c, nil) {
				return
			}
		}
		if m.err != nil {
			yield(Checkpoint{}, m.err)
		}
	}
}

func (m *memCheckpoints) String() string { return "test sink" }

func (m *memCheckpoints) last() Checkpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cps) == 0 {
		return Checkpoint{}
	}
	return m.cps[len(m.cps)-1]
}

// fileLines are the lines of a ledger file, without newlines.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// checkpointed writes n entries to a keyed ledger that publishes to a
// memCheckpoints, closes it (which publishes its head) and returns them.
func checkpointed(t *testing.T, keys *Keys, n int) (string, []Entry, *memCheckpoints) {
	t.Helper()
	sink := &memCheckpoints{}
	path := t.TempDir() + "/" + FileName
	l, err := OpenWith(context.Background(), path, Options{Keys: keys, Checkpoints: []CheckpointSink{sink}, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	es := appendN(t, l, 1, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if c := sink.last(); c.Seq != uint64(n) || c.Hash != es[n-1].Hash || c.Ledger != path || c.Time.IsZero() {
		t.Fatalf("the last checkpoint: %+v", c)
	}
	return path, es, sink
}

// Whole lines cut off the end leave an intact, authenticated chain: the
// checkpoint shows they are gone.
func TestVerifyCheckpointTruncatedTail(t *testing.T) {
	keys := testKeys(t, "k1")
	path, es, sink := checkpointed(t, keys, 6)
	rep := verifyWith(t, path, VerifyOptions{Keys: keys, Checkpoints: []CheckpointSource{sink}})
	if !rep.OK() || rep.Checkpoints[0].Matched != 1 || !strings.Contains(rep.String(), "checkpoint test sink: matches (seq 6, hash "+es[5].Hash) {
		t.Fatalf("before: %s", rep)
	}

	writeLines(t, path, fileLines(t, path)[:4], true)
	if rep := verifyWith(t, path, VerifyOptions{Keys: keys}); !rep.OK() {
		t.Fatalf("without checkpoints the cut does not show, yet: %s", rep)
	}
	rep = verifyWith(t, path, VerifyOptions{Keys: keys, Checkpoints: []CheckpointSource{sink}})
	p := rep.Problem
	if p == nil || p.Kind != ProblemTail || p.Line != 4 || p.Seq != 4 || rep.Entries != 4 ||
		!strings.Contains(p.Detail, "test sink recorded seq 6 (hash "+es[5].Hash+")") || !strings.Contains(p.Detail, "entries 5 to 6 were removed") {
		t.Fatalf("cut: %s", rep)
	}
	if s := rep.String(); !strings.HasPrefix(s, "ledger BROKEN at the end, after line 4 (seq 4): truncated tail") ||
		!strings.Contains(s, "its entries up to seq 4 (hash "+es[3].Hash+") are intact; those after them are gone") {
		t.Fatalf("report:\n%s", s)
	}

	// Everything cut.
	writeLines(t, path, nil, false)
	rep = verifyWith(t, path, VerifyOptions{Keys: keys, Checkpoints: []CheckpointSource{sink}})
	if p := rep.Problem; p == nil || p.Kind != ProblemTail || !strings.HasPrefix(rep.String(), "ledger BROKEN at the end: truncated tail") {
		t.Fatalf("emptied: %s", rep)
	}
}

// A ledger rewritten without MACs (a ledger from before keys, or verified
// without the key) does not match its checkpoints.
func TestVerifyCheckpointRewritten(t *testing.T) {
	path, es, sink := checkpointed(t, nil, 6)
	// A checkpoint in the middle too.
	sink.PublishCheckpoint(context.Background(), Checkpoint{Seq: 3, Hash: es[2].Hash, Time: time.Now()})
	es = slices.Clone(es)
	es[1].Actor = "mallory"
	writeLines(t, path, forge(t, es, 1, noMAC), true)
	if rep := mustVerify(t, path); !rep.OK() {
		t.Fatalf("the forger's chain: %s", rep)
	}
	rep := verifyWith(t, path, VerifyOptions{Checkpoints: []CheckpointSource{sink}})
	p := rep.Problem
	if p == nil || p.Kind != ProblemCheckpoint || p.Line != 3 || p.Seq != 3 || rep.Entries != 2 ||
		!strings.Contains(p.Detail, "test sink recorded hash "+es[2].Hash+" for seq 3") || !strings.Contains(p.Detail, "rewritten at or before this entry") {
		t.Fatalf("rewritten: %s", rep)
	}
}

// A source that cannot be read is reported as not checked, not as a
// problem; checkpoints read before the failure still count.
func TestVerifyCheckpointUnreadable(t *testing.T) {
	path, _, sink := checkpointed(t, nil, 2)
	sink.err = errors.New("connection refused")
	rep := verifyWith(t, path, VerifyOptions{Checkpoints: []CheckpointSource{sink}})
	if !rep.OK() || rep.Checkpoints[0].Matched != 1 || !strings.Contains(rep.String(), "checkpoint test sink: 1 matched (the last: seq 2") ||
		!strings.Contains(rep.String(), "then NOT CHECKED: connection refused") {
		t.Fatalf("%s", rep)
	}
	rep = verifyWith(t, path, VerifyOptions{Checkpoints: []CheckpointSource{&memCheckpoints{err: errors.New("no route to host")}}})
	if !rep.OK() || !strings.Contains(rep.String(), "checkpoint test sink: NOT CHECKED: no route to host") {
		t.Fatalf("%s", rep)
	}
}

// Verifying a ledger that grows, and whose checkpoints move, while it is
// read: a checkpoint is never taken for one beyond the ledger's end.
func TestVerifyCheckpointWhileAppending(t *testing.T) {
	keys := testKeys(t, "k1")
	sink := &memCheckpoints{}
	path := t.TempDir() + "/" + FileName
	l, err := OpenWith(context.Background(), path, Options{Keys: keys, Checkpoints: []CheckpointSink{sink}, CheckpointInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 300 {
			if _, err := l.Append(context.Background(), entry(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		rep, err := VerifyWith(context.Background(), path, VerifyOptions{Keys: keys, Checkpoints: []CheckpointSource{sink}})
		if err != nil {
			t.Fatal(err)
		}
		// A line being written is not a problem of the ledger's content.
		if rep.Problem != nil && rep.Problem.Kind != ProblemTruncated {
			t.Fatalf("while appending: %s", rep)
		}
	}
}
