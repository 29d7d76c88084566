package breakglass

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/conditions"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/ledger"
)

// Finalizer keeps a break-glass until its end is recorded.
const Finalizer = "infraplane.dev/breakglass"

// Condition types of a BreakGlass.
const (
	TypeActive  = "Active"
	TypeHolding = "Holding"
)

// recheckInterval is how often held targets are compared with git again,
// besides every sync of their GitSource.
const recheckInterval = time.Minute

// Recorder appends to the audit ledger.
type Recorder interface {
	Append(ctx context.Context, e ledger.Entry) (ledger.Entry, error)
}

// Reconciler is the BreakGlass controller.
type Reconciler struct {
	client   client.Client
	kinds    Kinds
	desired  DesiredFunc
	rendered RenderedFunc
	ledger   Recorder
	recorder events.EventRecorder
	now      func() time.Time
}

func (r *Reconciler) setup(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("BreakGlass").
		// Several windows ending at once each compare with git (fetch,
		// render, dry run): in parallel, so the last is not late.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		For(&corev1alpha1.BreakGlass{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deleting{}))).
		// A sync of a held target's GitSource may have made git match.
		Watches(&corev1alpha1.GitSource{}, handler.EnqueueRequestsFromMapFunc(r.holdingFor), builder.WithPredicates(revisionApplied{})).
		Complete(r)
}

// Reconcile moves one break-glass through its life: open, expire or close,
// compare with git, hold, release, revert.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	bg := &corev1alpha1.BreakGlass{}
	if err := r.client.Get(ctx, req.NamespacedName, bg); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !bg.DeletionTimestamp.IsZero() {
		if _, err := r.enableFlux(ctx, bg, true); err != nil {
			return ctrl.Result{}, err
		}
		if bg.Status.Phase == corev1alpha1.BreakGlassActive {
			r.record(ctx, bg, ledger.TypeBreakGlassClose, OpenedBy(bg), "deleted while active: closed", nil)
		}
		if controllerutil.RemoveFinalizer(bg, Finalizer) {
			return ctrl.Result{}, client.IgnoreNotFound(r.client.Update(ctx, bg))
		}
		return ctrl.Result{}, nil
	}
	if controllerutil.AddFinalizer(bg, Finalizer) {
		if err := r.client.Update(ctx, bg); err != nil {
			return ctrl.Result{}, err
		}
	}

	before := bg.DeepCopy()
	now := r.now()
	if bg.Status.Phase == "" {
		if err := r.open(ctx, bg); err != nil {
			return ctrl.Result{}, err
		}
	}
	git := newGitReader(r.desired)
	ended := false
	if bg.Status.Phase == corev1alpha1.BreakGlassActive {
		switch {
		case bg.Spec.Closed:
			r.end(ctx, git, bg, corev1alpha1.BreakGlassClosed, now)
			ended = true
		case !now.Before(ExpiresAt(bg)):
			r.end(ctx, git, bg, corev1alpha1.BreakGlassExpired, now)
			ended = true
		}
	}
	var resync []string
	var fluxErr error
	if bg.Status.Phase != corev1alpha1.BreakGlassActive {
		// Flux takes its objects back; retried here until it worked.
		var enabled []string
		if enabled, fluxErr = r.enableFlux(ctx, bg, false); len(enabled) > 0 {
			r.record(ctx, bg, ledger.TypeBreakGlassRelease, "infraplane", "Flux's reconcile enabled again on "+strings.Join(enabled, ", "), func(e *ledger.Entry) {
				e.Objects = enabled
			})
		}
		resync = r.revert(ctx, bg)
		r.backport(ctx, bg)
		if !ended { // just judged: comparing again now would repeat the dry runs
			r.recheck(ctx, git, bg, now)
		}
	}
	r.summarize(bg)
	setReady(bg)
	bg.Status.ObservedGeneration = bg.Generation
	if err := r.client.Status().Patch(ctx, bg, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	updateMetrics(ctx, r.client, bg)
	// Reverted targets: now that the hold is released, let git win at once.
	// The syncer reads break-glasses from the same cache: wait until it has
	// seen the release, or the sync would still skip the targets.
	if len(resync) > 0 {
		r.waitCached(ctx, req.NamespacedName, bg.Status.HandledRevert)
	}
	for _, src := range resync {
		ns, name, _ := strings.Cut(src, ".")
		if _, err := gitops.RequestSync(ctx, r.client, types.NamespacedName{Namespace: ns, Name: name}, false); err != nil {
			slog.Error("requesting a sync after a break-glass revert", "gitsource", src, "err", err)
		}
	}

	if fluxErr != nil {
		return ctrl.Result{}, fluxErr
	}
	switch {
	case bg.Status.Phase == corev1alpha1.BreakGlassActive:
		// The work queue's timer fires at the deadline: expiry is on time
		// to a few milliseconds, and a restart recomputes it from creation.
		return ctrl.Result{RequeueAfter: max(ExpiresAt(bg).Sub(r.now()), time.Millisecond)}, nil
	case len(bg.Status.Held) > 0:
		return ctrl.Result{RequeueAfter: recheckInterval}, nil
	}
	return ctrl.Result{}, nil
}

