package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
	if _, err := l.Append(actx, e); err != nil {
		slog.ErrorContext(ctx, "audit ledger: cloud write not recorded", "object", e.Object, "operation", w.Operation, "resource", w.Resource, "err", err)
	}
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
