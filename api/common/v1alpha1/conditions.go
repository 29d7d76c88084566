package v1alpha1

// Condition types every managed kind reports.
const (
	// TypeReady is True when the cloud resource exists and matches the spec
	// (or, for ObserveOnly, exists).
	TypeReady = "Ready"
	// TypeSynced is True when the last reconcile reached the cloud and did
	// what it had to; False carries the reason and the cloud's message.
	TypeSynced = "Synced"
	// TypeDrifted is True when the cloud resource was changed outside
	// infraplane and differs from the spec.
	TypeDrifted = "Drifted"
	// TypePaused is True when infraplane does not write to the cloud for
	// this object.
	TypePaused = "Paused"
	// TypeDiverged is True while a break-glass ended with this object
	// differing from git: the syncer leaves it alone until git catches up
	// or someone reverts. It is absent on objects never held.
	TypeDiverged = "Diverged"
	// TypeReconciling is True while work is under way or being retried
	// (kstatus: InProgress); absent otherwise. Never True with Stalled.
	TypeReconciling = "Reconciling"
	// TypeStalled is True when the object cannot make progress until a
	// person acts (kstatus: Failed); its message names the cause. Absent
	// otherwise.
	TypeStalled = "Stalled"
)

// Condition reasons. They are part of the API: tools and people match on them.
const (
	ReasonAvailable        = "Available"
	ReasonCreating         = "Creating"
	ReasonUpdating         = "Updating"
	ReasonDeleting         = "Deleting"
	ReasonObserved         = "Observed"
	ReasonNotFound         = "NotFound"
	ReasonReconcileSuccess = "ReconcileSuccess"
	ReasonReconcileError   = "ReconcileError"
	ReasonCloudError       = "CloudError"
	ReasonWaitingForRef    = "WaitingForReference"
	ReasonReferenceError   = "ReferenceError"
	ReasonProviderError    = "ProviderConfigError"
	// ReasonNotPermitted: the namespace may not use its ProviderConfig, or
	// the object names a cloud resource outside the projects its
	// ProviderConfig allows. No cloud call is made.
	ReasonNotPermitted       = "NotPermitted"
	ReasonAlreadyExists      = "AlreadyExistsNotOwned"
	ReasonUpdateNotSupported = "UpdateNotSupported"
	ReasonInSync             = "InSync"
	ReasonDriftDetected      = "DriftDetected"
	ReasonDriftRepaired      = "DriftRepaired"
	ReasonPendingChanges     = "PendingChanges"
	ReasonActive             = "Active"
	ReasonPausedAnnotation   = "PausedByAnnotation"
	ReasonObserveOnly        = "ObserveOnly"
	ReasonBreakGlass         = "BreakGlass"
	ReasonHeld               = "HeldAfterBreakGlass"
	ReasonMatchesGit         = "MatchesGit"
	// ReasonLedgerUnavailable: a cloud write was not sent because the
	// audit ledger could not record it first (a full disk, a lost
	// database); writes resume as soon as it can.
	ReasonLedgerUnavailable = "LedgerUnavailable"
	// ReasonProgressing: Reconciling=True for work under way that has no
	// more specific reason.
	ReasonProgressing = "Progressing"
	// ReasonRetrying: Reconciling=True after a transient failure that is
	// retried with backoff.
	ReasonRetrying = "Retrying"
)
