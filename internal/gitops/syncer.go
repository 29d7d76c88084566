package gitops

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/conditions"
)

// FieldManager is the server-side apply field manager of the syncer.
// Writes by anyone else to objects it applied are direct edits.
const FieldManager = "infraplane-gitops"

// Condition types and reasons of a GitSource.
const (
	TypeReady     = "Ready"
	TypePruneHeld = "PruneHeld"

	ReasonApplied          = "Applied"
	ReasonSuspended        = "Suspended"
	ReasonFetchFailed      = "FetchFailed"
	ReasonRenderFailed     = "RenderFailed"
	ReasonValidationFailed = "ValidationFailed"
	ReasonApplyFailed      = "ApplyFailed"
	ReasonPruneHeld        = "PruneHeld"
	ReasonPruneConfirmed   = "PruneConfirmed"
	ReasonNothingHeld      = "NothingHeld"
	ReasonPruneWaiting     = "PruneWaiting"
	// ReasonNotAuthorized: the GitSource may not apply where or as whom it
	// asks (targetNamespace, ServiceAccount).
	ReasonNotAuthorized = "NotAuthorized"
)

// historyLength is how many syncs status.history keeps.
const historyLength = 10

// SyncEvent is what the audit ledger records about one sync.
type SyncEvent struct {
	Source   string // namespace/name
	Revision Revision
	Result   string // Applied, Failed, Held
	// The objects, each Kind/namespace/name (Kind/name when
	// cluster-scoped).
	Created []string
	Updated []string
	Pruned  []string
	// Released are the objects a deleted GitSource let go of (they stay,
	// no longer guarded as git's).
	Released []string
	Error    string
}

// SyncRecorder receives every sync attempt that changed something or failed.
type SyncRecorder interface {
	Synced(ctx context.Context, e SyncEvent)
}

// Options configure the syncer.
type Options struct {
	// CacheDir holds working copies of the repositories.
	CacheDir string
	// Fetch bounds each fetch: its deadline and what a checkout may write.
	Fetch FetchOptions
	// RefKinds are the kinds references may point at (see CheckOptions),
	// by kind name.
	RefKinds map[string]schema.GroupVersionKind
	// Recorder, if set, records syncs (the audit ledger).
	Recorder SyncRecorder
	// Exclude, if set, says whether an object must not be applied or pruned
	// right now (break-glass holds plug in here); it returns a reason.
	Exclude func(ctx context.Context, namespace string, obj *unstructured.Unstructured) (bool, string)
	// PlatformNamespace is where the platform team's GitSources live: they
	// may also apply Blueprints (cluster-scoped). Empty means
	// DefaultPlatformNamespace.
	PlatformNamespace string
	// DefaultServiceAccount is the ServiceAccount (of each GitSource's own
	// namespace) a GitSource without spec.serviceAccountName applies as.
	// Empty means DefaultServiceAccount; there is no way to apply as the
	// controller itself.
	DefaultServiceAccount string
}

// DefaultPlatformNamespace is the platform namespace unless configured.
const DefaultPlatformNamespace = "infraplane-system"

// The syncer's own rights (what it applies, it applies as the GitSource's
// ServiceAccount: identity.go): GitSources and their finalizer and status,
// the credentials Secret of a GitSource (through the cache), the
// ServiceAccount a GitSource applies as (read past the cache, so no
// informer on every ServiceAccount), and the objects a deleted GitSource
// releases (release.go).
//
// +kubebuilder:rbac:groups=infraplane.dev,resources=gitsources,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=infraplane.dev,resources=gitsources/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get

// Syncer is the GitSource controller.
type Syncer struct {
	client   client.Client
	reader   client.Reader // uncached reads (ServiceAccounts: one Get per sync, no cluster-wide informer)
	mapper   meta.RESTMapper
	tenants  *tenants
	fetcher  *Fetcher
	recorder events.EventRecorder
	opts     Options

	skip *skipCache

	mu       sync.Mutex
	lastSeen map[string]string // namespace/name -> revision hash last synced
}

