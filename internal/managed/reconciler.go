package managed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
)

// Finalizer keeps an object until its cloud resource is deleted (or
// abandoned, per spec.deletionPolicy).
const Finalizer = "infraplane.dev/cleanup"

// PausedAnnotation set to "true" stops all cloud writes for an object; it
// is still observed and drift is still reported.
const PausedAnnotation = "infraplane.dev/paused"

// Kind describes one managed kind to the generic reconciler.
type Kind[T Object] struct {
	// Name is the kind's name, e.g. "Topic".
	Name string
	// New returns an empty object of the kind.
	New func() T
	// NewList returns an empty list of the kind.
	NewList func() client.ObjectList
	// Connector binds the kind's cloud client to an object.
	Connector Connector[T]
	// References lists an object's references (optional).
	References func(obj T) []Reference
	// Targets are the kinds References may point at; a change of one of
	// them wakes the objects that reference it.
	Targets []ReferenceTarget
	// Claims says the kind's cloud resources carry no ownership label
	// (Bigtable tables): the reconciler records, cluster-wide, which object
	// manages each one (a ResourceClaim, claims.go) before creating or
	// adopting it.
	Claims bool
}

// PauseFunc says whether writes to the cloud are paused for an object, and
// why. Break-glass and other policies plug in here.
type PauseFunc func(ctx context.Context, obj Object) (paused bool, reason, message string)

// HoldFunc says whether an object is held apart from git (a break-glass
// ended with the object diverged), and why; the reconciler shows it as the
// Diverged condition. Holding does not stop the reconciler.
type HoldFunc func(ctx context.Context, obj Object) (held bool, reason, message string)

// Wake makes changes of another kind wake objects of every managed kind:
// Map returns the objects of kind gk that a change of obj concerns.
type Wake struct {
	Source client.Object
	Map    func(ctx context.Context, gk schema.GroupKind, obj client.Object) []types.NamespacedName
}

// Options tune every managed reconciler.
type Options struct {
	// ResyncInterval is how often an unchanged object's cloud resource is
	// read to detect drift; spec.resyncInterval overrides it per object.
	ResyncInterval time.Duration
	// MinResyncInterval is the shortest spec.resyncInterval honoured; a
	// shorter one is raised to it (zero: no floor).
	MinResyncInterval time.Duration
	// Concurrency is the number of objects of one kind reconciled at once.
	Concurrency int
	// PassTimeout bounds one pass's cloud work (default 3 min: above the
	// longest wait a kind does, Spanner's operations at 2 min), so a hung
	// connection cannot hold a worker forever.
	PassTimeout time.Duration
	// Pauses are extra pause policies, consulted after the paused annotation.
	Pauses []PauseFunc
	// Auditor, if set, records every cloud write.
	Auditor Auditor
	// Holds are consulted on every reconcile for the Diverged condition.
	Holds []HoldFunc
	// Wake adds watches (break-glass opening or ending wakes its targets).
	Wake []Wake
}

// Reconciler reconciles one managed kind against the cloud.
type Reconciler[T Object] struct {
	kind      Kind[T]
	client    client.Client
	apiReader client.Reader // uncached, for retries after conflicts
	providers *provider.Resolver
	recorder  events.EventRecorder
	opts      Options
	objects   *objectSet
	recent    recentCreates
	listings  listings
	stale     sync.Map // NamespacedName -> struct{}: the cache lost a write race on it
}

// result of one pass, for metrics and requeueing.
type outcome struct {
	res    ctrl.Result
	err    error
	metric string // success, error, waiting
}

