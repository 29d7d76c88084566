package ledger

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"
)

// Checkpoint is a ledger's head published outside the ledger: the seq and
// hash of its last entry, and when it was published. Whoever rewrites the
// ledger (even with the key) or cuts entries off its end cannot make it
// match a checkpoint published earlier where they cannot write.
type Checkpoint struct {
	Seq  uint64
	Hash string
	// Time is when it was published.
	Time time.Time
	// Ledger is the ledger's location (Ledger.Location), for people.
	Ledger string
}

// CheckpointSink keeps checkpoints where the ledger's writer cannot
// silently change them: a Kubernetes object, a table another role writes.
type CheckpointSink interface {
	// PublishCheckpoint records c. A sink that keeps only the latest
	// checkpoint keeps a later one it holds (checkpoints only move
	// forward: several writers of one ledger publish each its own head).
	// The error wraps ErrCheckpointMismatch when the sink holds another
	// hash for c.Seq.
	PublishCheckpoint(ctx context.Context, c Checkpoint) error
	// String says where, for messages.
	String() string
}

// CheckpointSource gives the checkpoints Verify compares the ledger with.
type CheckpointSource interface {
	// Checkpoints yields the checkpoints in seq order (equal seqs in any
	// order); an error ends them.
	Checkpoints(ctx context.Context) iter.Seq2[Checkpoint, error]
	// String says where, for messages.
	String() string
}

// ErrCheckpointMismatch is wrapped by PublishCheckpoint's error when the
// sink holds another hash for the same seq: the ledger (or the sink) was
// rewritten, or a new ledger was started in the old one's place.
var ErrCheckpointMismatch = errors.New("ledger: the checkpoint does not match the ledger")

// DefaultCheckpointInterval is how often a moved head is published.
const DefaultCheckpointInterval = 5 * time.Second

// publishTimeout bounds one publication, and the last one after the
// publisher was stopped.
const publishTimeout = 10 * time.Second

// PublishCheckpoints publishes the ledger's head to sink now, then every
// interval (0: DefaultCheckpointInterval) if it moved since the last
// publication that succeeded, until ctx ends, and then once more. Failures
// are logged (once until the next success) and retried at the next tick;
// a mismatch is logged as an error every time. Run it where it can run to
// the end: the last publication happens after ctx ended.
func (l *Ledger) PublishCheckpoints(ctx context.Context, sink CheckpointSink, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	var published Checkpoint
	failing := false
	publish := func(ctx context.Context) {
		seq, hash := l.Head()
		if seq == 0 || (seq == published.Seq && hash == published.Hash) {
			return
		}
		c := Checkpoint{Seq: seq, Hash: hash, Time: time.Now().UTC(), Ledger: l.Location()}
		// A publication under way when ctx ends finishes: the last one
		// would publish the same head.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
		defer cancel()
		err := sink.PublishCheckpoint(pctx, c)
		switch {
		case err == nil:
			if failing {
				slog.Info("audit ledger: checkpoint published again", "sink", sink.String(), "seq", seq)
			}
			published, failing = c, false
		case errors.Is(err, ErrCheckpointMismatch):
			slog.Error("audit ledger: the checkpoint does not match the ledger: check it with `infraplane audit --verify`",
				"sink", sink.String(), "seq", seq, "hash", hash, "err", err)
			failing = true
		case !failing:
			slog.Warn("audit ledger: publishing a checkpoint failed (retrying while it fails, logged again when it works)",
				"sink", sink.String(), "seq", seq, "err", err)
			failing = true
		}
	}
	publish(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			publish(ctx)
		case <-ctx.Done():
			publish(ctx)
			return
		}
	}
}

// String describes c for people.
func (c Checkpoint) String() string {
	return fmt.Sprintf("seq %d, hash %s, published %s", c.Seq, c.Hash, c.Time.UTC().Format(time.RFC3339))
}