// open resolves the targets, stamps who and when, and records the opening.
func (r *Reconciler) open(ctx context.Context, bg *corev1alpha1.BreakGlass) error {
	targets, err := r.resolve(ctx, bg)
	if err != nil {
		return err
	}
	flux, err := r.disableFlux(ctx, bg, targets)
	if err != nil {
		return err
	}
	opened := bg.CreationTimestamp
	expires := metav1.NewTime(ExpiresAt(bg))
	bg.Status.Phase = corev1alpha1.BreakGlassActive
	bg.Status.OpenedBy = bg.Annotations[corev1alpha1.OpenedByAnnotation]
	if bg.Status.OpenedBy == "" {
		bg.Status.OpenedBy = "unknown (no admission webhook stamped it)"
	}
	bg.Status.OpenedAt = &opened
	bg.Status.ExpiresAt = &expires
	bg.Status.Targets = targets
	meta.SetStatusCondition(&bg.Status.Conditions, metav1.Condition{Type: TypeActive, ObservedGeneration: bg.Generation, Status: metav1.ConditionTrue, Reason: "Opened",
		Message: fmt.Sprintf("%s may edit %d object(s) directly until %s", bg.Status.OpenedBy, len(targets), expires.UTC().Format(time.RFC3339))})
	names := targetNames(targets)
	summary := fmt.Sprintf("opened for %s on %s", bg.Spec.Duration.Duration, strings.Join(names, ", "))
	if bg.Spec.PauseActuation {
		summary += " (actuation paused)"
	}
	r.record(ctx, bg, ledger.TypeBreakGlassOpen, bg.Status.OpenedBy, summary, func(e *ledger.Entry) {
		e.Objects = names
		e.Details = map[string]string{"expiresAt": expires.UTC().Format(time.RFC3339), "incident": bg.Spec.Incident}
		if len(flux) > 0 {
			e.Details["fluxReconcileDisabled"] = strings.Join(flux, ", ")
		}
	})
	r.event(bg, corev1.EventTypeWarning, "Opened", "%s opened a break-glass until %s: %s", bg.Status.OpenedBy, expires.UTC().Format(time.RFC3339), bg.Spec.Reason)
	return nil
}

