package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// StorageClass is a Cloud Storage class: how often data is read, and what
// storing and reading it costs.
// +kubebuilder:validation:Enum=STANDARD;NEARLINE;COLDLINE;ARCHIVE
type StorageClass string

// BucketSpec is the desired state of a Cloud Storage bucket.
// +kubebuilder:validation:XValidation:rule="has(self.resourceID) == has(oldSelf.resourceID) && (!has(self.resourceID) || self.resourceID == oldSelf.resourceID)",message="resourceID cannot change: a new id is a new bucket",fieldPath=".resourceID",reason=FieldValueForbidden
type BucketSpec struct {
	commonv1.ManagedSpec `json:",inline"`

	// Location is where the bucket's data lives: a multi-region ("US",
	// "EU", "ASIA"), a dual-region ("NAM4") or a region ("europe-west1").
	// It cannot change after creation.
	// +optional
	// +kubebuilder:default=US
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$`
	// +kubebuilder:validation:XValidation:rule="self.lowerAscii() == oldSelf.lowerAscii()",message="location cannot change: create a new bucket and copy the data"
	Location string `json:"location,omitempty"`

	// StorageClass is the default class of new objects.
	// +optional
	// +kubebuilder:default=STANDARD
	StorageClass StorageClass `json:"storageClass,omitempty"`

	// Labels on the bucket. Keys starting with "infraplane-" are reserved.
	// +optional
	// +kubebuilder:validation:MaxProperties=63
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z][a-z0-9_-]{0,62}$'))",message="label keys must start with a lowercase letter and contain only lowercase letters, digits, '_' and '-' (at most 63)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('infraplane-'))",message="label keys starting with 'infraplane-' are reserved for infraplane"
	Labels map[string]commonv1.LabelValue `json:"labels,omitempty"`

	// Versioning keeps overwritten and deleted objects as noncurrent
	// versions.
	// +optional
	Versioning bool `json:"versioning,omitempty"`

	// LifecycleRules delete objects or change their storage class when a
	// condition holds. The list is managed as a whole: no rules here means
	// no rules on the bucket.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	LifecycleRules []LifecycleRule `json:"lifecycleRules,omitempty"`

	// UniformBucketLevelAccess turns off object ACLs: access is granted by
	// IAM on the bucket only.
	// +optional
	UniformBucketLevelAccess bool `json:"uniformBucketLevelAccess,omitempty"`

	// RetentionPolicy keeps every object for at least retentionPeriod.
	// infraplane never locks a policy; whether one is locked shows in
	// status.observed.retentionPolicy.isLocked. Unset: no retention policy.
	// +optional
	RetentionPolicy *RetentionPolicy `json:"retentionPolicy,omitempty"`

	// ForceDestroy lets deletion of this object delete the bucket's objects
	// first. Without it a bucket that still holds objects is not deleted:
	// the object keeps its finalizer and its condition says so.
	// +optional
	ForceDestroy bool `json:"forceDestroy,omitempty"`
}

// LifecycleRule is one action taken on the objects that match its condition.
type LifecycleRule struct {
	// Action is what happens to matching objects.
	Action LifecycleAction `json:"action"`
	// Condition selects the objects; every field set must hold.
	Condition LifecycleCondition `json:"condition"`
}

// LifecycleAction is what a lifecycle rule does.
// +kubebuilder:validation:XValidation:rule="(self.type == 'SetStorageClass') == has(self.storageClass)",message="storageClass is required with type SetStorageClass and not allowed with Delete",fieldPath=".storageClass"
type LifecycleAction struct {
	// Type is Delete or SetStorageClass.
	// +kubebuilder:validation:Enum=Delete;SetStorageClass
	Type string `json:"type"`
	// StorageClass is the target class of SetStorageClass.
	// +optional
	StorageClass StorageClass `json:"storageClass,omitempty"`
}

// LifecycleCondition selects the objects a lifecycle rule acts on.
// +kubebuilder:validation:XValidation:rule="has(self.age) || has(self.createdBefore) || has(self.numNewerVersions) || has(self.withState) || has(self.matchesStorageClass)",message="a lifecycle condition needs at least one of age, createdBefore, numNewerVersions, withState, matchesStorageClass",reason=FieldValueRequired
type LifecycleCondition struct {
	// Age in days since the object was created (0 matches every object).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=36500
	Age *int32 `json:"age,omitempty"`
	// CreatedBefore matches objects created before this date (YYYY-MM-DD, UTC).
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`
	CreatedBefore string `json:"createdBefore,omitempty"`
	// NumNewerVersions matches noncurrent versions with at least this many
	// newer versions (needs versioning).
	// +optional
	// +kubebuilder:validation:Minimum=1
	NumNewerVersions *int32 `json:"numNewerVersions,omitempty"`
	// WithState matches Live objects, Archived (noncurrent) versions, or Any.
	// +optional
	// +kubebuilder:validation:Enum=Live;Archived;Any
	WithState string `json:"withState,omitempty"`
	// MatchesStorageClass matches objects in one of these classes.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	MatchesStorageClass []StorageClass `json:"matchesStorageClass,omitempty"`
}