// Reconcile brings one object's cloud resource to its spec, and its status
// to what the cloud reports.
func (r *Reconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := time.Now()
	obj := r.kind.New()
	// After a conflict the cache is known to lag this object: read it from
	// the API server, or the pass would conflict again (or, before its
	// status shows the resource, try to create it again).
	var reader client.Reader = r.client
	if _, ok := r.stale.LoadAndDelete(req.NamespacedName); ok {
		reader = r.apiReader
	}
	if err := reader.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.objects.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("kind", r.kind.Name))

	var out outcome
	if !obj.GetDeletionTimestamp().IsZero() {
		passCtx, cancel := context.WithTimeout(ctx, r.opts.PassTimeout)
		out = r.reconcileDelete(passCtx, obj)
		cancel()
		observeReconcile(r.kind.Name, out.metric, start)
		return out.res, out.err
	}

	if r.waitsQuietly(ctx, obj) {
		observeReconcile(r.kind.Name, "waiting", start)
		return ctrl.Result{RequeueAfter: min(r.resyncInterval(obj), time.Minute)}, nil
	}

	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		patch := client.MergeFromWithOptions(obj.DeepCopyObject().(T), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(obj, Finalizer)
		if err := r.client.Patch(ctx, obj, patch); err != nil {
			if apierrors.IsConflict(err) {
				r.stale.Store(req.NamespacedName, struct{}{})
			}
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	before := obj.DeepCopyObject().(T)
	passCtx, cancel := context.WithTimeout(ctx, r.opts.PassTimeout)
	conditionsOf(obj).begin()
	out = r.reconcileLive(passCtx, obj)
	cancel()
	conditionsOf(obj).finish()

	if statusWorthWriting(before, obj) {
		// The optimistic lock matters: a pass that started from a cache
		// lagging our previous write would otherwise leave parts of that
		// write (e.g. a failure condition) in place.
		patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
		if err := r.client.Status().Patch(ctx, obj, patch); err != nil {
			switch {
			case apierrors.IsNotFound(err):
				return ctrl.Result{}, nil
			case apierrors.IsConflict(err):
				// A pass that created the resource must not lose that fact:
				// the next pass would find it AlreadyExists and, for kinds
				// without an ownership label, not know it is ours.
				if id := obj.ManagedStatus().ResourceID; id != "" && before.ManagedStatus().ResourceID == "" {
					if rerr := r.recordCreated(ctx, obj, id); rerr != nil {
						return ctrl.Result{}, errors.Join(out.err, fmt.Errorf("recording the created resource: %w", rerr))
					}
				}
				// Someone wrote in between: look again with fresh data.
				r.stale.Store(req.NamespacedName, struct{}{})
				observeReconcile(r.kind.Name, "conflict", start)
				return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, out.err
			}
			observeReconcile(r.kind.Name, "error", start)
			return ctrl.Result{}, errors.Join(out.err, fmt.Errorf("writing status: %w", err))
		}
	}
	r.objects.mark(req.NamespacedName, obj.ManagedStatus().Conditions)
	observeReconcile(r.kind.Name, out.metric, start)
	return out.res, out.err
}

// waitsQuietly reports whether a new object (no status yet) only waits for
// a referenced object that exists but has not been reconciled yet (applied
// together): the target's watch wakes it, and until then nothing is
// written, not even the finalizer (nothing is created before it is added).
// A status write here would cost an API write per object, and the next
// pass, starting from a cache that lags it, a conflict. Past quietWait
// after its creation the object says what it waits for, as any other.
func (r *Reconciler[T]) waitsQuietly(ctx context.Context, obj T) bool {
	if r.kind.References == nil || len(obj.ManagedStatus().Conditions) > 0 || obj.ManagedStatus().ResourceID != "" ||
		time.Since(obj.GetCreationTimestamp().Time) > quietWait {
		return false
	}
	refs := r.kind.References(obj)
	_, err := resolveReferences(ctx, r.client, obj.GetNamespace(), refs)
	var w *waitingError
	if errors.As(err, &w) && w.missing {
		// Applied together, the target may be newer than the cache: one
		// read of the API server tells.
		_, err = resolveReferences(ctx, r.apiReader, obj.GetNamespace(), refs)
	}
	return errors.As(err, &w) && w.unreconciled
}

// quietWait bounds how long a new object waits for an unreconciled target
// without a status (the safety-net requeue is at most a minute).
const quietWait = time.Minute

// reconcileLive handles an object that is not being deleted. It mutates
// the object's status; the caller persists it.
func (r *Reconciler[T]) reconcileLive(ctx context.Context, obj T) outcome {
	spec, st := obj.ManagedSpec(), obj.ManagedStatus()
	cond := conditionsOf(obj)
	resync := r.resyncInterval(obj)
	id := resourceID(obj)
	steady := inSteadyState(obj) // before this pass changes the status
	// Someone asked to read the cloud now: this pass reads with a Get, and
	// the status says which request it answered, whatever the outcome.
	if req := obj.GetAnnotations()[commonv1.RequestedAtAnnotation]; req != "" && req != st.LastHandledRequest {
		steady = false
		st.LastHandledRequest = req
	}

	paused, pauseReason, pauseMsg := r.paused(ctx, obj)
	if paused {
		cond.paused(true, pauseReason, pauseMsg)
	} else {
		cond.paused(false, commonv1.ReasonActive, "")
	}
	writes := !paused && spec.ManagementPolicy != commonv1.ManagementObserveOnly
	r.setHold(ctx, obj)

	prov, err := r.providers.ForNamespace(ctx, obj.GetNamespace())
	if err != nil {
		reason := commonv1.ReasonProviderError
		if errors.As(err, new(*provider.NotPermittedError)) {
			reason = commonv1.ReasonNotPermitted
		}
		cond.failed(reason, err.Error())
		return outcome{res: ctrl.Result{RequeueAfter: resync}, metric: "error"}
	}

	var refs []Reference
	if r.kind.References != nil {
		refs = r.kind.References(obj)
	}
	resolved, err := resolveReferences(ctx, r.client, obj.GetNamespace(), refs)
	if err != nil {
		var w *waitingError
		if errors.As(err, &w) {
			cond.failed(commonv1.ReasonWaitingForRef, w.msg)
			// The target's watch wakes us when it changes; the timer is
			// only a safety net.
			return outcome{res: ctrl.Result{RequeueAfter: min(resync, time.Minute)}, metric: "waiting"}
		}
		cond.failed(commonv1.ReasonReferenceError, err.Error())
		return outcome{err: err, metric: "error"}
	}

	owner := OwnerValue(obj.GetNamespace(), obj.GetName())
	ext, err := r.kind.Connector.Connect(ctx, obj, Env{Provider: prov, ResourceID: id, Owner: owner, Refs: resolved})
	if err != nil {
		cond.failed(commonv1.ReasonProviderError, fmt.Sprintf("connecting to the cloud with ProviderConfig %q: %v", prov.Name, err))
		return outcome{err: err, metric: "error"}
	}
	lister, _ := ext.(ListObserver[T])
	ext = r.notingWrites(ext, prov)
	// Every cloud name the object reaches stays in its ProviderConfig's
	// projects (confine.go), before any cloud call.
	if err := confine(prov, ext.Name(), refs, resolved); err != nil {
		cond.failed(commonv1.ReasonNotPermitted, err.Error())
		return outcome{res: ctrl.Result{RequeueAfter: resync}, metric: "error"}
	}
	st.SelfLink = ext.Name()
	if r.kind.Claims && spec.ManagementPolicy != commonv1.ManagementObserveOnly {
		if msg, err := r.claim(ctx, obj, ext.Name()); err != nil {
			cond.failed(commonv1.ReasonReconcileError, fmt.Sprintf("recording that this object manages %s: %v", ext.Name(), err))
			return outcome{err: err, metric: "error"}
		} else if msg != "" {
			cond.failed(commonv1.ReasonAlreadyExists, msg)
			return outcome{res: ctrl.Result{RequeueAfter: resync}, metric: "error"}
		}
	}

	// A resource this object never created: try to create it first. Create
	// is atomic where observe-then-create would race, and it saves a read
	// on the common path. AlreadyExists falls through to the adoption rules.
	// An object that asks to adopt expects the resource to be there: it is
	// read first, so adopting (e.g. imported manifests) sends the cloud no
	// write at all, not even a refused create.
	if st.ResourceID == "" && r.recent.created(obj.GetUID(), id, time.Now()) {
		// Created by an earlier pass whose status write the cache does
		// not show yet: ours, no second create.
		st.ResourceID, st.SyncedGeneration = id, notSynced
	}
	if st.ResourceID == "" && writes && !spec.Adopt {
		intent, err := r.intend(ctx, obj, "create", nil, false)
		if err != nil {
			return r.heldByLedger(obj, "Create", "creating", err)
		}
		err = ext.Create(ctx, obj)
		switch {
		case err == nil:
			r.audit(ctx, obj, "create", nil, false, nil, intent)
			r.recent.add(obj.GetUID(), id, time.Now())
			st.ResourceID = id
			st.Drift = nil
			st.SyncedGeneration = obj.GetGeneration()
			now := metav1.Now()
			st.LastSyncTime = &now
			cond.ready(true, commonv1.ReasonAvailable, fmt.Sprintf("created %s", st.SelfLink))
			cond.synced(true, commonv1.ReasonReconcileSuccess, "")
			cond.drifted(false, commonv1.ReasonInSync, "")
			// No Created event: Ready (Available, "created …", with its
			// transition time) says the same, the ledger records the cloud
			// write, and the event was an API write per object.
			return outcome{res: ctrl.Result{RequeueAfter: jitter(resync)}, metric: "success"}
		case IsAlreadyExists(err):
			// decided below, after reading it
			r.audit(ctx, obj, "create", nil, false, err, intent)
		case isCreateAccepted(err):
			// Made, not finished: ours, whatever labels it carries.
			r.audit(ctx, obj, "create", nil, false, nil, intent)
			st.ResourceID, st.SyncedGeneration = id, notSynced
			return r.cloudFailed(obj, "Create", "finishing the creation of", err, resync)
		default:
			r.audit(ctx, obj, "create", nil, false, err, intent)
			return r.cloudFailed(obj, "Create", "creating", err, resync)
		}
	}

	var obs Observation
	listed := false
	if steady && lister != nil {
		obs, listed = r.observeListed(ctx, obj, lister, prov, ext.Name(), owner, resync)
	}
	if !listed {
		cloudObservesTotal.WithLabelValues(r.kind.Name, prov.Name, "get").Inc()
		if obs, err = ext.Observe(ctx, obj); err != nil {
			return r.cloudFailed(obj, "Observe", "reading", err, resync)
		}
	}
	now := metav1.Now()
	st.LastSyncTime = &now

	if !obs.Exists {
		return r.handleMissing(ctx, obj, ext, writes, resync)
	}

	// Observing needs no ownership: reading never fights. Otherwise the
	// adoption rules apply to a resource this object has not recorded as its
	// own, and also to one it had, if what is there now carries another
	// object's label (deleted and re-created by someone else meanwhile): that
	// one is released, never written or deleted.
	if spec.ManagementPolicy != commonv1.ManagementObserveOnly {
		if st.ResourceID != "" && obs.Owner != "" && obs.Owner != owner {
			st.ResourceID = ""
		}
		if st.ResourceID == "" {
			// Adopting resets syncedGeneration: no pass has synced this
			// resource yet (passes under ObserveOnly do not count).
			switch decideAdoption(obs.Owner, owner, spec.Adopt) {
			case adoptOwned:
				st.ResourceID, st.SyncedGeneration = id, notSynced
				r.event(obj, corev1.EventTypeNormal, "Adopted", "Adopt", "found %s carrying this object's ownership label; managing it again", st.SelfLink)
			case adoptAllowed:
				st.ResourceID, st.SyncedGeneration = id, notSynced
				st.AdoptedGeneration = obj.GetGeneration()
				r.event(obj, corev1.EventTypeNormal, "Adopted", "Adopt", "adopted existing %s (spec.adopt is true)", st.SelfLink)
			case adoptConflict:
				msg := fmt.Sprintf("%s already exists and belongs to another object (cloud label %s=%s); two objects never manage one resource: choose another spec.resourceID or delete the other object", st.SelfLink, OwnerLabelKey, obs.Owner)
				cond.failed(commonv1.ReasonAlreadyExists, msg)
				return outcome{res: ctrl.Result{RequeueAfter: resync}, metric: "error"}
			default:
				msg := fmt.Sprintf("%s already exists and was not created by this object (it has no %s label); set spec.adopt: true to manage it, or choose another spec.resourceID", st.SelfLink, OwnerLabelKey)
				cond.failed(commonv1.ReasonAlreadyExists, msg)
				return outcome{res: ctrl.Result{RequeueAfter: resync}, metric: "error"}
			}
		}
	}

	// A spec change after the adoption is the owner's decision: from then
	// on the adopted resource is like one this object created.
	if st.AdoptedGeneration != 0 && obj.GetGeneration() > st.AdoptedGeneration {
		st.AdoptedGeneration = 0
	}
	return r.handleDiff(ctx, obj, ext, obs.Diff, writes, paused, resync)
}

// handleMissing deals with a resource that Observe did not find.
func (r *Reconciler[T]) handleMissing(ctx context.Context, obj T, ext ExternalClient[T], writes bool, resync time.Duration) outcome {
	st := obj.ManagedStatus()
	cond := conditionsOf(obj)
	hadIt := st.ResourceID != ""
	if !writes {
		msg := fmt.Sprintf("%s does not exist", st.SelfLink)
		switch {
		case obj.ManagedSpec().ManagementPolicy == commonv1.ManagementObserveOnly:
			msg += "; managementPolicy ObserveOnly never creates it"
		default:
			msg += "; writes are paused, so it is not created"
		}
		cond.ready(false, commonv1.ReasonNotFound, msg)
		cond.synced(true, commonv1.ReasonObserved, "")
		if hadIt {
			cond.drifted(true, commonv1.ReasonDriftDetected, "the cloud resource was deleted outside infraplane")
		}
		return outcome{res: ctrl.Result{RequeueAfter: jitter(resync)}, metric: "success"}
	}
	// It was ours and someone deleted it (or it never got created because
	// Create said AlreadyExists and it vanished since): create it again.
	// Until that succeeds it is not Ready, whatever it was: what depends
	// on it cannot work now (failed() below keeps this, as Ready is no
	// longer True).
	cond.ready(false, commonv1.ReasonNotFound, fmt.Sprintf("%s was not found in the cloud; creating it again", st.SelfLink))
	intent, err := r.intend(ctx, obj, "create", nil, false)
	if err != nil {
		return r.heldByLedger(obj, "Create", "re-creating", err)
	}
	if err := ext.Create(ctx, obj); err != nil {
		if IsAlreadyExists(err) {
			r.audit(ctx, obj, "create", nil, false, err, intent)
			// Someone created it in between: not necessarily ours. Release
			// the claim; the next pass applies the adoption rules.
			st.ResourceID = ""
			return outcome{res: ctrl.Result{RequeueAfter: time.Second}, metric: "waiting"}
		}
		if isCreateAccepted(err) {
			r.audit(ctx, obj, "create", nil, false, nil, intent)
			st.ResourceID, st.SyncedGeneration = resourceID(obj), notSynced
			return r.cloudFailed(obj, "Create", "finishing the re-creation of", err, resync)
		}
		r.audit(ctx, obj, "create", nil, false, err, intent)
		return r.cloudFailed(obj, "Create", "re-creating", err, resync)
	}
	r.audit(ctx, obj, "create", nil, false, nil, intent)
	st.ResourceID = resourceID(obj)
	r.recent.add(obj.GetUID(), st.ResourceID, time.Now())
	st.Drift = nil
	st.SyncedGeneration = obj.GetGeneration()
	if hadIt {
		cond.ready(true, commonv1.ReasonAvailable, fmt.Sprintf("created %s again: it was not found in the cloud", st.SelfLink))
	} else {
		cond.ready(true, commonv1.ReasonAvailable, fmt.Sprintf("created %s", st.SelfLink))
	}
	cond.synced(true, commonv1.ReasonReconcileSuccess, "")
	cond.drifted(false, commonv1.ReasonInSync, "")
	if hadIt {
		driftRepairsTotal.WithLabelValues(r.kind.Name).Inc()
		r.event(obj, corev1.EventTypeWarning, "Recreated", "Create", "%s was not found (deleted outside infraplane, or an in-memory local cloud restarted); created it again", st.SelfLink)
	} // a first create has no event: Ready says it (see reconcileLive)
	return outcome{res: ctrl.Result{RequeueAfter: jitter(resync)}, metric: "success"}
}

// handleDiff reports and, when allowed, applies the differences between the
// spec and the cloud.
func (r *Reconciler[T]) handleDiff(ctx context.Context, obj T, ext ExternalClient[T], diff []FieldDiff, writes, paused bool, resync time.Duration) outcome {
	st := obj.ManagedStatus()
	cond := conditionsOf(obj)
	done := outcome{res: ctrl.Result{RequeueAfter: jitter(resync)}, metric: "success"}

	if len(diff) == 0 {
		st.Drift = nil
		st.SyncedGeneration = obj.GetGeneration()
		cond.available()
		cond.synced(true, commonv1.ReasonReconcileSuccess, "")
		cond.drifted(false, commonv1.ReasonInSync, "")
		return done
	}

	// A difference is drift when the spec has not changed since the last
	// successful sync: the cloud moved, not the spec.
	isDrift := st.SyncedGeneration == obj.GetGeneration()
	st.Drift = toDrift(diff)

	if !writes {
		cond.available()
		cond.synced(true, commonv1.ReasonObserved, "")
		why := "managementPolicy is ObserveOnly"
		if paused {
			why = "writes are paused"
		}
		if isDrift {
			cond.drifted(true, commonv1.ReasonDriftDetected, fmt.Sprintf("%s differs from the spec (%s; not repaired)", describeFields(diff), why))
		} else {
			cond.drifted(true, commonv1.ReasonPendingChanges, fmt.Sprintf("spec changes to %s are not applied (%s)", describeFields(diff), why))
		}
		return done
	}

	var mutable, immutable, blocked []FieldDiff
	for _, d := range diff {
		if d.LowersProtection && d.Blocked == "" && st.AdoptedGeneration != 0 {
			d.Blocked = "this object adopted the resource, and adopting never lowers what protects it: change the spec again after the adoption to lower it"
		}
		switch {
		case d.Blocked != "":
			blocked = append(blocked, d)
		case d.Immutable:
			immutable = append(immutable, d)
		default:
			mutable = append(mutable, d)
		}
	}

	if len(mutable) > 0 {
		intent, err := r.intend(ctx, obj, "update", mutable, isDrift)
		if err != nil {
			return r.heldByLedger(obj, "Update", "updating", err)
		}
		err = ext.Update(ctx, obj, mutable)
		r.audit(ctx, obj, "update", mutable, isDrift, err, intent)
		if err != nil {
			if CloudCode(err) == codes.Unimplemented {
				msg := fmt.Sprintf("the cloud endpoint does not support updating %s: %s", describeFields(mutable), CloudMessage(err))
				cond.failed(commonv1.ReasonUpdateNotSupported, msg)
				cond.drifted(isDrift, reasonFor(isDrift), msg)
				r.event(obj, corev1.EventTypeWarning, commonv1.ReasonUpdateNotSupported, "Update", "%s", msg)
				return outcome{res: ctrl.Result{RequeueAfter: resync}, metric: "error"}
			}
			out := r.cloudFailed(obj, "Update", "updating "+describeFields(mutable)+" of", err, resync)
			cond.drifted(isDrift, reasonFor(isDrift), fmt.Sprintf("%s differs from the spec; update failed", describeFields(mutable)))
			return out
		}
		if isDrift {
			driftRepairsTotal.WithLabelValues(r.kind.Name).Inc()
			r.event(obj, corev1.EventTypeWarning, commonv1.ReasonDriftRepaired, "Update", "repaired drift in %s", describeDiff(mutable))
		} else {
			r.event(obj, corev1.EventTypeNormal, "Updated", "Update", "updated %s", describeDiff(mutable))
		}
	}

	if len(immutable) > 0 || len(blocked) > 0 {
		st.Drift = toDrift(append(immutable, blocked...))
		var parts []string
		if len(immutable) > 0 {
			parts = append(parts, fmt.Sprintf("%s cannot be changed on an existing resource (%s); set it back in the spec, or create a new resource under another name", describeFields(immutable), describeDiff(immutable)))
		}
		for _, d := range blocked {
			parts = append(parts, fmt.Sprintf("%s (%s -> %s) is not applied: %s", d.Field, orNone(d.Actual), orNone(d.Desired), d.Blocked))
		}
		msg := strings.Join(parts, "; ")
		cond.available()
		cond.synced(false, commonv1.ReasonUpdateNotSupported, msg)
		cond.drifted(true, reasonFor(isDrift), msg)
		// Retrying cannot help: wait for a spec change or the next resync.
		return outcome{res: ctrl.Result{RequeueAfter: resync}, metric: "error"}
	}

	st.Drift = nil
	st.SyncedGeneration = obj.GetGeneration()
	cond.available()
	cond.synced(true, commonv1.ReasonReconcileSuccess, "")
	if isDrift {
		cond.drifted(false, commonv1.ReasonDriftRepaired, fmt.Sprintf("repaired drift in %s at %s", describeFields(diff), time.Now().UTC().Format(time.RFC3339)))
	} else {
		cond.drifted(false, commonv1.ReasonInSync, "")
	}
	return done
}

// reconcileDelete deletes (or abandons) the cloud resource, then releases
// the object.
func (r *Reconciler[T]) reconcileDelete(ctx context.Context, obj T) outcome {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return outcome{metric: "success"}
	}
	spec, st := obj.ManagedSpec(), obj.ManagedStatus()
	deleteIt := spec.DeletionPolicy != commonv1.DeletionAbandon &&
		spec.ManagementPolicy != commonv1.ManagementObserveOnly &&
		st.ResourceID != "" // only what this object created or adopted

	if deleteIt {
		paused, _, pauseMsg := r.paused(ctx, obj)
		if paused {
			return r.deleteBlocked(ctx, obj, "deletion of the cloud resource waits: writes are paused ("+pauseMsg+")", nil)
		}
		prov, err := r.providers.ForNamespace(ctx, obj.GetNamespace())
		if err != nil {
			return r.deleteBlocked(ctx, obj, fmt.Sprintf("cannot delete %s: %v (or set spec.deletionPolicy: Abandon to release the object and keep the resource)", st.SelfLink, err), nil)
		}
		ext, err := r.kind.Connector.Connect(ctx, obj, Env{Provider: prov, ResourceID: st.ResourceID, Owner: OwnerValue(obj.GetNamespace(), obj.GetName())})
		if err != nil {
			return r.deleteBlocked(ctx, obj, fmt.Sprintf("cannot connect to delete %s: %v", st.SelfLink, err), err)
		}
		ext = r.notingWrites(ext, prov)
		if err := confine(prov, ext.Name(), nil, nil); err != nil {
			return r.deleteBlocked(ctx, obj, err.Error()+" (set spec.deletionPolicy: Abandon to release the object and keep the resource)", nil)
		}
		intent, err := r.intend(ctx, obj, "delete", nil, false)
		if err != nil {
			cloudWritesHeldTotal.WithLabelValues(r.kind.Name, "Delete").Inc()
			return r.deleteBlocked(ctx, obj, fmt.Sprintf("not deleting %s: the audit ledger cannot record it (%v); no cloud write is sent unrecorded, and the deletion goes on as soon as the ledger can be written", st.SelfLink, err), err)
		}
		if err := ext.Delete(ctx, obj); err != nil && !IsNotFound(err) {
			r.audit(ctx, obj, "delete", nil, false, err, intent)
			return r.deleteBlocked(ctx, obj, fmt.Sprintf("deleting %s failed: %s", st.SelfLink, CloudMessage(err)), err)
		}
		r.audit(ctx, obj, "delete", nil, false, nil, intent)
		r.event(obj, corev1.EventTypeNormal, "Deleted", "Delete", "deleted %s", st.SelfLink)
	} else if st.ResourceID != "" {
		// Whoever deleted the object may expect the resource gone: say it
		// is not, and why.
		why := "spec.deletionPolicy is Abandon"
		if spec.ManagementPolicy == commonv1.ManagementObserveOnly {
			why = "spec.managementPolicy is ObserveOnly: this object only observed it"
		}
		what := st.SelfLink
		if what == "" {
			what = st.ResourceID
		}
		r.event(obj, corev1.EventTypeNormal, "Abandoned", "Delete", "the cloud resource %s was left in place, not deleted: %s", what, why)
	}
	if r.kind.Claims {
		if err := r.unclaim(ctx, obj); err != nil {
			return outcome{err: fmt.Errorf("releasing the claim on %s: %w", st.SelfLink, err), metric: "error"}
		}
	}

	if err := r.removeFinalizer(ctx, obj); err != nil {
		return outcome{err: fmt.Errorf("removing finalizer: %w", err), metric: "error"}
	}
	r.objects.forget(client.ObjectKeyFromObject(obj))
	return outcome{metric: "success"}
}

