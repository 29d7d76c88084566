package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// SubscriptionSpec is the desired state of a Pub/Sub subscription.
// +kubebuilder:validation:XValidation:rule="has(self.resourceID) == has(oldSelf.resourceID) && (!has(self.resourceID) || self.resourceID == oldSelf.resourceID)",message="resourceID cannot change: a new id is a new subscription",fieldPath=".resourceID",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="has(self.filter) == has(oldSelf.filter) && (!has(self.filter) || self.filter == oldSelf.filter)",message="filter cannot change on an existing subscription: create a new subscription instead",fieldPath=".filter",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="(has(self.enableMessageOrdering) && self.enableMessageOrdering) == (has(oldSelf.enableMessageOrdering) && oldSelf.enableMessageOrdering)",message="enableMessageOrdering cannot change on an existing subscription: create a new subscription instead",fieldPath=".enableMessageOrdering",reason=FieldValueForbidden
type SubscriptionSpec struct {
	commonv1.ManagedSpec `json:",inline"`

	// TopicRef is the topic to subscribe to: a Topic in this namespace
	// (name) or a topic's full name (external). It cannot change.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="topicRef cannot change: a subscription belongs to one topic"
	// +kubebuilder:validation:XValidation:rule="!has(self.external) || self.external.matches('^projects/[^/]+/topics/[^/]+$')",message="external must be a full topic name: projects/PROJECT/topics/TOPIC"
	TopicRef commonv1.ResourceRef `json:"topicRef"`

	// AckDeadlineSeconds is how long a subscriber has to acknowledge a
	// message before it is redelivered (10-600).
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=600
	AckDeadlineSeconds int32 `json:"ackDeadlineSeconds,omitempty"`

	// MessageRetentionDuration keeps unacknowledged messages (and acknowledged
	// ones with retainAckedMessages) for this long (10m to 168h = 7 days).
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10m') && duration(self) <= duration('168h')",message="messageRetentionDuration must be between 10m and 168h (7 days)"
	MessageRetentionDuration *metav1.Duration `json:"messageRetentionDuration,omitempty"`

	// RetainAckedMessages keeps acknowledged messages for the retention
	// duration, so they can be replayed by seeking.
	// +optional
	RetainAckedMessages bool `json:"retainAckedMessages,omitempty"`

	// Filter delivers only messages whose attributes match this expression.
	// It cannot change after creation.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Filter string `json:"filter,omitempty"`

	// EnableMessageOrdering delivers messages with the same ordering key in
	// order. It cannot change after creation.
	// +optional
	EnableMessageOrdering bool `json:"enableMessageOrdering,omitempty"`

	// DeadLetterPolicy forwards messages that could not be delivered after
	// maxDeliveryAttempts to another topic. Unset: no dead-lettering.
	// +optional
	DeadLetterPolicy *DeadLetterPolicy `json:"deadLetterPolicy,omitempty"`

	// RetryPolicy sets the redelivery backoff. Unset: immediate redelivery.
	// +optional
	RetryPolicy *RetryPolicy `json:"retryPolicy,omitempty"`

	// ExpirationPolicy deletes the subscription after a period without
	// subscriber activity. Unset: the cloud's default (31 days) applies and
	// is not managed; set with no ttl: never expires.
	// +optional
	ExpirationPolicy *ExpirationPolicy `json:"expirationPolicy,omitempty"`

	// Labels on the subscription. Keys starting with "infraplane-" are reserved.
	// +optional
	// +kubebuilder:validation:MaxProperties=63
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z][a-z0-9_-]{0,62}$'))",message="label keys must start with a lowercase letter and contain only lowercase letters, digits, '_' and '-' (at most 63)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('infraplane-'))",message="label keys starting with 'infraplane-' are reserved for infraplane"
	Labels map[string]commonv1.LabelValue `json:"labels,omitempty"`
}

// DeadLetterPolicy forwards undeliverable messages to another topic.
type DeadLetterPolicy struct {
	// DeadLetterTopicRef is the topic that receives undeliverable messages.
	// +kubebuilder:validation:XValidation:rule="!has(self.external) || self.external.matches('^projects/[^/]+/topics/[^/]+$')",message="external must be a full topic name: projects/PROJECT/topics/TOPIC"
	DeadLetterTopicRef commonv1.ResourceRef `json:"deadLetterTopicRef"`

	// MaxDeliveryAttempts before a message is forwarded (5-100).
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=100
	MaxDeliveryAttempts int32 `json:"maxDeliveryAttempts,omitempty"`
}

