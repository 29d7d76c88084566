package managed

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// CloudWrite is one create, update or delete a controller sent to the
// cloud, for the audit ledger.
type CloudWrite struct {
	// Kind, Namespace and Name identify the object.
	Kind, Namespace, Name string
	// Operation is "create", "update" or "delete".
	Operation string
	// Resource is the full cloud name.
	Resource string
	// Fields are the spec fields sent (update) — names only, never values.
	Fields []string
	// Drift is true when the write repaired drift rather than applied a
	// spec change.
	Drift bool
	// Err is the cloud's error, nil on success.
	Err error
	// Intent is what Intend returned for this write: the outcome names
	// the intent it completes.
	Intent string
}

// Auditor records every cloud write: its intent before it is sent, and its
// outcome after. Implementations must not block for long: they run inside
// the reconcile.
type Auditor interface {
	// Intend records a write about to be sent and returns a reference to
	// that record. An error means it could not be recorded: the write is
	// not sent (no cloud write without its record).
	Intend(ctx context.Context, w CloudWrite) (string, error)
	// CloudWrite records the outcome of a write Intend recorded.
	CloudWrite(ctx context.Context, w CloudWrite)
}

var cloudWritesHeldTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "infraplane_cloud_writes_held_total",
	Help: "Cloud writes not sent because the audit ledger could not record them first, by kind and operation.",
}, []string{"kind", "operation"})

func init() { ctrlmetrics.Registry.MustRegister(cloudWritesHeldTotal) }

// ledgerRetry is how soon a write the ledger could not record is tried
// again: the ledger recovers when the disk has room again, and the writes
// should follow promptly, not after a backoff grown to minutes.
const ledgerRetry = 10 * time.Second

func (r *Reconciler[T]) cloudWrite(obj Object, op string, fields []FieldDiff, drift bool, err error, intent string) CloudWrite {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Field
	}
	return CloudWrite{
		Kind: r.kind.Name, Namespace: obj.GetNamespace(), Name: obj.GetName(),
		Operation: op, Resource: obj.ManagedStatus().SelfLink, Fields: names, Drift: drift, Err: err, Intent: intent,
	}
}

// intend records a write before it is sent. On an error the caller sends
// nothing and returns heldByLedger's outcome.
func (r *Reconciler[T]) intend(ctx context.Context, obj Object, op string, fields []FieldDiff, drift bool) (string, error) {
	if r.opts.Auditor == nil {
		return "", nil
	}
	return r.opts.Auditor.Intend(ctx, r.cloudWrite(obj, op, fields, drift, nil, ""))
}

// heldByLedger is the outcome of a write not sent because the ledger could
// not record it.
func (r *Reconciler[T]) heldByLedger(obj T, op, doing string, err error) outcome {
	cloudWritesHeldTotal.WithLabelValues(r.kind.Name, op).Inc()
	msg := fmt.Sprintf("not %s %s: the audit ledger cannot record it (%v); no cloud write is sent unrecorded, and writes resume as soon as the ledger can be written (free its disk, or bring its database back)",
		doing, describeTarget(obj), err)
	conditionsOf(obj).failed(commonv1.ReasonLedgerUnavailable, msg)
	r.event(obj, corev1.EventTypeWarning, commonv1.ReasonLedgerUnavailable, op, "%s", msg)
	return outcome{res: ctrl.Result{RequeueAfter: ledgerRetry}, metric: "error"}
}

func (r *Reconciler[T]) audit(ctx context.Context, obj Object, op string, fields []FieldDiff, drift bool, err error, intent string) {
	result := "ok"
	if err != nil {
		result = CloudCode(err).String()
	}
	cloudWritesTotal.WithLabelValues(r.kind.Name, op, result).Inc()
	if r.opts.Auditor == nil {
		return
	}
	r.opts.Auditor.CloudWrite(ctx, r.cloudWrite(obj, op, fields, drift, err, intent))
}