// removeFinalizer removes our finalizer with an optimistic lock (other
// finalizers must survive). The cache often lags a status write we just
// made, so on a conflict it reads the object from the API server and tries
// again.
func (r *Reconciler[T]) removeFinalizer(ctx context.Context, obj T) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		patch := client.MergeFromWithOptions(obj.DeepCopyObject().(T), client.MergeFromWithOptimisticLock{})
		controllerutil.RemoveFinalizer(obj, Finalizer)
		err := r.client.Patch(ctx, obj, patch)
		if apierrors.IsConflict(err) {
			if gerr := r.apiReader.Get(ctx, client.ObjectKeyFromObject(obj), obj); gerr != nil {
				return gerr
			}
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// deleteBlocked records why deletion cannot finish yet. With err set, the
// request is retried with backoff; without, at the next resync.
func (r *Reconciler[T]) deleteBlocked(ctx context.Context, obj T, msg string, err error) outcome {
	before := obj.DeepCopyObject().(T)
	conditionsOf(obj).synced(false, commonv1.ReasonDeleting, msg)
	r.event(obj, corev1.EventTypeWarning, "DeleteBlocked", "Delete", "%s", msg)
	described := msg
	if perr := r.client.Status().Patch(ctx, obj, client.MergeFrom(before)); perr != nil && !apierrors.IsNotFound(perr) {
		err = errors.Join(err, perr)
		described += "; recording that failed: " + perr.Error()
	}
	// Deletion blocks the user, and what blocks it is often short-lived (a
	// subscription still using a dead-letter topic is being deleted too):
	// back off and retry, except when only a person can help.
	switch CloudCode(err) {
	case codes.OK, codes.PermissionDenied, codes.Unauthenticated:
		return outcome{res: ctrl.Result{RequeueAfter: r.resyncInterval(obj)}, metric: "error"}
	}
	return outcome{err: describedError{msg: described, err: err}, metric: "error"}
}

// cloudFailed records a failed cloud call. Errors a retry cannot fix wait
// for the next resync (or a spec change); others back off exponentially.
func (r *Reconciler[T]) cloudFailed(obj T, op, doing string, err error, resync time.Duration) outcome {
	msg := fmt.Sprintf("%s %s failed: %s", doing, describeTarget(obj), CloudMessage(err))
	// A create that finds a dependency missing (NotFound: e.g. the topic,
	// in a cloud that lost it) is retried soon: the dependency is usually
	// on its way.
	permanent := isPermanent(err) && !(op == "Create" && IsNotFound(err))
	conditionsOf(obj).failedAs(permanent, commonv1.ReasonCloudError, msg)
	r.event(obj, corev1.EventTypeWarning, "CloudError", op, "%s", msg)
	if permanent {
		return outcome{res: ctrl.Result{RequeueAfter: resync}, metric: "error"}
	}
	return outcome{err: describedError{msg: msg, err: err}, metric: "error"}
}

func (r *Reconciler[T]) paused(ctx context.Context, obj Object) (bool, string, string) {
	if obj.GetAnnotations()[PausedAnnotation] == "true" {
		return true, commonv1.ReasonPausedAnnotation, fmt.Sprintf("annotation %s=true: the cloud is observed, never written", PausedAnnotation)
	}
	for _, p := range r.opts.Pauses {
		if ok, reason, msg := p(ctx, obj); ok {
			return true, reason, msg
		}
	}
	return false, "", ""
}

// recordCreated writes the pass's whole status (status.resourceID above
// all, and kind-specific fields the delete path may need) onto the fresh
// object, after the pass's own status write lost a conflict.
func (r *Reconciler[T]) recordCreated(ctx context.Context, obj T, id string) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh := r.kind.New()
		if err := r.apiReader.Get(ctx, client.ObjectKeyFromObject(obj), fresh); err != nil {
			return client.IgnoreNotFound(err)
		}
		if fresh.ManagedStatus().ResourceID == id {
			return nil
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": fresh.GetResourceVersion()},
			"status":   u["status"],
		})
		if err != nil {
			return err
		}
		return r.client.Status().Patch(ctx, fresh, client.RawPatch(types.MergePatchType, patch))
	})
}

