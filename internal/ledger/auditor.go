package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/infraplane/infraplane/internal/managed"
)

// Metrics, in controller-runtime's registry (served on the manager's
// /metrics next to the controllers' own).
var (
	entriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infraplane_ledger_entries_total",
		Help: "Entries written to the audit ledger, by type.",
	}, []string{"type"})

	appendErrorsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "infraplane_ledger_append_errors_total",
		Help: "Audit ledger appends that failed: the action happened but is not in the ledger.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(entriesTotal, appendErrorsTotal)
}

// auditTimeout bounds how long a reconcile waits for its audit entry.
const auditTimeout = 5 * time.Second

var _ managed.Auditor = (*Ledger)(nil)

// CloudWrite implements managed.Auditor: it appends a cloud-write entry
// with actor "controller/<Kind>". It never fails the reconcile: an append
// error is logged and counted (infraplane_ledger_append_errors_total). It
// waits at most 5 s for the disk, even when ctx is already cancelled
// (shutdown): a write that happened should be recorded.
func (l *Ledger) CloudWrite(ctx context.Context, w managed.CloudWrite) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	e := CloudWriteEntry(w)
	if w.Intent != "" {
		e.Details["intent"] = w.Intent
	}
	if _, err := l.Append(actx, e); err != nil {
		if w.Intent == "" {
			slog.ErrorContext(ctx, "audit ledger: cloud write not recorded", "object", e.Object, "operation", w.Operation, "resource", w.Resource, "err", err)
			return
		}
		// The intent is recorded: the outcome follows as soon as the
		// ledger takes entries again, so that the intent finds it.
		slog.ErrorContext(ctx, "audit ledger: a cloud write's outcome is not recorded yet; it will be when the ledger can be written", "object", e.Object, "operation", w.Operation, "resource", w.Resource, "err", err)
		e.Details["at"] = time.Now().UTC().Format(time.RFC3339Nano)
		e.Details["recordedLate"] = "true"
		l.recordLate(e)
	}
}

// lateOutcomes are outcome entries that could not be appended when their
// write happened (a full disk): their intents are in the ledger, and they
// are appended, in order, as soon as it takes entries again.
type lateOutcomes struct {
	mu      sync.Mutex
	entries []Entry
	running bool
}

// lateRetry is how often appending late outcomes is tried again.
const lateRetry = 2 * time.Second

func (l *Ledger) recordLate(e Entry) {
	l.late.mu.Lock()
	l.late.entries = append(l.late.entries, e)
	start := !l.late.running
	l.late.running = true
	l.late.mu.Unlock()
	if start {
		go l.flushLate()
	}
}

func (l *Ledger) flushLate() {
	t := time.NewTicker(lateRetry)
	defer t.Stop()
	for {
		select {
		case <-l.stopped:
			l.late.mu.Lock()
			if n := len(l.late.entries); n > 0 {
				slog.Error("audit ledger closed with cloud writes whose outcome is not recorded: audit --verify lists their intents", "count", n)
			}
			l.late.mu.Unlock()
			return
		case <-t.C:
		}
		l.late.mu.Lock()
		pending := slices.Clone(l.late.entries)
		l.late.mu.Unlock()
		done := 0
		for _, e := range pending {
			ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
			_, err := l.Append(ctx, e)
			cancel()
			if err != nil {
				break
			}
			done++
		}
		l.late.mu.Lock()
		l.late.entries = l.late.entries[done:]
		if len(l.late.entries) == 0 {
			l.late.running = false
			l.late.mu.Unlock()
			return
		}
		l.late.mu.Unlock()
	}
}

// Intend implements managed.Auditor: it appends a cloud-write-intent
// entry and returns its seq, which the outcome's entry names. An error
// (the disk is full, the database is gone) tells the controller not to
// send the write.
func (l *Ledger) Intend(ctx context.Context, w managed.CloudWrite) (string, error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	e := CloudWriteEntry(w)
	e.Type = TypeCloudWriteIntent
	what := w.Operation
	if len(w.Fields) > 0 {
		what += " " + strings.Join(w.Fields, ", ") + " of"
	}
	target := w.Resource
	if target == "" {
		target = e.Object
	}
	e.Summary = fmt.Sprintf("sending %s %s", what, target)
	got, err := l.Append(actx, e)
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(got.Seq, 10), nil
}

// CloudWriteEntry is the ledger entry for a controller's cloud write.
// Details: operation (create, update, delete), resource (the cloud name),
// and for updates cause: drift-repair (the cloud had moved) or
// spec-change.
func CloudWriteEntry(w managed.CloudWrite) Entry {
	e := Entry{
		Type:    TypeCloudWrite,
		Actor:   "controller/" + w.Kind,
		Object:  ObjectRef(w.Kind, w.Namespace, w.Name),
		Fields:  w.Fields,
		Details: map[string]string{"operation": w.Operation},
	}
	target := w.Resource
	if target != "" {
		e.Details["resource"] = w.Resource
	} else {
		target = e.Object
	}
	var cause string
	if w.Operation == "update" {
		cause = "spec change"
		e.Details["cause"] = "spec-change"
		if w.Drift {
			cause = "drift repair"
			e.Details["cause"] = "drift-repair"
		}
	}
	// The summary leads with what a reader scans for (what happened, or
	// that it failed): the table cuts it at the end.
	var b strings.Builder
	if w.Err != nil {
		fmt.Fprintf(&b, "failed to %s ", w.Operation)
	} else {
		fmt.Fprintf(&b, "%s ", pastTense(w.Operation))
	}
	if len(w.Fields) > 0 {
		fmt.Fprintf(&b, "%s ", strings.Join(w.Fields, ", "))
		if cause != "" {
			fmt.Fprintf(&b, "(%s) ", cause)
		}
		b.WriteString("of ")
	} else if cause != "" {
		fmt.Fprintf(&b, "(%s) ", cause)
	}
	b.WriteString(target)
	if w.Err != nil {
		e.Error = managed.CloudMessage(w.Err) // starts with the code name
		fmt.Fprintf(&b, ": %s", e.Error)
	}
	e.Summary = b.String()
	return e
}

func pastTense(op string) string {
	switch op {
	case "create":
		return "created"
	case "update":
		return "updated"
	case "delete":
		return "deleted"
	}
	return op
}
