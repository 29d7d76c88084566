package controlplane

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
)

// Messages the API server and etcd log at error level although nothing is
// wrong: start-up races (kube-system not created yet) and the normal end of
// connections. They are demoted to debug.
var benignErrors = []string{
	"manifest file is empty",
	"has no resources",
	`namespaces "kube-system" not found`,
	"Server closed",
	"http: Server closed",
	"use of closed network connection",
	"context canceled",
	// The GC retries on its next discovery round; with a short round (see
	// gcSyncPeriod) a slow first list of a big resource is expected.
	"timed out waiting for dependency graph builder sync",
	// The mutating admission policies' schema cache refreshes every 5 s,
	// so writes of a kind whose CRD was created since are not mutated yet
	// (the controller adds the finalizer instead); `up` warns if the
	// finalizer policy does not take effect at all.
	"no schema for ",
}

// quietHandler sits between the noisy libraries (klog, etcd's zap) and the
// product's slog.Logger. Only real errors keep their level; everything else
// becomes debug so a normal run prints nothing of Kubernetes' own chatter,
// while a debug logger still sees it all.
type quietHandler struct {
	next slog.Handler
	// stopping is set once Stop has begun: shutdown makes every component
	// complain about closed connections and cancelled watches.
	stopping *atomic.Bool
}

func (h *quietHandler) level(l slog.Level, msg string) slog.Level {
	if l < slog.LevelError {
		// logr V(n) arrives as slog level -n; keep higher verbosity below debug.
		if l < 0 {
			return slog.LevelDebug + l
		}
		return slog.LevelDebug
	}
	if h.stopping.Load() {
		return slog.LevelDebug
	}
	for _, s := range benignErrors {
		if strings.Contains(msg, s) {
			return slog.LevelDebug
		}
	}
	return slog.LevelError
}

func (h *quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// The message is unknown here, so an error may only be skipped later.
	if l >= slog.LevelError {
		return true
	}
	return h.next.Enabled(ctx, h.level(l, ""))
}

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	text := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" || a.Key == "error" {
			text += " " + a.Value.String()
		}
		return true
	})
	l := h.level(r.Level, text)
	if !h.next.Enabled(ctx, l) {
		return nil
	}
	nr := slog.NewRecord(r.Time, l, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool { nr.AddAttrs(a); return true })
	return h.next.Handle(ctx, nr)
}

func (h *quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &quietHandler{next: h.next.WithAttrs(attrs), stopping: h.stopping}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{next: h.next.WithGroup(name), stopping: h.stopping}
}

// klog is process-global while control planes are not: several may overlap
// (parallel tests) and a stopped one must not keep receiving klog output (its
// logger may belong to a finished test). klog therefore goes to the most
// recently started control plane that is still live, or nowhere.
var klogRoute struct {
	sync.Mutex
	live []*quietHandler
	cur  atomic.Pointer[quietHandler]
}

// attachKlog makes h the receiver of klog output until detachKlog(h).
func attachKlog(h *quietHandler) {
	klogRoute.Lock()
	defer klogRoute.Unlock()
	klogRoute.live = append(klogRoute.live, h)
	klogRoute.cur.Store(h)
	// Re-installed each time in case something else replaced klog's logger.
	// klog's own verbosity stays at 0, so V(n>0) calls are dropped before any
	// formatting.
	klog.SetLogger(logr.FromSlogHandler(klogRouter{}))
}

func detachKlog(h *quietHandler) {
	klogRoute.Lock()
	defer klogRoute.Unlock()
	klogRoute.live = slices.DeleteFunc(klogRoute.live, func(x *quietHandler) bool { return x == h })
	if n := len(klogRoute.live); n > 0 {
		klogRoute.cur.Store(klogRoute.live[n-1])
	} else {
		klogRoute.cur.Store(nil)
	}
}

// klogRouter forwards to the current receiver, replaying WithAttrs/WithGroup.
type klogRouter struct {
	ops []func(slog.Handler) slog.Handler
}

func (r klogRouter) Enabled(ctx context.Context, l slog.Level) bool {
	h := klogRoute.cur.Load()
	return h != nil && h.Enabled(ctx, l) // attributes do not change Enabled
}

func (r klogRouter) Handle(ctx context.Context, rec slog.Record) error {
	q := klogRoute.cur.Load()
	if q == nil {
		return nil
	}
	h := q.WithAttrs([]slog.Attr{slog.String("component", "kubernetes")})
	for _, op := range r.ops {
		h = op(h)
	}
	return h.Handle(ctx, rec)
}

func (r klogRouter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return klogRouter{ops: append(slices.Clip(r.ops), func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })}
}

func (r klogRouter) WithGroup(name string) slog.Handler {
	return klogRouter{ops: append(slices.Clip(r.ops), func(h slog.Handler) slog.Handler { return h.WithGroup(name) })}
}

// zapToSlog returns a zap logger for embedded etcd that forwards to h.
func zapToSlog(h slog.Handler) *zap.Logger {
	return zap.New(&zapCore{h: h.WithAttrs([]slog.Attr{slog.String("component", "etcd")})})
}

type zapCore struct {
	h slog.Handler
}

func zapLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

func (c *zapCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), zapLevel(l))
}

func (c *zapCore) With(fields []zapcore.Field) zapcore.Core {
	return &zapCore{h: c.h.WithAttrs(zapAttrs(fields))}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, zapLevel(e.Level), e.Message, 0)
	r.AddAttrs(zapAttrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *zapCore) Sync() error { return nil }

func zapAttrs(fields []zapcore.Field) []slog.Attr {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	return attrs
}
