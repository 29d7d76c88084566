package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// SpannerInstanceSpec is the desired state of a Spanner instance.
// +kubebuilder:validation:XValidation:rule="has(self.resourceID) == has(oldSelf.resourceID) && (!has(self.resourceID) || self.resourceID == oldSelf.resourceID)",message="resourceID cannot change: a new id is a new instance",fieldPath=".resourceID",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="has(self.processingUnits) != has(self.nodeCount)",message="set exactly one of spec.processingUnits or spec.nodeCount"
type SpannerInstanceSpec struct {
	commonv1.ManagedSpec `json:",inline"`

	// Config is the instance configuration, e.g. "regional-us-central1"
	// (it becomes projects/PROJECT/instanceConfigs/CONFIG). It cannot
	// change: moving an instance is not supported.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="config cannot change on an existing instance: create a new instance instead"
	Config string `json:"config"`

	// DisplayName is the name shown in the console (4-30 characters).
	// Defaults to metadata.name.
	// +optional
	// +kubebuilder:validation:MinLength=4
	// +kubebuilder:validation:MaxLength=30
	DisplayName string `json:"displayName,omitempty"`

	// ProcessingUnits is the compute capacity: a multiple of 100 below
	// 1000, a multiple of 1000 from 1000 on. Set this or nodeCount.
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:XValidation:rule="self < 1000 ? self % 100 == 0 : self % 1000 == 0",message="spec.processingUnits must be a multiple of 100 below 1000 and a multiple of 1000 from 1000 on"
	ProcessingUnits *int32 `json:"processingUnits,omitempty"`

	// NodeCount is the compute capacity in nodes (1 node = 1000
	// processing units). Set this or processingUnits.
	// +optional
	// +kubebuilder:validation:Minimum=1
	NodeCount *int32 `json:"nodeCount,omitempty"`

	// Labels on the instance. Keys starting with "infraplane-" are reserved.
	// +optional
	// +kubebuilder:validation:MaxProperties=63
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z][a-z0-9_-]{0,62}$'))",message="label keys must start with a lowercase letter and contain only lowercase letters, digits, '_' and '-' (at most 63)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('infraplane-'))",message="label keys starting with 'infraplane-' are reserved for infraplane"
	Labels map[string]commonv1.LabelValue `json:"labels,omitempty"`
}

// SpannerInstanceObservation is what the cloud reported about the instance.
type SpannerInstanceObservation struct {
	// +optional
	Config string `json:"config,omitempty"`
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// +optional
	NodeCount int32 `json:"nodeCount,omitempty"`
	// +optional
	ProcessingUnits int32 `json:"processingUnits,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	State string `json:"state,omitempty"`
}

// SpannerInstanceStatus is the observed state of an instance.
type SpannerInstanceStatus struct {
	commonv1.ManagedStatus `json:",inline"`

	// Observed is what the cloud reported on the last read.
	// +optional
	Observed *SpannerInstanceObservation `json:"observed,omitempty"`
}

// SpannerInstance is a Cloud Spanner instance. metadata.name is the
// instance id unless spec.resourceID says otherwise.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories={infraplane,spanner},shortName=spinst
// +kubebuilder:validation:XValidation:rule="(has(self.spec) && has(self.spec.resourceID)) || (self.metadata.name.size() >= 2 && self.metadata.name.size() <= 64 && self.metadata.name.matches('^[a-z][-a-z0-9]*[a-z0-9]$'))",message="metadata.name is used as the instance id: it must be 2-64 characters, start with a lowercase letter, contain only lowercase letters, digits and '-', and not end with '-' (or set spec.resourceID)",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || (self.spec.resourceID.size() <= 64 && self.spec.resourceID.matches('^[a-z][-a-z0-9]*[a-z0-9]$'))",message="spec.resourceID must be 2-64 characters, start with a lowercase letter, contain only lowercase letters, digits and '-', and not end with '-'",fieldPath=".spec.resourceID"
// +kubebuilder:printcolumn:name="CONFIG",type=string,JSONPath=`.spec.config`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="SYNCED",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="DRIFTED",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="UNITS",type=integer,JSONPath=`.status.observed.processingUnits`,priority=1
// +kubebuilder:printcolumn:name="REASON",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.status.selfLink`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type SpannerInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SpannerInstanceSpec `json:"spec"`
	// +kubebuilder:default={observedGeneration:-1}
	Status SpannerInstanceStatus `json:"status,omitempty"`
}

// SpannerInstanceList is a list of Spanner instances.
// +kubebuilder:object:root=true
type SpannerInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SpannerInstance `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SpannerInstance{}, &SpannerInstanceList{})
}
