package kubecheckpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/scheme"
)

func hash(b byte) string { return strings.Repeat(string(b), 64) }

// One test against the embedded API server (every start costs seconds):
// the ConfigMap only moves forward, replicas publishing at once leave the
// latest head, a second hash for a seq is refused, and a Publisher's
// checkpoint shows a ledger cut short.
func TestConfigMapCheckpoint(t *testing.T) {
	ctx := t.Context()
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cp.Stop(sctx)
	})
	c, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultNamespace}}); err != nil {
		t.Fatal(err)
	}
	sink := New(c, DefaultNamespace)
	stored := func() ledger.Checkpoint {
		t.Helper()
		var got []ledger.Checkpoint
		for cp, err := range sink.Checkpoints(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, cp)
		}
		if len(got) != 1 {
			t.Fatalf("%d checkpoints", len(got))
		}
		return got[0]
	}
	publish := func(seq uint64, h string) error {
		return sink.PublishCheckpoint(ctx, ledger.Checkpoint{Seq: seq, Hash: h, Time: time.Now(), Ledger: "/data/ledger.jsonl"})
	}

	t.Run("forward only", func(t *testing.T) {
		for _, s := range []uint64{3, 2, 5, 4} {
			if err := publish(s, hash(byte('a'+s))); err != nil {
				t.Fatalf("seq %d: %v", s, err)
			}
		}
		if got := stored(); got.Seq != 5 || got.Hash != hash('f') || got.Ledger != "/data/ledger.jsonl" {
			t.Fatalf("stored %+v", got)
		}
		err := publish(5, hash('x'))
		if !errors.Is(err, ledger.ErrCheckpointMismatch) || !strings.Contains(err.Error(), "holds hash "+hash('f')+" for seq 5") {
			t.Fatalf("another hash for seq 5: %v", err)
		}
	})

	t.Run("replicas at once", func(t *testing.T) {
		// Two replicas of one database ledger, each publishing the heads it
		// sees, interleaved: the ConfigMap ends at the highest.
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for r := range 2 {
			wg.Go(func() {
				for s := uint64(10 + r); s < 50; s += 2 {
					if err := publish(s, hash(byte('a'+s%26))); err != nil {
						errs <- fmt.Errorf("replica %d, seq %d: %w", r, s, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := stored(); got.Seq != 49 {
			t.Fatalf("stored seq %d, want 49", got.Seq)
		}
	})

	t.Run("publisher and verify", func(t *testing.T) {
		if err := c.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: DefaultNamespace, Name: Name}}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), ledger.FileName)
		l, err := ledger.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i := range 5 {
			if _, err := l.Append(ctx, ledger.Entry{Type: ledger.TypeDirectEdit, Actor: "alice", Summary: fmt.Sprint("edit ", i)}); err != nil {
				t.Fatal(err)
			}
		}
		// The manager stopping: the Publisher publishes the head on its way
		// out.
		pctx, stop := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- Publisher{Ledger: l, Sink: sink, Interval: time.Hour}.Start(pctx) }()
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		seq, head := l.Head()
		if got := stored(); got.Seq != seq || got.Hash != head || got.Ledger != path {
			t.Fatalf("stored %+v, head %d %s", got, seq, head)
		}
		l.Close()

		src := []ledger.CheckpointSource{sink}
		rep, err := ledger.VerifyWith(ctx, path, ledger.VerifyOptions{Checkpoints: src})
		if err != nil || !rep.OK() || !strings.Contains(rep.String(), "checkpoint ConfigMap infraplane-system/infraplane-ledger-checkpoint: matches (seq 5") {
			t.Fatalf("verify: %v\n%s", err, rep)
		}
		// Two lines cut off the end.
		data, _ := os.ReadFile(path)
		lines := strings.SplitAfter(string(data), "\n")
		os.WriteFile(path, []byte(strings.Join(lines[:3], "")), 0o600)
		rep, err = ledger.VerifyWith(ctx, path, ledger.VerifyOptions{Checkpoints: src})
		if err != nil || rep.Problem == nil || rep.Problem.Kind != ledger.ProblemTail ||
			!strings.Contains(rep.Problem.Detail, "ConfigMap infraplane-system/infraplane-ledger-checkpoint recorded seq 5") {
			t.Fatalf("verify after the cut: %v\n%s", err, rep)
		}
		t.Log(rep)
	})
}
