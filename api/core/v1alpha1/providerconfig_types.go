package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespaceAnnotation on a Namespace names the ProviderConfig its objects
// use. Without it, the ProviderConfig named DefaultProviderConfig is used.
const (
	NamespaceAnnotation   = "infraplane.dev/provider-config"
	DefaultProviderConfig = "default"
)

// CredentialsSource says how infraplane authenticates to the cloud.
// +kubebuilder:validation:Enum=ApplicationDefault;None
type CredentialsSource string

const (
	// CredentialsApplicationDefault uses Google Application Default Credentials.
	CredentialsApplicationDefault CredentialsSource = "ApplicationDefault"
	// CredentialsNone sends no credentials: for emulators and local fakes.
	CredentialsNone CredentialsSource = "None"
)

// ProviderConfigSpec says where a namespace's cloud resources live.
type ProviderConfigSpec struct {
	// ProjectID is the GCP project that holds the resources.
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`
	ProjectID string `json:"projectID"`

	// Credentials says how to authenticate.
	// +optional
	Credentials Credentials `json:"credentials,omitempty"`

	// Endpoints overrides per-service API endpoints (host:port), e.g. to
	// point at emulators. An empty field means Google's endpoint.
	// +optional
	Endpoints Endpoints `json:"endpoints,omitempty"`
}

// Credentials says how to authenticate to the cloud.
type Credentials struct {
	// Source is ApplicationDefault (default; real GCP) or None (emulators).
	// +optional
	// +kubebuilder:default=ApplicationDefault
	Source CredentialsSource `json:"source,omitempty"`
}

// Endpoints overrides per-service endpoints. Without credentials, endpoints
// are dialled without TLS (emulators); with credentials, with TLS.
type Endpoints struct {
	// PubSub endpoint, host:port.
	// +optional
	PubSub string `json:"pubsub,omitempty"`
}

// ProviderConfigStatus reports which namespaces use this config.
type ProviderConfigStatus struct {
	// Conditions of the ProviderConfig.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ProviderConfig names a GCP project, the credentials and the endpoints
// that the managed objects of a namespace use. A namespace picks one with
// the infraplane.dev/provider-config annotation, or gets the one named
// "default". It is cluster-scoped so that a team cannot point its objects
// at a project the platform team did not configure.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=infraplane
// +kubebuilder:printcolumn:name="PROJECT",type=string,JSONPath=`.spec.projectID`
// +kubebuilder:printcolumn:name="CREDENTIALS",type=string,JSONPath=`.spec.credentials.source`
// +kubebuilder:printcolumn:name="PUBSUB",type=string,JSONPath=`.spec.endpoints.pubsub`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type ProviderConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ProviderConfigSpec   `json:"spec"`
	Status ProviderConfigStatus `json:"status,omitempty"`
}

// ProviderConfigList is a list of ProviderConfigs.
// +kubebuilder:object:root=true
type ProviderConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProviderConfig `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ProviderConfig{}, &ProviderConfigList{})
}