// RetryPolicy sets exponential redelivery backoff.
// +kubebuilder:validation:XValidation:rule="!has(self.minimumBackoff) || !has(self.maximumBackoff) || duration(self.minimumBackoff) <= duration(self.maximumBackoff)",message="minimumBackoff must not exceed maximumBackoff",fieldPath=".minimumBackoff"
type RetryPolicy struct {
	// MinimumBackoff between redeliveries (0-600s, default 10s).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('600s')",message="minimumBackoff must be between 0s and 600s"
	MinimumBackoff *metav1.Duration `json:"minimumBackoff,omitempty"`

	// MaximumBackoff between redeliveries (0-600s, default 600s).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('600s')",message="maximumBackoff must be between 0s and 600s"
	MaximumBackoff *metav1.Duration `json:"maximumBackoff,omitempty"`
}

// ExpirationPolicy deletes an inactive subscription.
type ExpirationPolicy struct {
	// TTL of inactivity after which the subscription is deleted (at least
	// 24h, at most 744h). Unset: never expires.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('24h') && duration(self) <= duration('744h')",message="ttl must be between 24h and 744h (31 days)"
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// SubscriptionObservation is what the cloud reported about the subscription.
type SubscriptionObservation struct {
	// +optional
	Topic string `json:"topic,omitempty"`
	// +optional
	AckDeadlineSeconds int32 `json:"ackDeadlineSeconds,omitempty"`
	// +optional
	MessageRetentionDuration string `json:"messageRetentionDuration,omitempty"`
	// +optional
	RetainAckedMessages bool `json:"retainAckedMessages,omitempty"`
	// +optional
	Filter string `json:"filter,omitempty"`
	// +optional
	EnableMessageOrdering bool `json:"enableMessageOrdering,omitempty"`
	// +optional
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
	// +optional
	MaxDeliveryAttempts int32 `json:"maxDeliveryAttempts,omitempty"`
	// +optional
	MinimumBackoff string `json:"minimumBackoff,omitempty"`
	// +optional
	MaximumBackoff string `json:"maximumBackoff,omitempty"`
	// +optional
	ExpirationTTL string `json:"expirationTTL,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	State string `json:"state,omitempty"`
}

// SubscriptionStatus is the observed state of a subscription.
type SubscriptionStatus struct {
	commonv1.ManagedStatus `json:",inline"`

	// Topic is the full name of the topic the subscription is attached to,
	// resolved from spec.topicRef.
	// +optional
	Topic string `json:"topic,omitempty"`

	// Observed is what the cloud reported on the last read.
	// +optional
	Observed *SubscriptionObservation `json:"observed,omitempty"`
}

// Subscription is a Pub/Sub subscription. metadata.name is the
// subscription id unless spec.resourceID says otherwise.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories={infraplane,pubsub},shortName=sub
// +kubebuilder:validation:XValidation:rule="(has(self.spec) && has(self.spec.resourceID)) || (self.metadata.name.size() >= 3 && self.metadata.name.matches('^[a-z]') && !self.metadata.name.startsWith('goog'))",message="metadata.name is used as the subscription id: it must be at least 3 characters, start with a letter and not start with 'goog' (or set spec.resourceID)",fieldPath=".metadata"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.resourceID) || self.spec.resourceID.matches('^[a-zA-Z][a-zA-Z0-9._~+%-]{2,254}$') && !self.spec.resourceID.startsWith('goog')",message="spec.resourceID must be 3-255 characters, start with a letter, contain only letters, digits and - _ . ~ + %, and not start with 'goog'",fieldPath=".spec.resourceID"
// +kubebuilder:printcolumn:name="TOPIC",type=string,JSONPath=`.spec.topicRef.name`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="SYNCED",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="DRIFTED",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="REASON",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.status.selfLink`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type Subscription struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SubscriptionSpec `json:"spec"`
	// +kubebuilder:default={observedGeneration:-1}
	Status SubscriptionStatus `json:"status,omitempty"`
}

// SubscriptionList is a list of subscriptions.
// +kubebuilder:object:root=true
type SubscriptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Subscription `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Subscription{}, &SubscriptionList{})
}
