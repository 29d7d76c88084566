package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to the cloud resource when its object is deleted.
// +kubebuilder:validation:Enum=Delete;Abandon
type DeletionPolicy string

const (
	// DeletionDelete deletes the cloud resource with the object.
	DeletionDelete DeletionPolicy = "Delete"
	// DeletionAbandon leaves the cloud resource in place.
	DeletionAbandon DeletionPolicy = "Abandon"
)

// ManagementPolicy says whether infraplane may write to the cloud resource.
// +kubebuilder:validation:Enum=Full;ObserveOnly
type ManagementPolicy string

const (
	// ManagementFull creates, updates, repairs drift and deletes.
	ManagementFull ManagementPolicy = "Full"
	// ManagementObserveOnly only reads: it reports state and drift and never writes.
	ManagementObserveOnly ManagementPolicy = "ObserveOnly"
)

// ManagedSpec holds the fields every managed kind has. Kinds embed it inline
// in their spec, so these fields appear directly under spec.
type ManagedSpec struct {
	// ResourceID is the id of the cloud resource (the last segment of its
	// name). Defaults to metadata.name. It cannot change once set: a new id
	// is a new resource.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	ResourceID string `json:"resourceID,omitempty"`

	// DeletionPolicy says what happens to the cloud resource when this
	// object is deleted: Delete (default) removes it, Abandon leaves it.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// ManagementPolicy is Full (default: create, update, repair drift,
	// delete) or ObserveOnly (report state and drift; never write).
	// +optional
	// +kubebuilder:default=Full
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// Adopt lets this object take over a cloud resource that already exists
	// and carries no infraplane ownership label. Without it, an existing
	// resource this object did not create is left alone and reported.
	// A resource owned by another object is never adopted.
	// +optional
	Adopt bool `json:"adopt,omitempty"`

	// ResyncInterval is how often the cloud resource is read to detect
	// drift when nothing else changes. Defaults to the controller's
	// --resync-interval; one shorter than the controller's
	// --min-resync-interval (default 10s) is raised to it.
	// +optional
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`
}

// ResourceRef points at another resource: an object of the expected kind
// in the same namespace (name), or a cloud resource by its full name
// (external, e.g. "projects/p/topics/t").
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.external)",message="set exactly one of name or external"
type ResourceRef struct {
	// Name of an object of the referenced kind in the same namespace.
	// The referencing object waits until it is Ready.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name,omitempty"`

	// External is the full cloud name of a resource not managed here.
	// +optional
	// +kubebuilder:validation:MinLength=1
	External string `json:"external,omitempty"`
}

// FieldDrift is one field whose cloud value differs from the desired one.
type FieldDrift struct {
	// Field is the spec path, e.g. "spec.ackDeadlineSeconds".
	Field string `json:"field"`
	// Desired is the value the spec asks for.
	// +optional
	Desired string `json:"desired,omitempty"`
	// Actual is the value the cloud reported.
	// +optional
	Actual string `json:"actual,omitempty"`
}

// ManagedStatus holds the status fields every managed kind has.
type ManagedStatus struct {
	// Conditions: Ready, Synced, Drifted and Paused; Reconciling while
	// work is under way or retried, Stalled when a person must act.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation this status describes:
	// every pass that computed the status sets it, also one that did not
	// (or may not) write to the cloud. -1 until the first pass.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// SyncedGeneration is the spec generation last applied to the cloud
	// resource: a difference found while it equals metadata.generation is
	// drift (the cloud moved), otherwise a pending spec change. -1 while
	// the resource was recorded (created, adopted) but not synced yet.
	// +optional
	SyncedGeneration int64 `json:"syncedGeneration,omitempty"`

	// ResourceID is the id of the cloud resource this object manages. It is
	// set once the resource was created or adopted by this object.
	// +optional
	ResourceID string `json:"resourceID,omitempty"`

	// SelfLink is the full cloud name, e.g. "projects/p/topics/t".
	// +optional
	SelfLink string `json:"selfLink,omitempty"`

	// AdoptedGeneration is the spec generation at which this object
	// adopted an existing cloud resource; 0 once it created it, or once
	// its spec changed after the adoption. While set, no pass lowers the
	// resource's protection (deletion protection, retention, forced
	// deletion of its contents).
	// +optional
	AdoptedGeneration int64 `json:"adoptedGeneration,omitempty"`

	// Drift lists fields whose cloud value differs from the spec, found on
	// the last read of the cloud resource.
	// +optional
	// +listType=atomic
	Drift []FieldDrift `json:"drift,omitempty"`

	// LastHandledRequest is the value of the infraplane.dev/requested-at
	// annotation that the last pass acted on. That pass read the cloud
	// resource with a Get, never from a listing, so once this equals the
	// value you set, the conditions describe the cloud as it was after
	// your request.
	// +optional
	LastHandledRequest string `json:"lastHandledRequest,omitempty"`

	// LastSyncTime is when a successful read of the cloud resource last
	// changed this status. A resync that finds nothing new writes nothing,
	// so it does not move: the resource is read every resync interval all
	// the same.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
}

// RequestedAtAnnotation set to a new value (a timestamp, say) on a
// managed object asks for a pass at once that reads the cloud resource
// with a Get: a resync may be answered from a listing up to half an
// interval old, which does not show a change made in the cloud since.
// status.lastHandledRequest shows the value once that pass ran. It is the
// annotation a GitSource takes to sync at once.
const RequestedAtAnnotation = "infraplane.dev/requested-at"

// LabelValue is the value of a cloud label: lowercase letters, digits, '_'
// and '-', at most 63 characters. It is a type of its own so the schema
// checks it without a CEL rule per value (cheaper to evaluate, and the API
// server caps the CEL cost of a schema).
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9_-]*$`
type LabelValue string

// LabelMap converts labels to a plain map, for cloud clients.
func LabelMap(m map[string]LabelValue) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}
