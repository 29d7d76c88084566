package cli

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
)

// shutdownNoise passes controller-runtime's logs through, except one: with
// leader election, a clean stop (Ctrl-C, a rolling update) ends the lease
// on purpose, and controller-runtime then logs "leader election lost" as
// an error. That is said as what it is, at info level.
//
// Once up has begun to stop its controllers (ctrlStopping), their errors
// are the stop cancelling informers and reconciles mid-way: they go to
// info (up's log file), not to the terminal as errors.
type shutdownNoise struct{ slog.Handler }

var ctrlStopping atomic.Bool

func (h shutdownNoise) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && r.Message == "error received after stop sequence was engaged" {
		lost := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" && strings.Contains(a.Value.String(), "leader election lost") {
				lost = true
			}
			return !lost
		})
		if lost {
			if !h.Enabled(ctx, slog.LevelInfo) {
				return nil
			}
			return h.Handler.Handle(ctx, slog.NewRecord(r.Time, slog.LevelInfo, "released the leader election lease on stopping", r.PC))
		}
	}
	if r.Level >= slog.LevelError && ctrlStopping.Load() {
		if !h.Enabled(ctx, slog.LevelInfo) {
			return nil
		}
		nr := slog.NewRecord(r.Time, slog.LevelInfo, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { nr.AddAttrs(a); return true })
		r = nr
	}
	return h.Handler.Handle(ctx, r)
}

func (h shutdownNoise) WithAttrs(as []slog.Attr) slog.Handler {
	return shutdownNoise{h.Handler.WithAttrs(as)}
}

func (h shutdownNoise) WithGroup(name string) slog.Handler {
	return shutdownNoise{h.Handler.WithGroup(name)}
}