// resolve lists the covered objects: the named targets and, once, the
// selector's matches among the managed kinds and the Blueprint kinds. An
// instance of a Blueprint kind brings its children (a child the selector
// matches brings its instance): they are covered by name from then on.
func (r *Reconciler) resolve(ctx context.Context, bg *corev1alpha1.BreakGlass) ([]corev1alpha1.BreakGlassTargetStatus, error) {
	var out []corev1alpha1.BreakGlassTargetStatus
	seen := map[string]bool{}
	kinds, instanceKinds := coverable(ctx, r.client, r.kinds)
	add := func(u *unstructured.Unstructured, msg string, instance *unstructured.Unstructured) {
		k := u.GetKind() + "/" + u.GetName()
		if seen[k] {
			return
		}
		seen[k] = true
		t := corev1alpha1.BreakGlassTargetStatus{
			APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName(),
			Source: u.GetLabels()[corev1alpha1.SourceLabel], State: corev1alpha1.TargetOpen, Message: msg,
		}
		if instance != nil {
			t.Instance = instance.GetKind() + "/" + instance.GetName()
			t.Source = instance.GetLabels()[corev1alpha1.SourceLabel]
		}
		out = append(out, t)
	}
	addInstance := func(u *unstructured.Unstructured) error {
		add(u, "", nil)
		children, err := childrenOf(ctx, r.client, r.kinds, u)
		if err != nil {
			return fmt.Errorf("listing the children of %s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		for _, c := range children {
			add(c, "child of "+u.GetKind()+"/"+u.GetName(), u)
		}
		return nil
	}
	addObject := func(u *unstructured.Unstructured) error {
		if _, ok := instanceKinds[u.GetKind()]; ok {
			return addInstance(u)
		}
		if ref := parentRef(u); ref != nil {
			if _, ok := instanceKinds[ref.Kind]; ok {
				inst, err := parentInstance(ctx, r.client, u)
				if err != nil || inst == nil {
					return err
				}
				return addInstance(inst)
			}
		}
		add(u, "", nil)
		return nil
	}
	for _, t := range bg.Spec.Targets {
		gvk, ok := kinds.lookup(t.Kind)
		if !ok {
			continue // the webhook refuses unknown kinds; nothing to cover
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		err := r.client.Get(ctx, client.ObjectKey{Namespace: bg.Namespace, Name: t.Name}, u)
		switch {
		case apierrors.IsNotFound(err):
			u.SetName(t.Name)
			add(u, "not found when opened", nil)
		case err != nil:
			return nil, err
		default:
			if err := addObject(u); err != nil {
				return nil, err
			}
		}
	}
	if bg.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(bg.Spec.Selector)
		if err != nil {
			return nil, err
		}
		for _, name := range sortedKinds(kinds) {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(kinds[name].GroupVersion().WithKind(name + "List"))
			if err := r.client.List(ctx, list, client.InNamespace(bg.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
				if meta.IsNoMatchError(err) {
					continue // a Blueprint kind not served (yet): nothing of it exists
				}
				return nil, err
			}
			for i := range list.Items {
				if err := addObject(&list.Items[i]); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// end closes the window and compares every target with git.
func (r *Reconciler) end(ctx context.Context, git *gitReader, bg *corev1alpha1.BreakGlass, phase corev1alpha1.BreakGlassPhase, now time.Time) {
	ended := metav1.NewTime(now)
	bg.Status.Phase = phase
	bg.Status.EndedAt = &ended
	actor, typ, verb := "infraplane", ledger.TypeBreakGlassExpire, "expired"
	if phase == corev1alpha1.BreakGlassClosed {
		bg.Status.ClosedBy = bg.Annotations[corev1alpha1.ClosedByAnnotation]
		actor, typ, verb = bg.Status.ClosedBy, ledger.TypeBreakGlassClose, "closed"
	} else {
		expiryLateness.Observe(now.Sub(ExpiresAt(bg)).Seconds())
	}
	meta.SetStatusCondition(&bg.Status.Conditions, metav1.Condition{Type: TypeActive, ObservedGeneration: bg.Generation, Status: metav1.ConditionFalse, Reason: string(phase),
		Message: fmt.Sprintf("%s at %s", verb, ended.UTC().Format(time.RFC3339))})
	var report []string
	for i := range bg.Status.Targets {
		t := &bg.Status.Targets[i]
		r.judge(ctx, git, bg, t, now)
		report = append(report, fmt.Sprintf("%s/%s %s", t.Kind, t.Name, t.State))
	}
	summary := fmt.Sprintf("%s: %s", verb, strings.Join(report, ", "))
	r.record(ctx, bg, typ, actor, summary, func(e *ledger.Entry) {
		e.Objects = report
		for _, t := range bg.Status.Targets {
			for _, f := range t.Fields {
				e.Fields = append(e.Fields, t.Kind+"/"+t.Name+" "+f.Path)
			}
		}
	})
	held := 0
	for _, t := range bg.Status.Targets {
		if t.State == corev1alpha1.TargetHeld {
			held++
		}
	}
	if held > 0 {
		r.event(bg, corev1.EventTypeWarning, "Diverged", "%s; %d object(s) differ from git and are held: backport (`infraplane breakglass backport %s`) or revert (`infraplane breakglass revert %s`)", summary, held, bg.Name, bg.Name)
	} else {
		r.event(bg, corev1.EventTypeNormal, "Ended", "%s", summary)
	}
}

// judge compares one open or held target with git and sets its state.
func (r *Reconciler) judge(ctx context.Context, git *gitReader, bg *corev1alpha1.BreakGlass, t *corev1alpha1.BreakGlassTargetStatus, now time.Time) {
	checked := metav1.NewTime(now)
	if ok, err := r.judgeFlux(ctx, bg, t); ok || err != nil {
		t.LastCheckTime = &checked
		if err != nil {
			t.State = corev1alpha1.TargetHeld
			t.Message = "could not read the object, held until it can: " + err.Error()
		}
		return
	}
	c, err := r.compare(ctx, git, bg.Namespace, *t, bg.Spec.PauseActuation)
	t.LastCheckTime = &checked
	if err != nil {
		// Not knowing is not a reason to overwrite: hold and retry.
		t.State = corev1alpha1.TargetHeld
		against := "git"
		if t.Instance != "" {
			against = "what the Blueprint renders for " + t.Instance
		}
		t.Message = "could not compare with " + against + ", held until it can: " + err.Error()
		return
	}
	if c.source != "" {
		t.Source = c.source
	}
	t.Revision = c.revision
	t.Fields = c.fields
	t.Message = c.message
	if c.diverged() {
		t.State = corev1alpha1.TargetHeld
		return
	}
	t.State = corev1alpha1.TargetInSync
}

// recheck compares held targets with git again and releases those that
// match now.
func (r *Reconciler) recheck(ctx context.Context, git *gitReader, bg *corev1alpha1.BreakGlass, now time.Time) {
	for i := range bg.Status.Targets {
		t := &bg.Status.Targets[i]
		if t.State != corev1alpha1.TargetHeld {
			continue
		}
		r.judge(ctx, git, bg, t, now)
		if t.State != corev1alpha1.TargetInSync {
			continue
		}
		t.State = corev1alpha1.TargetReleased
		obj := t.Kind + "/" + t.Name
		what := fmt.Sprintf("git (%s)", shortRevision(t.Revision))
		if t.Instance != "" {
			what = fmt.Sprintf("what %s renders for %s", t.Revision, t.Instance)
		}
		t.Message = what + " matches the object: hold released"
		r.record(ctx, bg, ledger.TypeBreakGlassRelease, "infraplane", what+" matches "+obj+": hold released", func(e *ledger.Entry) {
			e.Object = ledger.ObjectRef(t.Kind, bg.Namespace, t.Name)
			if t.Instance == "" {
				e.Revision = t.Revision
			}
		})
		r.event(bg, corev1.EventTypeNormal, "Released", "%s matches %s: hold released", what, obj)
	}
}

// revert handles a revert request: held targets go back to git, by
// releasing the hold; it returns the GitSources to sync at once.
func (r *Reconciler) revert(ctx context.Context, bg *corev1alpha1.BreakGlass) []string {
	req := bg.Annotations[corev1alpha1.RevertAnnotation]
	if req == "" || req == bg.Status.HandledRevert {
		return nil
	}
	bg.Status.HandledRevert = req
	by := bg.Annotations[corev1alpha1.RevertByAnnotation]
	sources := map[string]bool{}
	var reverted []string
	for i := range bg.Status.Targets {
		t := &bg.Status.Targets[i]
		if t.State != corev1alpha1.TargetHeld {
			continue
		}
		t.State = corev1alpha1.TargetReverted
		t.Message = fmt.Sprintf("reverted to git by %s", by)
		if t.Instance != "" {
			// Released from the hold, the instance controller writes it again.
			t.Message = fmt.Sprintf("reverted to what the Blueprint renders for %s by %s", t.Instance, by)
		}
		reverted = append(reverted, t.Kind+"/"+t.Name)
		if t.Source != "" {
			sources[t.Source] = true
		}
	}
	if len(reverted) == 0 {
		return nil
	}
	r.record(ctx, bg, ledger.TypeBreakGlassRevert, by, "reverted to git: "+strings.Join(reverted, ", "), func(e *ledger.Entry) { e.Objects = reverted })
	r.event(bg, corev1.EventTypeNormal, "Reverted", "%s reverted %s to git", by, strings.Join(reverted, ", "))
	return slices.Sorted(maps.Keys(sources))
}

// waitCached waits (at most 5 s) until the cache has the break-glass with
// revert request handled.
func (r *Reconciler) waitCached(ctx context.Context, key types.NamespacedName, handled string) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		cur := &corev1alpha1.BreakGlass{}
		if err := r.client.Get(ctx, key, cur); err != nil || cur.Status.HandledRevert == handled {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// backport records a backport pushed by the CLI (once per push).
func (r *Reconciler) backport(ctx context.Context, bg *corev1alpha1.BreakGlass) {
	v := bg.Annotations[corev1alpha1.BackportAnnotation]
	if v == "" || v == bg.Status.HandledBackport {
		return
	}
	bg.Status.HandledBackport = v
	by := bg.Annotations[corev1alpha1.BackportByAnnotation]
	f := strings.Fields(v)
	details := map[string]string{}
	for i, k := range []string{"branch", "commit", "repository"} {
		if i < len(f) {
			details[k] = f[i]
		}
	}
	r.record(ctx, bg, ledger.TypeBreakGlassBackport, by, fmt.Sprintf("backported to branch %s (%s): the hold ends when it is merged and synced", details["branch"], shortRevision(details["commit"])), func(e *ledger.Entry) {
		e.Revision = details["commit"]
		e.Details = details
	})
	r.event(bg, corev1.EventTypeNormal, "Backported", "%s pushed branch %s; the hold ends when it is merged and synced", by, details["branch"])
}

// summarize derives status.held and the Holding condition from the targets.
func (r *Reconciler) summarize(bg *corev1alpha1.BreakGlass) {
	var held []string
	for _, t := range bg.Status.Targets {
		if t.State == corev1alpha1.TargetHeld {
			held = append(held, t.Kind+"/"+t.Name)
		}
	}
	bg.Status.Held = held
	if len(held) > 0 {
		meta.SetStatusCondition(&bg.Status.Conditions, metav1.Condition{Type: TypeHolding, ObservedGeneration: bg.Generation, Status: metav1.ConditionTrue, Reason: "Diverged",
			Message: fmt.Sprintf("%s differ from git and are held: `infraplane breakglass backport %s` or `infraplane breakglass revert %s`", strings.Join(held, ", "), bg.Name, bg.Name)})
	} else if bg.Status.Phase != corev1alpha1.BreakGlassActive {
		meta.SetStatusCondition(&bg.Status.Conditions, metav1.Condition{Type: TypeHolding, ObservedGeneration: bg.Generation, Status: metav1.ConditionFalse, Reason: "NothingHeld", Message: "every target matches git or was reverted"})
	}
}

// setReady sets Ready, for kstatus and `kubectl wait`: a break-glass that
// was opened is in force as recorded, open or ended (holds are reported by
// Holding and on the targets); it never needs retrying, so it has no
// Reconciling or Stalled.
func setReady(bg *corev1alpha1.BreakGlass) {
	msg := ""
	if c := meta.FindStatusCondition(bg.Status.Conditions, TypeActive); c != nil {
		msg = c.Message
	}
	conditions.Set(&bg.Status.Conditions, bg.Generation, commonv1.TypeReady, true, string(bg.Status.Phase), msg)
	conditions.Settled(&bg.Status.Conditions)
}

func (r *Reconciler) record(ctx context.Context, bg *corev1alpha1.BreakGlass, typ ledger.Type, actor, summary string, fill func(*ledger.Entry)) {
	if r.ledger == nil {
		return
	}
	e := ledger.Entry{Type: typ, Actor: actor, Object: ledger.ObjectRef("BreakGlass", bg.Namespace, bg.Name), Summary: summary, Reason: bg.Spec.Reason, BreakGlass: bg.Namespace + "/" + bg.Name}
	if fill != nil {
		fill(&e)
	}
	if e.Actor == "" {
		e.Actor = "unknown"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := r.ledger.Append(ctx, e); err != nil {
		slog.Error("writing the audit ledger", "err", err, "entry", e.Summary)
	}
}

func (r *Reconciler) event(bg *corev1alpha1.BreakGlass, typ, reason, format string, args ...any) {
	if r.recorder != nil {
		r.recorder.Eventf(bg, nil, typ, reason, "BreakGlass", format, args...)
	}
}

// holdingFor maps a synced GitSource to the break-glasses holding objects
// it manages.
func (r *Reconciler) holdingFor(ctx context.Context, o client.Object) []reconcile.Request {
	gs, ok := o.(*corev1alpha1.GitSource)
	if !ok {
		return nil
	}
	src := gs.Namespace + "." + gs.Name
	ns := gs.Spec.TargetNamespace
	if ns == "" {
		ns = gs.Namespace
	}
	var list corev1alpha1.BreakGlassList
	if err := r.client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, bg := range list.Items {
		for _, t := range bg.Status.Targets {
			if t.State == corev1alpha1.TargetHeld && t.Source == src {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: bg.Namespace, Name: bg.Name}})
				break
			}
		}
	}
	return out
}

// revisionApplied passes GitSource updates that applied a revision.
type revisionApplied struct{ predicate.Funcs }

func (revisionApplied) Create(event.CreateEvent) bool { return false }
func (revisionApplied) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*corev1alpha1.GitSource)
	n, ok2 := e.ObjectNew.(*corev1alpha1.GitSource)
	if !ok1 || !ok2 {
		return false
	}
	return o.Status.LastAppliedRevision != n.Status.LastAppliedRevision ||
		(len(n.Status.History) > 0 && (len(o.Status.History) == 0 || !o.Status.History[0].Time.Equal(&n.Status.History[0].Time)))
}

// deleting passes the update that marks a break-glass for deletion.
type deleting struct{ predicate.Funcs }

func (deleting) Update(e event.UpdateEvent) bool {
	return !e.ObjectNew.GetDeletionTimestamp().IsZero()
}

func targetNames(ts []corev1alpha1.BreakGlassTargetStatus) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Kind + "/" + t.Name
	}
	return out
}

func shortRevision(rev string) string {
	if ref, hash, ok := strings.Cut(rev, "@sha1:"); ok && len(hash) > 7 {
		return ref + "@" + hash[:7]
	}
	if len(rev) > 12 && !strings.Contains(rev, "@") {
		return rev[:12]
	}
	return rev
}
