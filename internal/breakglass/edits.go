package breakglass

import (
	"context"
	"log/slog"
	"slices"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/infraplane/infraplane/internal/ledger"
)

// recordEdit writes a direct-edit entry for an edit of a GitOps-managed
// object the guard allowed. It is how `infraplane controller` records
// direct edits on a real cluster, where no audit backend reports them (the
// embedded server of `infraplane up` records every direct edit itself, so
// there this is off). The entry is written at admission: a request that a
// later check refuses still leaves it, marked "recordedAt: admission".
func (w *Webhook) recordEdit(ctx context.Context, req admissionv1.Operation, user, kind string, old, obj *unstructured.Unstructured, bgName string) {
	if w.Edits == nil {
		return
	}
	subject := old
	verb, summary := "update", "updated"
	if req == admissionv1.Delete {
		verb, summary = "delete", "deleted"
	}
	var fields []string
	if req == admissionv1.Update {
		oldSpec, _, _ := unstructured.NestedMap(old.Object, "spec")
		newSpec, _, _ := unstructured.NestedMap(obj.Object, "spec")
		diffLeaves("spec", oldSpec, newSpec, &fields)
		slices.Sort(fields)
	}
	e := ledger.Entry{
		Type: ledger.TypeDirectEdit, Actor: user, Object: ledger.ObjectRef(kind, subject.GetNamespace(), subject.GetName()),
		Summary: summary, Fields: fields, Details: map[string]string{"verb": verb, "recordedAt": "admission"},
	}
	if bgName != "" {
		e.BreakGlass = subject.GetNamespace() + "/" + bgName
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := w.Edits.Append(ctx, e); err != nil {
		slog.Error("writing the audit ledger", "err", err, "entry", e.Summary)
	}
}