// setHold sets Diverged=True while a hold policy holds the object; once
// released the condition stays, False, so its history is visible.
func (r *Reconciler[T]) setHold(ctx context.Context, obj Object) {
	for _, h := range r.opts.Holds {
		if held, reason, msg := h(ctx, obj); held {
			conditionsOf(obj).set(commonv1.TypeDiverged, true, reason, msg)
			return
		}
	}
	if meta.IsStatusConditionTrue(obj.ManagedStatus().Conditions, commonv1.TypeDiverged) {
		conditionsOf(obj).set(commonv1.TypeDiverged, false, commonv1.ReasonMatchesGit, "the object no longer differs from git, or the hold was resolved")
	}
}

func (r *Reconciler[T]) resyncInterval(obj Object) time.Duration {
	return resyncOf(obj.ManagedSpec().ResyncInterval, r.opts.ResyncInterval, r.opts.MinResyncInterval)
}

// resyncOf is an object's resync interval: its spec's, raised to the
// floor, else the default. The workers of a kind are every team's: an
// object asking to be read every millisecond would take them from
// everyone else's objects (a pass that fails waits the interval too).
func resyncOf(spec *metav1.Duration, def, floor time.Duration) time.Duration {
	if spec == nil || spec.Duration <= 0 {
		return def
	}
	return max(spec.Duration, floor)
}

