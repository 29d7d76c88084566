package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
)

// logRoot is where every logger of the process writes (ours, controller-
// runtime's, klog's). It can be pointed elsewhere later: `up` adds its log
// file once it holds the data dir, and controller-runtime keeps the first
// logger it was given, so swapping the target is the only way to move it.
var logRoot atomic.Pointer[slog.Handler]

// switchHandler forwards to logRoot, replaying its WithAttrs/WithGroup.
type switchHandler struct {
	ops []func(slog.Handler) slog.Handler
}

func (s switchHandler) target() slog.Handler {
	p := logRoot.Load()
	if p == nil {
		return slog.DiscardHandler
	}
	h := *p
	for _, op := range s.ops {
		h = op(h)
	}
	return h
}

func (s switchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	p := logRoot.Load()
	return p != nil && (*p).Enabled(ctx, l) // attributes do not change Enabled
}

func (s switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.target().Handle(ctx, r)
}

func (s switchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return switchHandler{ops: append(slices.Clip(s.ops), func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })}
}

func (s switchHandler) WithGroup(name string) slog.Handler {
	return switchHandler{ops: append(slices.Clip(s.ops), func(h slog.Handler) slog.Handler { return h.WithGroup(name) })}
}

// setupLogging routes our logs, controller-runtime's and klog's through one
// slog handler on stderr. `up` shows only warnings and errors there unless
// --log-level is given: its info lines go to its log file (upLogFile).
func setupLogging(g *globalFlags, cmd *cobra.Command) error {
	if err := g.level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if g.logFormat != "text" && g.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, not %q", g.logFormat)
	}
	g.explicitLevel = cmd.Flags().Changed("log-level")
	level := g.level
	if cmd.Name() == "up" && !g.explicitLevel {
		level = max(level, slog.LevelWarn)
	}
	g.terminal = g.handler(os.Stderr, level)
	logRoot.Store(&g.terminal)
	h := switchHandler{}
	slog.SetDefault(slog.New(h))
	ctrl.SetLogger(logr.FromSlogHandler(shutdownNoise{h}))
	klog.SetLogger(logr.FromSlogHandler(h).V(1))
	return nil
}

func (g *globalFlags) handler(w io.Writer, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// upLogFile makes path (the previous run's kept as path.1) receive the logs
// at info level (or the --log-level given, if lower), next to the terminal.
func upLogFile(g *globalFlags, path string) (io.Closer, error) {
	if err := os.Rename(path, path+".1"); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	var both slog.Handler = tee{g.terminal, g.handler(f, min(g.level, slog.LevelInfo))}
	logRoot.Store(&both)
	return closerFunc(func() error {
		logRoot.Store(&g.terminal) // nothing may write to a closed file
		return f.Close()
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// tee writes each record to every handler that wants its level.
type tee []slog.Handler

func (t tee) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range t {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (t tee) Handle(ctx context.Context, r slog.Record) error {
	var first error
	for _, h := range t {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r.Clone()); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (t tee) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(tee, len(t))
	for i, h := range t {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (t tee) WithGroup(name string) slog.Handler {
	out := make(tee, len(t))
	for i, h := range t {
		out[i] = h.WithGroup(name)
	}
	return out
}
