package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// DatabaseSpec is the desired state of a PostgreSQL database.
// +kubebuilder:validation:XValidation:rule="has(self.resourceID) == has(oldSelf.resourceID) && (!has(self.resourceID) || self.resourceID == oldSelf.resourceID)",message="resourceID cannot change: a new name is a new database",fieldPath=".resourceID",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="has(self.lcCollate) == has(oldSelf.lcCollate) && (!has(self.lcCollate) || self.lcCollate == oldSelf.lcCollate)",message="lcCollate cannot change on an existing database: create a new database instead",fieldPath=".lcCollate",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="has(self.lcCtype) == has(oldSelf.lcCtype) && (!has(self.lcCtype) || self.lcCtype == oldSelf.lcCtype)",message="lcCtype cannot change on an existing database: create a new database instead",fieldPath=".lcCtype",reason=FieldValueForbidden
type DatabaseSpec struct {
	commonv1.ManagedSpec `json:",inline"`

	// OwnerRef is the role that owns the database: a Role in this namespace
	// (name) or an existing role's name (external). Unset: the
	// administrator of the ProviderConfig owns it, and ownership is not
	// managed.
	// +optional
	OwnerRef *commonv1.ResourceRef `json:"ownerRoleRef,omitempty"`

	// Encoding of the database, UTF8 by default. It cannot change.
	// +optional
	// +kubebuilder:default=UTF8
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,32}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="encoding cannot change on an existing database: create a new database instead"
	Encoding string `json:"encoding,omitempty"`

	// LCCollate is the collation (LC_COLLATE), e.g. "C" or "en_US.UTF-8".
	// Unset: the server's default, not compared. It cannot change.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.@-]{1,64}$`
	LCCollate string `json:"lcCollate,omitempty"`

	// LCCtype is the character classification (LC_CTYPE). Unset: the
	// server's default, not compared. It cannot change.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.@-]{1,64}$`
	LCCtype string `json:"lcCtype,omitempty"`

	// Extensions are created in the database (CREATE EXTENSION IF NOT
	// EXISTS). Removing one from the list does not drop it: dropping an
	// extension can drop the data that depends on it.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9_-]{1,63}$`
	Extensions []string `json:"extensions,omitempty"`

	// ConnectionLimit is the most concurrent connections to the database;
	// -1 (default) means no limit.
	// +optional
	// +kubebuilder:default=-1
	// +kubebuilder:validation:Minimum=-1
	ConnectionLimit *int32 `json:"connectionLimit,omitempty"`
}

// DatabaseObservation is what the server reported about the database.
type DatabaseObservation struct {
	// +optional
	Owner string `json:"owner,omitempty"`
	// +optional
	Encoding string `json:"encoding,omitempty"`
	// +optional
	LCCollate string `json:"lcCollate,omitempty"`
	// +optional
	LCCtype string `json:"lcCtype,omitempty"`
	// +optional
	ConnectionLimit int32 `json:"connectionLimit"`
	// Extensions installed in the database, all of them.
	// +optional
	Extensions []string `json:"extensions,omitempty"`
}

// DatabaseStatus is the observed state of a database.
type DatabaseStatus struct {
	commonv1.ManagedStatus `json:",inline"`

	// Observed is what the server reported on the last read.
	// +optional
	Observed *DatabaseObservation `json:"observed,omitempty"`
}

// Database is a PostgreSQL database. metadata.name is the database name
// unless spec.resourceID says otherwise.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories={infraplane,postgres},shortName=pgdb
// +kubebuilder:validation:XValidation:rule="(has(self.spec) && has(self.spec.resourceID)) || self.metadata.name.size() <= 63",message="metadata.name is used as the database name: it must be at most 63 characters (or set spec.resourceID)",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || self.spec.resourceID.size() <= 63",message="spec.resourceID is the database name: at most 63 characters",fieldPath=".spec.resourceID"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || !(self.spec.resourceID in ['template0', 'template1'])",message="spec.resourceID cannot name a template database",fieldPath=".spec.resourceID"
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="SYNCED",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="DRIFTED",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="OWNER",type=string,JSONPath=`.status.observed.owner`
// +kubebuilder:printcolumn:name="REASON",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.status.selfLink`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type Database struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec DatabaseSpec `json:"spec,omitempty"`
	// +kubebuilder:default={observedGeneration:-1}
	Status DatabaseStatus `json:"status,omitempty"`
}

// DatabaseList is a list of databases.
// +kubebuilder:object:root=true
type DatabaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Database `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Database{}, &DatabaseList{})
}
