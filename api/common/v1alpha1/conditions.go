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
)

// Condition reasons. They are part of the API: tools and people match on them.
const (
	ReasonAvailable          = "Available"
	ReasonCreating           = "Creating"
	ReasonUpdating           = "Updating"
	ReasonDeleting           = "Deleting"
	ReasonObserved           = "Observed"
	ReasonNotFound           = "NotFound"
	ReasonReconcileSuccess   = "ReconcileSuccess"
	ReasonReconcileError     = "ReconcileError"
	ReasonCloudError         = "CloudError"
	ReasonWaitingForRef      = "WaitingForReference"
	ReasonReferenceError     = "ReferenceError"
	ReasonProviderError      = "ProviderConfigError"
	ReasonAlreadyExists      = "AlreadyExistsNotOwned"
	ReasonUpdateNotSupported = "UpdateNotSupported"
	ReasonInSync             = "InSync"
	ReasonDriftDetected      = "DriftDetected"
	ReasonDriftRepaired      = "DriftRepaired"
	ReasonPendingChanges     = "PendingChanges"
	ReasonActive             = "Active"
	ReasonPausedAnnotation   = "PausedByAnnotation"
	ReasonObserveOnly        = "ObserveOnly"
)
