package managed

import (
	"context"
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
}

// Auditor receives every cloud write. Implementations must not block for
// long: they run inside the reconcile.
type Auditor interface {
	CloudWrite(ctx context.Context, w CloudWrite)
}

func (r *Reconciler[T]) audit(ctx context.Context, obj Object, op string, fields []FieldDiff, drift bool, err error) {
	result := "ok"
	if err != nil {
		result = CloudCode(err).String()
	}
	cloudWritesTotal.WithLabelValues(r.kind.Name, op, result).Inc()
	if r.opts.Auditor == nil {
		return
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Field
	}
	r.opts.Auditor.CloudWrite(ctx, CloudWrite{
		Kind: r.kind.Name, Namespace: obj.GetNamespace(), Name: obj.GetName(),
		Operation: op, Resource: obj.ManagedStatus().SelfLink, Fields: names, Drift: drift, Err: err,
	})
}
