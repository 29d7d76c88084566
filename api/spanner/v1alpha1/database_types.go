package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// DatabaseDialect is the SQL dialect of a Spanner database.
// +kubebuilder:validation:Enum=GOOGLE_STANDARD_SQL;POSTGRESQL
type DatabaseDialect string

const (
	// DialectGoogleSQL is GoogleSQL, Spanner's own dialect.
	DialectGoogleSQL DatabaseDialect = "GOOGLE_STANDARD_SQL"
	// DialectPostgreSQL is the PostgreSQL interface.
	DialectPostgreSQL DatabaseDialect = "POSTGRESQL"
)

// SpannerDatabaseSpec is the desired state of a Spanner database.
// +kubebuilder:validation:XValidation:rule="has(self.resourceID) == has(oldSelf.resourceID) && (!has(self.resourceID) || self.resourceID == oldSelf.resourceID)",message="resourceID cannot change: a new id is a new database",fieldPath=".resourceID",reason=FieldValueForbidden
type SpannerDatabaseSpec struct {
	commonv1.ManagedSpec `json:",inline"`

	// InstanceRef is the instance the database lives in: a SpannerInstance
	// in this namespace (name) or an instance's full name (external). It
	// cannot change.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spannerInstanceRef cannot change: a database belongs to one instance"
	// +kubebuilder:validation:XValidation:rule="!has(self.external) || self.external.matches('^projects/[^/]+/instances/[^/]+$')",message="external must be a full instance name: projects/PROJECT/instances/INSTANCE"
	InstanceRef commonv1.ResourceRef `json:"spannerInstanceRef"`

	// Dialect is GOOGLE_STANDARD_SQL (default) or POSTGRESQL. It cannot change.
	// +optional
	// +kubebuilder:default=GOOGLE_STANDARD_SQL
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="dialect cannot change on an existing database: create a new database instead"
	Dialect DatabaseDialect `json:"dialect,omitempty"`

	// DDL statements (CREATE TABLE, CREATE INDEX, ...) applied in order.
	// The list is append-only: statements already applied (see
	// status.ddl) cannot be changed or removed; append new ones (e.g.
	// ALTER TABLE, DROP INDEX) and only those are applied.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MinLength=1
	DDL []string `json:"ddl,omitempty"`

	// EnableDropProtection refuses deleting the database (and its
	// instance) while true.
	// +optional
	EnableDropProtection bool `json:"enableDropProtection,omitempty"`

	// VersionRetentionPeriod keeps old versions of data readable for this
	// long, between 1h and 7d, e.g. "3d", "36h". Unset: the cloud's default
	// (1h) applies and is not managed.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+[smhd]$`
	VersionRetentionPeriod string `json:"versionRetentionPeriod,omitempty"`
}

// DDLStatus records which of spec.ddl were applied.
type DDLStatus struct {
	// AppliedStatements is how many of spec.ddl, from the first, were applied.
	AppliedStatements int32 `json:"appliedStatements"`
	// AppliedHash is a hash of those statements, to notice when one of
	// them is changed or removed in the spec.
	// +optional
	AppliedHash string `json:"appliedHash,omitempty"`
	// VersionRetentionPeriod is the retention period last applied, for
	// clouds that do not report it (the emulator).
	// +optional
	VersionRetentionPeriod string `json:"versionRetentionPeriod,omitempty"`
}

// SpannerDatabaseObservation is what the cloud reported about the database.
type SpannerDatabaseObservation struct {
	// +optional
	State string `json:"state,omitempty"`
	// +optional
	Dialect string `json:"dialect,omitempty"`
	// +optional
	EnableDropProtection bool `json:"enableDropProtection,omitempty"`
	// +optional
	VersionRetentionPeriod string `json:"versionRetentionPeriod,omitempty"`
	// DDLStatements is how many DDL statements the cloud reports for the
	// database's schema (it may list them differently from spec.ddl).
	// +optional
	DDLStatements int32 `json:"ddlStatements,omitempty"`
}

// SpannerDatabaseStatus is the observed state of a database.
type SpannerDatabaseStatus struct {
	commonv1.ManagedStatus `json:",inline"`

	// Instance is the full name of the instance, resolved from
	// spec.spannerInstanceRef.
	// +optional
	Instance string `json:"instance,omitempty"`

	// DDL records how much of spec.ddl was applied.
	// +optional
	DDL *DDLStatus `json:"ddl,omitempty"`

	// Observed is what the cloud reported on the last read.
	// +optional
	Observed *SpannerDatabaseObservation `json:"observed,omitempty"`
}

// SpannerDatabase is a Cloud Spanner database. metadata.name is the
// database id unless spec.resourceID says otherwise.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories={infraplane,spanner},shortName=spdb
// +kubebuilder:validation:XValidation:rule="(has(self.spec) && has(self.spec.resourceID)) || (self.metadata.name.size() >= 2 && self.metadata.name.size() <= 30 && self.metadata.name.matches('^[a-z][-a-z0-9]*[a-z0-9]$'))",message="metadata.name is used as the database id: it must be 2-30 characters, start with a lowercase letter, contain only lowercase letters, digits and '-', and not end with '-' (or set spec.resourceID)",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || (self.spec.resourceID.size() <= 30 && self.spec.resourceID.matches('^[a-z][-_a-z0-9]*[a-z0-9]$'))",message="spec.resourceID must be 2-30 characters, start with a lowercase letter, contain only lowercase letters, digits, '_' and '-', and not end with '_' or '-'",fieldPath=".spec.resourceID"
// +kubebuilder:printcolumn:name="INSTANCE",type=string,JSONPath=`.spec.spannerInstanceRef.name`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="SYNCED",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="DRIFTED",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="DDL",type=integer,JSONPath=`.status.ddl.appliedStatements`,priority=1
// +kubebuilder:printcolumn:name="REASON",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.status.selfLink`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type SpannerDatabase struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SpannerDatabaseSpec `json:"spec"`
	// +kubebuilder:default={observedGeneration:-1}
	Status SpannerDatabaseStatus `json:"status,omitempty"`
}

// SpannerDatabaseList is a list of Spanner databases.
// +kubebuilder:object:root=true
type SpannerDatabaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SpannerDatabase `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SpannerDatabase{}, &SpannerDatabaseList{})
}
