package breakglass

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/ledger"
)

// How `infraplane controller` records direct edits on a real cluster,
// where no audit backend reports them to it (the embedded server of
// `infraplane up` records every direct edit itself, so there this is off).
//
// An admission request is only a claim: anyone who can reach the webhook
// port can send one, naming any user. So an allowed request writes
// nothing by itself; the guard remembers it and watches the object, and
// the edit is recorded when the object is seen changed the way the
// request said (or gone, for a delete) — a forged review changes nothing
// and leaves no entry. A request that a later check refuses leaves none
// either. The user recorded is the one the matching admitted request
// named: with the API server authenticated to the webhook (client
// certificates, see docs/architecture.md) that is the API server's word.

// DefaultConfirmWithin is how long an admitted edit is watched for.
const DefaultConfirmWithin = 30 * time.Second

// maxPendingEdits bounds the edits watched at once (each costs a GET now
// and then); more are logged and not recorded.
const maxPendingEdits = 512

// pendingEdit is an admitted direct edit, waiting to be seen on the object.
type pendingEdit struct {
	op       admissionv1.Operation
	gvk      schema.GroupVersionKind
	key      client.ObjectKey
	uid      types.UID
	oldRV    string
	want     string // guardedContent of the admitted object (updates)
	entry    ledger.Entry
	deadline time.Time
}

// edits tracks admitted edits until they are seen or expire.
type edits struct {
	once    sync.Once
	slots   chan struct{}
	pending sync.WaitGroup
}

func (w *Webhook) confirmWithin() time.Duration {
	if w.ConfirmWithin > 0 {
		return w.ConfirmWithin
	}
	return DefaultConfirmWithin
}

// recordEdit remembers an edit of a GitOps-managed object the guard
// allowed, to be recorded once it is seen on the object.
func (w *Webhook) recordEdit(req admission.Request, user, kind string, old, obj *unstructured.Unstructured, bgName string) {
	if w.Edits == nil {
		return
	}
	verb, summary := "update", "updated"
	if req.Operation == admissionv1.Delete {
		verb, summary = "delete", "deleted"
	}
	var fields []string
	if req.Operation == admissionv1.Update {
		oldSpec, _, _ := unstructured.NestedMap(old.Object, "spec")
		newSpec, _, _ := unstructured.NestedMap(obj.Object, "spec")
		diffLeaves("spec", oldSpec, newSpec, &fields)
		slices.Sort(fields)
	}
	e := ledger.Entry{
		Type: ledger.TypeDirectEdit, Actor: user, Object: ledger.ObjectRef(kind, old.GetNamespace(), old.GetName()),
		Summary: summary, Fields: fields, Details: map[string]string{"verb": verb, "recordedAt": "observed"},
	}
	if bgName != "" {
		e.BreakGlass = old.GetNamespace() + "/" + bgName
	}
	p := pendingEdit{
		op:  req.Operation,
		gvk: schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind},
		key: client.ObjectKeyFromObject(old), uid: old.GetUID(), oldRV: old.GetResourceVersion(),
		entry: e, deadline: time.Now().Add(w.confirmWithin()),
	}
	if req.Operation == admissionv1.Update {
		p.want = guardedContent(obj)
	}
	w.edits.once.Do(func() { w.edits.slots = make(chan struct{}, maxPendingEdits) })
	select {
	case w.edits.slots <- struct{}{}:
	default:
		slog.Error("too many direct edits waiting to be seen: this one is not recorded", "object", e.Object, "user", user)
		return
	}
	w.edits.pending.Add(1)
	go func() {
		defer func() { <-w.edits.slots; w.edits.pending.Done() }()
		w.confirmEdit(p)
	}()
}

// WaitEdits blocks until every admitted edit was recorded or expired.
func (w *Webhook) WaitEdits() { w.edits.pending.Wait() }

// confirmEdit reads the object until it shows the edit, then records it;
// it gives up at the deadline (the request was refused later, lost a race
// to another write, or never reached the API server).
func (w *Webhook) confirmEdit(p pendingEdit) {
	ctx, cancel := context.WithDeadline(context.Background(), p.deadline)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(p.gvk)
		err := w.Live.Get(ctx, p.key, u)
		seen := false
		switch {
		case p.op == admissionv1.Delete:
			// Gone, replaced, or being deleted (finalizers keep it a while).
			seen = apierrors.IsNotFound(err) || (err == nil && (u.GetUID() != p.uid || u.GetDeletionTimestamp() != nil))
		case apierrors.IsNotFound(err):
			return // deleted before the edit was seen: the delete has its own entry
		case err == nil:
			seen = u.GetUID() == p.uid && u.GetResourceVersion() != p.oldRV && guardedContent(u) == p.want
		}
		if seen {
			if err == nil {
				p.entry.Details["resourceVersion"] = u.GetResourceVersion()
			}
			actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := w.Edits.Append(actx, p.entry); err != nil {
				slog.Error("writing the audit ledger", "err", err, "entry", p.entry.Summary)
			}
			acancel()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// guardedContent is what the guard protects on an object, as one string:
// its spec, its GitSource label and its Blueprint instance.
func guardedContent(u *unstructured.Unstructured) string {
	b, _ := json.Marshal([]any{u.Object["spec"], u.GetLabels()[corev1alpha1.SourceLabel], parentRef(u)})
	return string(b)
}
