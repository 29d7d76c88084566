package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// BigtableTableSpec is the desired state of a Bigtable table.
// +kubebuilder:validation:XValidation:rule="has(self.resourceID) == has(oldSelf.resourceID) && (!has(self.resourceID) || self.resourceID == oldSelf.resourceID)",message="resourceID cannot change: a new id is a new table",fieldPath=".resourceID",reason=FieldValueForbidden
type BigtableTableSpec struct {
	commonv1.ManagedSpec `json:",inline"`

	// InstanceRef is the Bigtable instance the table lives in. Instances
	// are not managed by infraplane, so it is always external: the
	// instance's full name. It cannot change.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="instanceRef cannot change: a table belongs to one instance"
	InstanceRef InstanceRef `json:"instanceRef"`

	// ColumnFamilies are the table's column families, by name. Once the
	// object created the table, or found every family of the table it
	// adopted listed here, the list is the whole truth: a family in the
	// cloud that is not listed here is dropped, with its data
	// (deletionProtection prevents that). Until then an unlisted family is
	// kept and reported, never dropped.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	ColumnFamilies []ColumnFamily `json:"columnFamilies,omitempty"`

	// DeletionProtection keeps the table, and its column families, from
	// being deleted: while true, deleting the object (with deletionPolicy
	// Delete) and removing a family are refused by the cloud and reported.
	// +optional
	DeletionProtection bool `json:"deletionProtection,omitempty"`

	// SplitKeys are the row keys the table is initially split at. They are
	// used only when the table is created; a change later is reported in
	// the Synced condition, never applied.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=4096
	SplitKeys []string `json:"splitKeys,omitempty"`
}

// InstanceRef names a Bigtable instance by its full name.
type InstanceRef struct {
	// External is the instance's full name: projects/PROJECT/instances/INSTANCE
	// (instance ids are 6-33 lowercase letters, digits and hyphens,
	// starting with a letter).
	// +kubebuilder:validation:XValidation:rule="self.matches('^projects/[^/]+/instances/[a-z][a-z0-9-]{4,31}[a-z0-9]$')",message="external must be a full instance name: projects/PROJECT/instances/INSTANCE (instance id: 6-33 lowercase letters, digits and hyphens, starting with a letter)"
	External string `json:"external"`
}

// ColumnFamily is one column family and its garbage-collection policy.
type ColumnFamily struct {
	// Name of the family: letters, digits, '_', '-' and '.', at most 64.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[-_.a-zA-Z0-9]+$`
	Name string `json:"name"`

	// GCPolicy says which cells are garbage-collected. Unset: none are
	// (every version is kept forever).
	// +optional
	GCPolicy *GCPolicy `json:"gcPolicy,omitempty"`
}

// GCMode combines maxVersions and maxAge when both are set.
// +kubebuilder:validation:Enum=Union;Intersection
type GCMode string

const (
	// GCUnion collects a cell when either limit says so.
	GCUnion GCMode = "Union"
	// GCIntersection collects a cell only when both limits say so.
	GCIntersection GCMode = "Intersection"
)

// GCPolicy is a column family's garbage-collection rule: a maximum number
// of versions, a maximum age, or both combined by mode.
// +kubebuilder:validation:XValidation:rule="has(self.maxVersions) || has(self.maxAge)",message="set maxVersions, maxAge or both (leave gcPolicy out to keep every cell)",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || (has(self.maxVersions) && has(self.maxAge))",message="mode combines maxVersions and maxAge: set both, or leave mode out",fieldPath=".mode"
type GCPolicy struct {
	// MaxVersions keeps at most this many versions of each cell.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxVersions *int32 `json:"maxVersions,omitempty"`

	// MaxAge collects cells older than this, e.g. "168h"; at least 1ms.
	// It is sent in whole milliseconds (a finer remainder is dropped), so
	// the spec and the cloud compare equal.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms')",message="maxAge must be at least 1ms"
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`

	// Mode combines both limits: Union (default: a cell goes when either
	// limit is exceeded) or Intersection (only when both are).
	// +optional
	Mode GCMode `json:"mode,omitempty"`
}

// BigtableTableObservation is what the cloud reported about the table.
type BigtableTableObservation struct {
	// ColumnFamilies maps each family to its GC rule as the cloud has it
	// ("maxVersions=3", "union(maxAge=24h0m0s, maxVersions=1)", "none").
	// +optional
	ColumnFamilies map[string]string `json:"columnFamilies,omitempty"`
	// +optional
	DeletionProtection bool `json:"deletionProtection,omitempty"`
}

// TableCreation is what a table was created with.
type TableCreation struct {
	// SplitKeys the table was created with.
	// +optional
	// +listType=atomic
	SplitKeys []string `json:"splitKeys,omitempty"`
}

// BigtableTableStatus is the observed state of a table.
type BigtableTableStatus struct {
	commonv1.ManagedStatus `json:",inline"`

	// CreatedWith records how this object created the table. The cloud
	// does not report split keys, so later spec.splitKeys changes are
	// compared with this record; it is unset for adopted tables, whose
	// splits are unknown.
	// +optional
	CreatedWith *TableCreation `json:"createdWith,omitempty"`

	// Observed is what the cloud reported on the last read.
	// +optional
	Observed *BigtableTableObservation `json:"observed,omitempty"`
}

// BigtableTable is a Bigtable table in an existing instance. metadata.name
// is the table id unless spec.resourceID says otherwise.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories={infraplane,bigtable},shortName=bttable
// +kubebuilder:validation:XValidation:rule="(has(self.spec) && has(self.spec.resourceID)) || self.metadata.name.size() <= 50",message="metadata.name is used as the table id: it must be at most 50 characters (or set spec.resourceID)",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || self.spec.resourceID.matches('^[_a-zA-Z0-9][-_.a-zA-Z0-9]{0,49}$')",message="spec.resourceID must be 1-50 characters: letters, digits, '_', '-' and '.', not starting with '-' or '.'",fieldPath=".spec.resourceID"
// +kubebuilder:printcolumn:name="INSTANCE",type=string,JSONPath=`.spec.instanceRef.external`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="SYNCED",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="DRIFTED",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="REASON",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.status.selfLink`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type BigtableTable struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec BigtableTableSpec `json:"spec"`
	// +kubebuilder:default={observedGeneration:-1}
	Status BigtableTableStatus `json:"status,omitempty"`
}

// BigtableTableList is a list of tables.
// +kubebuilder:object:root=true
type BigtableTableList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BigtableTable `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BigtableTable{}, &BigtableTableList{})
}
