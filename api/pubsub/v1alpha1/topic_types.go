package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// TopicSpec is the desired state of a Pub/Sub topic.
// +kubebuilder:validation:XValidation:rule="has(self.resourceID) == has(oldSelf.resourceID) && (!has(self.resourceID) || self.resourceID == oldSelf.resourceID)",message="resourceID cannot change: a new id is a new topic",fieldPath=".resourceID",reason=FieldValueForbidden
type TopicSpec struct {
	commonv1.ManagedSpec `json:",inline"`

	// Labels on the topic. Keys starting with "infraplane-" are reserved.
	// +optional
	// +kubebuilder:validation:MaxProperties=63
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z][a-z0-9_-]{0,62}$'))",message="label keys must start with a lowercase letter and contain only lowercase letters, digits, '_' and '-' (at most 63)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('infraplane-'))",message="label keys starting with 'infraplane-' are reserved for infraplane"
	Labels map[string]commonv1.LabelValue `json:"labels,omitempty"`

	// MessageRetentionDuration keeps published messages, acknowledged or
	// not, for this long (10m to 744h = 31 days). Unset: not retained.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10m') && duration(self) <= duration('744h')",message="messageRetentionDuration must be between 10m and 744h (31 days)"
	MessageRetentionDuration *metav1.Duration `json:"messageRetentionDuration,omitempty"`

	// MessageStoragePolicy restricts the regions where messages are stored.
	// Unset: the cloud's default (the organisation's policy).
	// +optional
	MessageStoragePolicy *MessageStoragePolicy `json:"messageStoragePolicy,omitempty"`
}

// MessageStoragePolicy restricts where a topic's messages are stored.
type MessageStoragePolicy struct {
	// AllowedPersistenceRegions lists the GCP regions where messages may be
	// stored, e.g. ["europe-west1"].
	// +kubebuilder:validation:MinItems=1
	// +listType=set
	// +kubebuilder:validation:items:Pattern=`^[a-z]+-[a-z]+[0-9]+$`
	AllowedPersistenceRegions []string `json:"allowedPersistenceRegions"`
}

// TopicObservation is what the cloud reported about the topic.
type TopicObservation struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	MessageRetentionDuration string `json:"messageRetentionDuration,omitempty"`
	// +optional
	AllowedPersistenceRegions []string `json:"allowedPersistenceRegions,omitempty"`
	// +optional
	State string `json:"state,omitempty"`
}

// TopicStatus is the observed state of a topic.
type TopicStatus struct {
	commonv1.ManagedStatus `json:",inline"`

	// Observed is what the cloud reported on the last read.
	// +optional
	Observed *TopicObservation `json:"observed,omitempty"`
}

// Topic is a Pub/Sub topic. metadata.name is the topic id unless
// spec.resourceID says otherwise.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories={infraplane,pubsub}
// +kubebuilder:validation:XValidation:rule="(has(self.spec) && has(self.spec.resourceID)) || (self.metadata.name.size() >= 3 && self.metadata.name.matches('^[a-z]') && !self.metadata.name.startsWith('goog'))",message="metadata.name is used as the topic id: it must be at least 3 characters, start with a letter and not start with 'goog' (or set spec.resourceID)",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || self.spec.resourceID.matches('^[a-zA-Z][a-zA-Z0-9._~+%-]{2,254}$') && !self.spec.resourceID.startsWith('goog')",message="spec.resourceID must be 3-255 characters, start with a letter, contain only letters, digits and - _ . ~ + %, and not start with 'goog'",fieldPath=".spec.resourceID"
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="SYNCED",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="DRIFTED",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="REASON",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.status.selfLink`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type Topic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec TopicSpec `json:"spec,omitempty"`
	// +kubebuilder:default={observedGeneration:-1}
	Status TopicStatus `json:"status,omitempty"`
}

// TopicList is a list of topics.
// +kubebuilder:object:root=true
type TopicList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Topic `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Topic{}, &TopicList{})
}