// SetupSyncer registers the GitSource controller with a manager.
func SetupSyncer(mgr ctrl.Manager, opts Options) (*Syncer, error) {
	s := &Syncer{
		client:   mgr.GetClient(),
		reader:   mgr.GetAPIReader(),
		mapper:   mgr.GetRESTMapper(),
		tenants:  newTenants(mgr.GetConfig(), mgr.GetScheme(), mgr.GetRESTMapper()),
		fetcher:  NewFetcher(opts.CacheDir, opts.Fetch),
		recorder: mgr.GetEventRecorder("infraplane-gitops"),
		opts:     opts,
		skip:     newSkipCache(),
		lastSeen: map[string]string{},
	}
	if s.opts.PlatformNamespace == "" {
		s.opts.PlatformNamespace = DefaultPlatformNamespace
	}
	if s.opts.DefaultServiceAccount == "" {
		s.opts.DefaultServiceAccount = DefaultServiceAccount
	}
	if err := indexHookSecrets(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return nil, fmt.Errorf("indexing GitSources by webhook Secret: %w", err)
	}
	err := ctrl.NewControllerManagedBy(mgr).
		Named("GitSource").
		For(&corev1alpha1.GitSource{}, builder.WithPredicates(sourceChanged{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(s.hookSecretSources), builder.WithPredicates(tokenChanged{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(s)
	return s, err
}

// sourceChanged passes creation, spec changes and annotation changes (a
// sync request, a prune confirmation); not status writes.
type sourceChanged struct{ predicate.Funcs }

func (sourceChanged) Update(e event.UpdateEvent) bool {
	return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
		!maps.Equal(e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()) ||
		!e.ObjectNew.GetDeletionTimestamp().IsZero()
}

// Reconcile syncs one GitSource: fetch, render, check, dry-run, guard,
// apply, prune, record.
func (s *Syncer) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	gs := &corev1alpha1.GitSource{}
	if err := s.client.Get(ctx, req.NamespacedName, gs); err != nil {
		if apierrors.IsNotFound(err) {
			sourceFailing.DeleteLabelValues(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !gs.DeletionTimestamp.IsZero() {
		sourceFailing.DeleteLabelValues(gs.Namespace, gs.Name)
		// Deleting a GitSource leaves what it applied in place: taking a
		// whole team's infrastructure down must never be one kubectl delete.
		// The objects are released: no longer labelled as git's, so people
		// (or another GitOps tool) may manage them again.
		if err := s.releaseAll(ctx, gs); err != nil {
			// Retried with backoff; the event says why it is still here.
			s.recorder.Eventf(gs, nil, corev1.EventTypeWarning, "ReleaseFailed", "Delete", "releasing the objects before the GitSource goes: %v", err)
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, nil
	}
	if !controllerutil.ContainsFinalizer(gs, ReleaseFinalizer) {
		patch := client.MergeFrom(gs.DeepCopy())
		controllerutil.AddFinalizer(gs, ReleaseFinalizer)
		if err := s.client.Patch(ctx, gs, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	before := gs.DeepCopy()
	if herr := s.setHookStatus(ctx, gs); herr != nil {
		log.FromContext(ctx).Error(herr, "push-hook path left as it was")
	}
	res, err := s.sync(ctx, gs)
	gs.Status.ObservedGeneration = gs.Generation
	if v := gs.Annotations[corev1alpha1.RequestSyncAnnotation]; v != "" {
		gs.Status.LastHandledRequest = v
	}
	if perr := s.client.Status().Patch(ctx, gs, client.MergeFrom(before)); perr != nil && !apierrors.IsNotFound(perr) {
		return ctrl.Result{}, errors.Join(err, perr)
	}
	return res, err
}

func (s *Syncer) sync(ctx context.Context, gs *corev1alpha1.GitSource) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	start := time.Now()
	interval := gs.Spec.Interval.Duration
	if interval <= 0 {
		interval = time.Minute
	}
	target := gs.Spec.TargetNamespace
	if target == "" {
		target = gs.Namespace
	}

	if gs.Spec.Suspend {
		sourceFailing.DeleteLabelValues(gs.Namespace, gs.Name)
		s.setReady(gs, false, ReasonSuspended, "syncing is suspended (spec.suspend); nothing is applied or pruned")
		return ctrl.Result{}, nil
	}

	// Where and as whom it applies, before anything is fetched.
	if err := s.checkTarget(gs); err != nil {
		s.fail(ctx, gs, Revision{}, ReasonNotAuthorized, "nothing applied: "+err.Error(), start)
		return ctrl.Result{RequeueAfter: interval}, nil
	}
	tn, err := s.tenantFor(ctx, gs)
	if err != nil {
		if errors.As(err, new(identityError)) {
			s.fail(ctx, gs, Revision{}, ReasonNotAuthorized, "nothing applied: "+err.Error(), start)
			return ctrl.Result{RequeueAfter: interval}, nil
		}
		s.fail(ctx, gs, Revision{}, ReasonApplyFailed, "nothing applied: "+err.Error(), start)
		return ctrl.Result{}, err
	}

	objs, rev, reason, err := s.render(ctx, gs)
	if rev.Hash != "" {
		gs.Status.LastAttemptedRevision = rev.String()
	}
	if err != nil {
		if reason == ReasonRenderFailed {
			// The hold was about an earlier revision; what this one would
			// prune is unknown until it renders.
			s.setHeld(gs, false, "", nil)
		}
		s.fail(ctx, gs, rev, reason, err.Error(), start)
		// A commit above the checkout limits needs a new commit, and a
		// server that did not answer within the deadline is asked again
		// at the next interval, not at once: either way a worker would
		// spend its time on one source.
		if reason == ReasonFetchFailed && !errors.As(err, new(credentialsError)) &&
			!errors.As(err, new(*LimitError)) && !errors.As(err, new(*TimeoutError)) {
			return ctrl.Result{}, err // transient (network): back off
		}
		return ctrl.Result{RequeueAfter: interval}, nil
	}
	problems := Check(objs, CheckOptions{
		TargetNamespace: target,
		Namespaced:      s.namespaced,
		Exists:          func(kind, name string) bool { return s.exists(ctx, tn.client, target, kind, name) },
		RefKinds:        slices.Sorted(maps.Keys(s.opts.RefKinds)),

		Platform:          s.platform(gs),
		PlatformNamespace: s.opts.PlatformNamespace,
	})
	if s.platform(gs) {
		problems = append(problems, s.claimedElsewhere(ctx, objs, gs)...)
	}
	// A bad commit is reported as bad even when it also holds a prune, so
	// the check goes on to the guard instead of stopping here.
	problemReason := ReasonValidationFailed

	// Everything goes into the target namespace (Blueprints, cluster-scoped,
	// into none), labelled with its source.
	sourceLabel := gs.Namespace + "." + gs.Name
	apply := make([]*unstructured.Unstructured, 0, len(objs))
	bySubject := map[string]Object{}
	for _, o := range objs {
		o.SetNamespace(namespaceFor(o.Unstructured, target))
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[corev1alpha1.SourceLabel] = sourceLabel
		o.SetLabels(labels)
		// Exclusions (break-glass) are per namespace: a Blueprint has none.
		if s.opts.Exclude != nil && o.GetNamespace() != "" {
			if skip, why := s.opts.Exclude(ctx, o.GetNamespace(), o.Unstructured); skip {
				logger.Info("not applying an excluded object", "object", o.ID(), "why", why)
				continue
			}
		}
		apply = append(apply, o.Unstructured)
		bySubject[subject(o.Unstructured)] = o
	}

	// What would be pruned, and whether the guard holds it.
	newInv := inventoryOf(objs, gs.Spec.Path)
	stale := staleRefs(gs.Status.Inventory, newInv)
	prune := gs.Spec.Prune == nil || *gs.Spec.Prune
	// A Blueprint with instances is not deleted this sync: deleting it
	// would leave it terminating until they go. It stays in the inventory,
	// is pruned by the first sync after they are gone, and only then
	// counts for the guard.
	var kept []corev1alpha1.ObjectRef
	var waiting []string
	if prune {
		var deletable []corev1alpha1.ObjectRef
		for _, r := range stale {
			why, err := s.blueprintInUse(ctx, r)
			switch {
			case err != nil:
				s.fail(ctx, gs, rev, ReasonApplyFailed, fmt.Sprintf("revision %s: nothing applied: looking for instances of %s/%s: %v", rev.Short(), r.Kind, r.Name, err), start)
				return ctrl.Result{}, err
			case why != "":
				kept = append(kept, r)
				waiting = append(waiting, why)
			default:
				deletable = append(deletable, r)
			}
		}
		stale = deletable
	}
	held, why := false, ""
	if prune && len(stale) > 0 {
		held, why = s.guard(ctx, tn.client, gs, stale, rev)
	}

	// Objects whose manifest and live state are what the last apply left
	// need no read and no dry run (see skip.go).
	sourceKey := string(gs.UID)
	var live map[string]*unstructured.Unstructured
	if len(problems) == 0 {
		if live, err = s.liveStates(ctx, tn.client, sourceLabel, apply); err != nil {
			s.fail(ctx, gs, rev, ReasonApplyFailed, fmt.Sprintf("revision %s: nothing applied: listing applied objects: %v", rev.Short(), err), start)
			return ctrl.Result{}, err
		}
	}
	toApply, unchanged := s.skip.partition(sourceKey, apply, live)
	forbidden := false
	if held && len(problems) == 0 {
		// A held commit is not applied, so the API server's refusals
		// (schema, CEL rules) would only show after --confirm: dry-run now
		// and name them, beside the hold.
		problems, forbidden = s.dryRunProblems(ctx, tn, toApply, bySubject)
		problemReason = ReasonApplyFailed
	}
	s.setHeld(gs, held, why, stale)
	if len(problems) > 0 {
		msg := fmt.Sprintf("revision %s: nothing applied:\n%s", rev.Short(), problems.Error())
		if forbidden {
			msg += "\n" + whatTenantsMay(tn)
		}
		if held {
			msg += "\nthe commit would also be held by the mass-deletion guard (fix the problems first): " + why
		}
		s.fail(ctx, gs, rev, problemReason, msg, start)
		return ctrl.Result{RequeueAfter: interval}, nil
	}
	if held {
		s.setReady(gs, false, ReasonPruneHeld, why)
		s.record(ctx, gs, rev, "Held", corev1alpha1.SyncRecord{Error: why}, nil, start)
		sourceFailing.WithLabelValues(gs.Namespace, gs.Name).Set(0)
		s.recorder.Eventf(gs, nil, corev1.EventTypeWarning, ReasonPruneHeld, "Sync", "%s", why)
		return ctrl.Result{RequeueAfter: interval}, nil
	}
	cs, err := tn.rm.ApplyAll(ctx, toApply, ssa.DefaultApplyOptions())
	if err != nil {
		s.skip.forget(sourceKey)
		msg := s.explainApplyError(ctx, tn, err, toApply, bySubject)
		s.fail(ctx, gs, rev, ReasonApplyFailed, fmt.Sprintf("revision %s: nothing applied:\n%s", rev.Short(), msg), start)
		return ctrl.Result{RequeueAfter: interval}, nil
	}
	cs.Append(unchangedEntries(unchanged))
	if len(toApply) > 0 {
		if live, err = s.liveStates(ctx, tn.client, sourceLabel, apply); err != nil {
			s.skip.forget(sourceKey)
		} else {
			s.skip.remember(sourceKey, apply, live, len(unchanged) == 0)
		}
	}

	var pruned []string
	if prune {
		for _, r := range stale {
			if err := s.pruneOne(ctx, tn.client, r, sourceLabel); err != nil {
				s.fail(ctx, gs, rev, ReasonApplyFailed, fmt.Sprintf("revision %s applied, but pruning %s/%s failed: %v", rev.Short(), r.Kind, r.Name, err), start)
				return ctrl.Result{}, err
			}
			// Kind/namespace/name, as ssa names the created and configured
			// ones: the ledger's readers tell namespaces apart by it.
			id := r.Kind + "/" + r.Name
			if r.Namespace != "" {
				id = r.Kind + "/" + r.Namespace + "/" + r.Name
			}
			pruned = append(pruned, id)
		}
		gs.Status.Inventory = mergeInventory(kept, newInv)
	} else {
		gs.Status.Inventory = mergeInventory(gs.Status.Inventory, newInv)
	}

	grouped := cs.ToGroupedMap()
	rec := corev1alpha1.SyncRecord{
		Created: len(grouped[ssa.CreatedAction]), Configured: len(grouped[ssa.ConfiguredAction]),
		Unchanged: len(grouped[ssa.UnchangedAction]), Pruned: len(pruned),
	}
	gs.Status.LastAppliedRevision = rev.String()
	msg := fmt.Sprintf("applied revision %s (%d created, %d configured, %d unchanged, %d pruned)", rev, rec.Created, rec.Configured, rec.Unchanged, rec.Pruned)
	if len(waiting) > 0 {
		msg += "; not pruned yet: " + strings.Join(waiting, "; ")
		s.recorder.Eventf(gs, nil, corev1.EventTypeWarning, ReasonPruneWaiting, "Sync", "%s", strings.Join(waiting, "; "))
	}
	s.setReady(gs, true, ReasonApplied, msg)
	changed := rec.Created+rec.Configured+rec.Pruned > 0
	if changed || s.firstSyncOf(gs, rev) {
		s.record(ctx, gs, rev, "Applied", rec, &SyncEvent{
			Created: subjects(grouped[ssa.CreatedAction]), Updated: subjects(grouped[ssa.ConfiguredAction]), Pruned: pruned,
		}, start)
		s.recorder.Eventf(gs, nil, corev1.EventTypeNormal, ReasonApplied, "Sync", "%s", msg)
	}
	syncsTotal.WithLabelValues("applied").Inc()
	sourceFailing.WithLabelValues(gs.Namespace, gs.Name).Set(0)
	objectsApplied.Add(float64(rec.Created + rec.Configured))
	objectsPruned.Add(float64(rec.Pruned))
	syncSeconds.Observe(time.Since(start).Seconds())
	return ctrl.Result{RequeueAfter: interval}, nil
}

// credentialsError is a fetch failure no retry fixes until the Secret
// changes (the Secret's watch is not needed: the interval retries).
type credentialsError struct{ error }

// render fetches gs's repository and renders its path: the manifests as
// git has them now, not yet namespaced or labelled. On failure it returns
// the condition reason.
func (s *Syncer) render(ctx context.Context, gs *corev1alpha1.GitSource) ([]Object, Revision, string, error) {
	creds, err := s.credentials(ctx, gs)
	if err != nil {
		return nil, Revision{}, ReasonFetchFailed, credentialsError{err}
	}
	key := gs.Namespace + "/" + gs.Name + "/" + string(gs.UID)
	dir, rev, err := s.fetcher.Fetch(ctx, strings.ReplaceAll(key, "/", "_"), gs.Spec.URL, Ref{Branch: gs.Spec.Ref.Branch, Tag: gs.Spec.Ref.Tag, Commit: gs.Spec.Ref.Commit}, creds)
	if err != nil {
		return nil, rev, ReasonFetchFailed, err // rev names a commit refused for its size
	}
	path := gs.Spec.Path
	if path == "" {
		path = "."
	}
	objs, err := Render(dir, filepath.Join(dir, filepath.Clean(path)))
	if err != nil {
		return nil, rev, ReasonRenderFailed, fmt.Errorf("revision %s: nothing applied: %v", rev.Short(), err)
	}
	return objs, rev, "", nil
}

// Desired returns what git says for gs's objects now, namespaced and
// labelled as the syncer would apply them, and the revision. Break-glass
// compares held objects with it.
func (s *Syncer) Desired(ctx context.Context, gs *corev1alpha1.GitSource) ([]*unstructured.Unstructured, Revision, error) {
	objs, rev, _, err := s.render(ctx, gs)
	if err != nil {
		return nil, rev, err
	}
	target := gs.Spec.TargetNamespace
	if target == "" {
		target = gs.Namespace
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		u := o.Unstructured.DeepCopy()
		u.SetNamespace(namespaceFor(u, target))
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[corev1alpha1.SourceLabel] = gs.Namespace + "." + gs.Name
		u.SetLabels(labels)
		out[i] = u
	}
	return out, rev, nil
}

// firstSyncOf reports whether this process has not synced rev of gs yet,
// so a restart or a new revision with no changes still leaves a record.
func (s *Syncer) firstSyncOf(gs *corev1alpha1.GitSource, rev Revision) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := gs.Namespace + "/" + gs.Name
	if s.lastSeen[k] == rev.Hash {
		return false
	}
	s.lastSeen[k] = rev.Hash
	return gs.Status.LastAppliedRevision != rev.String() || len(gs.Status.History) == 0
}

func (s *Syncer) fail(ctx context.Context, gs *corev1alpha1.GitSource, rev Revision, reason, msg string, start time.Time) {
	s.setReady(gs, false, reason, msg)
	s.recorder.Eventf(gs, nil, corev1.EventTypeWarning, reason, "Sync", "%s", firstLines(msg, 5))
	syncsTotal.WithLabelValues("failed").Inc()
	sourceFailing.WithLabelValues(gs.Namespace, gs.Name).Set(1)
	syncSeconds.Observe(time.Since(start).Seconds())
	// Record each failing revision once, not every interval.
	if n := len(gs.Status.History); n > 0 && gs.Status.History[0].Result == "Failed" && gs.Status.History[0].Revision == rev.String() && gs.Status.History[0].Error == msg {
		return
	}
	s.record(ctx, gs, rev, "Failed", corev1alpha1.SyncRecord{Error: msg}, nil, start)
}

func (s *Syncer) record(ctx context.Context, gs *corev1alpha1.GitSource, rev Revision, result string, rec corev1alpha1.SyncRecord, ev *SyncEvent, start time.Time) {
	rec.Revision = rev.String()
	if rev.Hash == "" {
		rec.Revision = ""
	}
	rec.Author, rec.Message = rev.Author, rev.Message
	rec.Time = metav1.Now()
	rec.Result = result
	rec.Duration = time.Since(start).Round(time.Millisecond).String()
	gs.Status.History = append([]corev1alpha1.SyncRecord{rec}, gs.Status.History...)
	if len(gs.Status.History) > historyLength {
		gs.Status.History = gs.Status.History[:historyLength]
	}
	if s.opts.Recorder != nil {
		e := SyncEvent{Source: gs.Namespace + "/" + gs.Name, Revision: rev, Result: result, Error: rec.Error}
		if ev != nil {
			e.Created, e.Updated, e.Pruned = ev.Created, ev.Updated, ev.Pruned
		}
		s.opts.Recorder.Synced(ctx, e)
	}
}

// setHeld records whether this revision's prune is held: a hold is about
// one revision, so every later one that gets this far sets it anew.
func (s *Syncer) setHeld(gs *corev1alpha1.GitSource, held bool, why string, stale []corev1alpha1.ObjectRef) {
	if !held {
		gs.Status.HeldPrune = nil
		meta.SetStatusCondition(&gs.Status.Conditions, metav1.Condition{Type: TypePruneHeld, Status: metav1.ConditionFalse, Reason: ReasonNothingHeld, ObservedGeneration: gs.Generation})
		return
	}
	gs.Status.HeldPrune = stale
	meta.SetStatusCondition(&gs.Status.Conditions, metav1.Condition{Type: TypePruneHeld, Status: metav1.ConditionTrue, Reason: ReasonPruneHeld, Message: why, ObservedGeneration: gs.Generation})
}

func (s *Syncer) setReady(gs *corev1alpha1.GitSource, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&gs.Status.Conditions, metav1.Condition{Type: TypeReady, Status: st, Reason: reason, Message: msg, ObservedGeneration: gs.Generation})
	// kstatus: a revision that cannot be applied needs a new commit (or a
	// confirmation, or a permission): Stalled; a fetch is retried.
	switch reason {
	case ReasonApplied, ReasonSuspended:
		conditions.Settled(&gs.Status.Conditions)
	case ReasonFetchFailed:
		conditions.Reconciling(&gs.Status.Conditions, gs.Generation, reason, msg)
	default:
		conditions.Stalled(&gs.Status.Conditions, gs.Generation, reason, msg)
	}
}

// guard decides whether pruning stale objects needs confirmation: more than
// maxPrunePercent of the inventory, or any object with deletion protection.
func (s *Syncer) guard(ctx context.Context, c client.Reader, gs *corev1alpha1.GitSource, stale []corev1alpha1.ObjectRef, rev Revision) (bool, string) {
	if c := gs.Annotations[corev1alpha1.ConfirmPruneAnnotation]; c != "" && strings.HasPrefix(rev.Hash, c) {
		return false, ""
	}
	var protected []string
	for _, r := range stale {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(r.APIVersion)
		u.SetKind(r.Kind)
		if err := c.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, u); err == nil &&
			u.GetAnnotations()[corev1alpha1.DeletionProtectionAnnotation] == "true" {
			protected = append(protected, r.Kind+"/"+r.Name)
		}
	}
	limit := int(gs.Spec.MaxPrunePercent)
	if gs.Spec.MaxPrunePercent == 0 && gs.Spec.Prune == nil {
		limit = 25
	}
	share := 100 * len(stale) / max(len(gs.Status.Inventory), 1)
	names := make([]string, len(stale))
	for i, r := range stale {
		names[i] = r.Kind + "/" + r.Name
	}
	// -n always: the one running it is rarely in the GitSource's namespace.
	confirm := fmt.Sprintf("to confirm, run `infraplane sync %s -n %s --confirm` or annotate the GitSource %s=%s", gs.Name, gs.Namespace, corev1alpha1.ConfirmPruneAnnotation, rev.Short())
	switch {
	case len(protected) > 0:
		return true, fmt.Sprintf("revision %s would delete objects with deletion protection: %s; nothing applied; %s", rev.Short(), strings.Join(protected, ", "), confirm)
	case share > limit:
		return true, fmt.Sprintf("revision %s would delete %d of %d objects (%d%%, more than maxPrunePercent %d%%): %s; nothing applied; %s",
			rev.Short(), len(stale), len(gs.Status.Inventory), share, limit, strings.Join(names, ", "), confirm)
	}
	return false, ""
}

// pruneOne deletes an object that left git, if it still carries our source
// label (something else may have taken it over). The object's own
// finalizer deletes or abandons the cloud resource per its deletionPolicy.
func (s *Syncer) pruneOne(ctx context.Context, c client.Client, r corev1alpha1.ObjectRef, sourceLabel string) error {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(r.APIVersion)
	u.SetKind(r.Kind)
	if err := c.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, u); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil
		}
		return err
	}
	if u.GetLabels()[corev1alpha1.SourceLabel] != sourceLabel {
		return nil
	}
	if s.opts.Exclude != nil && r.Namespace != "" {
		if skip, _ := s.opts.Exclude(ctx, r.Namespace, u); skip {
			return nil
		}
	}
	return client.IgnoreNotFound(c.Delete(ctx, u))
}

// explainApplyError turns a failed apply into problems with file and line:
// on a dry-run failure, every object is dry-run again so all errors are
// listed, not just the first.
func (s *Syncer) explainApplyError(ctx context.Context, tn *tenant, err error, apply []*unstructured.Unstructured, bySubject map[string]Object) string {
	ps, forbidden := s.dryRunProblems(ctx, tn, apply, bySubject)
	if len(ps) == 0 {
		if !apierrors.IsForbidden(err) {
			return err.Error()
		}
		return err.Error() + "\n" + whatTenantsMay(tn)
	}
	if forbidden {
		return ps.Error() + "\n" + whatTenantsMay(tn)
	}
	return ps.Error()
}

// dryRunProblems dry-runs every object on its own, so every refusal is
// listed with its file and line, not just the first.
func (s *Syncer) dryRunProblems(ctx context.Context, tn *tenant, apply []*unstructured.Unstructured, bySubject map[string]Object) (ps Problems, forbidden bool) {
	for _, u := range apply {
		obj := bySubject[subject(u)]
		dry := u.DeepCopy()
		derr := tn.client.Patch(ctx, dry, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(FieldManager))
		if derr == nil {
			continue
		}
		forbidden = forbidden || apierrors.IsForbidden(derr)
		ps = append(ps, ProblemsFromAPIError(obj, derr)...)
	}
	return ps, forbidden
}

func (s *Syncer) credentials(ctx context.Context, gs *corev1alpha1.GitSource) (*Credentials, error) {
	if gs.Spec.SecretRef == nil {
		return nil, nil
	}
	var sec corev1.Secret
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: gs.Namespace, Name: gs.Spec.SecretRef.Name}, &sec); err != nil {
		return nil, fmt.Errorf("reading credentials Secret %q: %w", gs.Spec.SecretRef.Name, err)
	}
	d := sec.Data
	return &Credentials{
		Username: string(d["username"]), Password: string(d["password"]), BearerToken: string(d["bearerToken"]),
		SSHKey: d["identity"], KnownHosts: d["known_hosts"],
	}, nil
}

func (s *Syncer) namespaced(gvk schema.GroupVersionKind) (bool, error) {
	m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false, err
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// exists looks a referenced object up in the target namespace, by kind name
// among the kinds references may point at.
func (s *Syncer) exists(ctx context.Context, c client.Reader, ns, kind, name string) bool {
	gvk, ok := s.opts.RefKinds[kind]
	if !ok {
		return false
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u) == nil
}

func subject(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

func subjects(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

// inventoryOf lists objs as applied (namespaced already; a Blueprint's
// entry has no namespace).
func inventoryOf(objs []Object, dir string) []corev1alpha1.ObjectRef {
	out := make([]corev1alpha1.ObjectRef, 0, len(objs))
	for _, o := range objs {
		r := corev1alpha1.ObjectRef{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Name: o.GetName(), Namespace: o.GetNamespace()}
		// The file, relative to the repository's root, is the object's
		// git origin for people (status, trace, the dashboard).
		if o.Source.File != "" {
			r.File = path.Join(".", filepath.ToSlash(dir), filepath.ToSlash(o.Source.File))
			r.Line = int32(o.Source.Line)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, compareRefs)
	return out
}

func compareRefs(a, b corev1alpha1.ObjectRef) int {
	return strings.Compare(a.Kind+"/"+a.Namespace+"/"+a.Name, b.Kind+"/"+b.Namespace+"/"+b.Name)
}

// staleRefs are in the old inventory and not in the new one (compared by
// group, kind, namespace and name: a version change is not a removal).
func staleRefs(old, cur []corev1alpha1.ObjectRef) []corev1alpha1.ObjectRef {
	key := func(r corev1alpha1.ObjectRef) string {
		gv, _ := schema.ParseGroupVersion(r.APIVersion)
		return gv.Group + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
	}
	keep := map[string]bool{}
	for _, r := range cur {
		keep[key(r)] = true
	}
	var out []corev1alpha1.ObjectRef
	for _, r := range old {
		if !keep[key(r)] {
			out = append(out, r)
		}
	}
	return out
}

func mergeInventory(old, cur []corev1alpha1.ObjectRef) []corev1alpha1.ObjectRef {
	out := append(slices.Clone(cur), staleRefs(old, cur)...)
	slices.SortFunc(out, compareRefs)
	return out
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}