func (r *Reconciler[T]) event(obj Object, typ, reason, action, format string, args ...any) {
	if r.recorder != nil {
		r.recorder.Eventf(obj, nil, typ, reason, action, format, args...)
	}
}

// statusWorthWriting reports whether a pass changed the object's status in
// a way worth an API write. status.lastSyncTime alone is not: a resync
// that finds nothing new writes nothing (writing it cost one API write per
// object per resync, or per minute when rate-limited: 0.13 per object per
// 10 s interval, measured); it goes along with the next real change.
func statusWorthWriting[T Object](before, after T) bool {
	b, a := before.ManagedStatus().LastSyncTime, after.ManagedStatus().LastSyncTime
	if b == nil && a != nil {
		return true
	}
	bc, ac := before.DeepCopyObject().(T), after.DeepCopyObject().(T)
	bc.ManagedStatus().LastSyncTime, ac.ManagedStatus().LastSyncTime = nil, nil
	return !equality.Semantic.DeepEqual(bc, ac)
}

// resourceID is the cloud id of an object: spec.resourceID or its name.
func resourceID(obj Object) string {
	if id := obj.ManagedSpec().ResourceID; id != "" {
		return id
	}
	return obj.GetName()
}

func describeTarget(obj Object) string {
	if l := obj.ManagedStatus().SelfLink; l != "" {
		return l
	}
	return resourceID(obj)
}

func describeFields(diff []FieldDiff) string {
	names := make([]string, len(diff))
	for i, d := range diff {
		names[i] = d.Field
	}
	return strings.Join(names, ", ")
}

func describeDiff(diff []FieldDiff) string {
	parts := make([]string, len(diff))
	for i, d := range diff {
		parts[i] = fmt.Sprintf("%s: %s -> %s", d.Field, orNone(d.Actual), orNone(d.Desired))
	}
	return strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

func toDrift(diff []FieldDiff) []commonv1.FieldDrift {
	out := make([]commonv1.FieldDrift, len(diff))
	for i, d := range diff {
		out[i] = commonv1.FieldDrift{Field: d.Field, Desired: d.Desired, Actual: d.Actual}
	}
	return out
}

func reasonFor(isDrift bool) string {
	if isDrift {
		return commonv1.ReasonDriftDetected
	}
	return commonv1.ReasonPendingChanges
}

// jitter spreads resyncs of objects created together by ±10%, so they do
// not all read the cloud in the same second.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}