// RetentionPolicy keeps objects from being deleted or replaced too early.
type RetentionPolicy struct {
	// RetentionPeriod is how long each object is kept (whole seconds count;
	// e.g. "24h"; at most 100 years = 876000h).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('876000h')",message="retentionPeriod must be between 1s and 876000h (100 years)"
	RetentionPeriod metav1.Duration `json:"retentionPeriod"`
}

// ObservedRetentionPolicy is the retention policy the cloud reported.
type ObservedRetentionPolicy struct {
	// +optional
	RetentionPeriod string `json:"retentionPeriod,omitempty"`
	// IsLocked: a locked policy can no longer be shortened or removed.
	// +optional
	IsLocked bool `json:"isLocked,omitempty"`
}

// BucketObservation is what the cloud reported about the bucket.
type BucketObservation struct {
	// +optional
	Location string `json:"location,omitempty"`
	// +optional
	LocationType string `json:"locationType,omitempty"`
	// +optional
	StorageClass string `json:"storageClass,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Versioning bool `json:"versioning,omitempty"`
	// +optional
	UniformBucketLevelAccess bool `json:"uniformBucketLevelAccess,omitempty"`
	// +optional
	// +listType=atomic
	LifecycleRules []LifecycleRule `json:"lifecycleRules,omitempty"`
	// +optional
	RetentionPolicy *ObservedRetentionPolicy `json:"retentionPolicy,omitempty"`
	// +optional
	Created *metav1.Time `json:"created,omitempty"`
}

// BucketStatus is the observed state of a bucket.
type BucketStatus struct {
	commonv1.ManagedStatus `json:",inline"`
	// Observed is what the cloud reported on the last read.
	// +optional
	Observed *BucketObservation `json:"observed,omitempty"`
}

// Bucket is a Cloud Storage bucket. metadata.name is the bucket name
// unless spec.resourceID says otherwise; bucket names are global across
// all projects.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories={infraplane,storage}
// +kubebuilder:validation:XValidation:rule="(has(self.spec) && has(self.spec.resourceID)) || (self.metadata.name.size() >= 3 && self.metadata.name.size() <= 63 && !self.metadata.name.startsWith('goog') && !self.metadata.name.contains('google'))",message="metadata.name is used as the bucket name: it must be 3-63 characters, not start with 'goog' and not contain 'google' (or set spec.resourceID)",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || self.spec.resourceID.matches('^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$') && !self.spec.resourceID.startsWith('goog') && !self.spec.resourceID.contains('google')",message="spec.resourceID must be 3-63 characters of lowercase letters, digits, '-', '_' and '.', start and end with a letter or digit, not start with 'goog' and not contain 'google'",fieldPath=".spec.resourceID"
// +kubebuilder:printcolumn:name="LOCATION",type=string,JSONPath=`.spec.location`
// +kubebuilder:printcolumn:name="CLASS",type=string,JSONPath=`.spec.storageClass`,priority=1
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="SYNCED",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="DRIFTED",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="REASON",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.status.selfLink`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type Bucket struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec BucketSpec `json:"spec,omitempty"`
	// +kubebuilder:default={observedGeneration:-1}
	Status BucketStatus `json:"status,omitempty"`
}

// BucketList is a list of buckets.
// +kubebuilder:object:root=true
type BucketList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Bucket `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Bucket{}, &BucketList{})
}
