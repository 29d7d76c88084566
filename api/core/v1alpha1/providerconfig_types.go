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
// +kubebuilder:validation:Enum=ApplicationDefault;None;ImpersonateServiceAccount;SecretKey
type CredentialsSource string

const (
	// CredentialsApplicationDefault uses the controller's own Google
	// Application Default Credentials: every ProviderConfig that says so
	// acts with the controller's rights.
	CredentialsApplicationDefault CredentialsSource = "ApplicationDefault"
	// CredentialsNone sends no credentials: for emulators and local fakes.
	CredentialsNone CredentialsSource = "None"
	// CredentialsImpersonate acts as a Google service account of the
	// team's (serviceAccount): the controller's identity needs only
	// roles/iam.serviceAccountTokenCreator on it, and IAM stops the
	// ProviderConfig at that account's rights.
	CredentialsImpersonate CredentialsSource = "ImpersonateServiceAccount"
	// CredentialsSecretKey uses a service-account key from a Secret
	// (secretRef).
	CredentialsSecretKey CredentialsSource = "SecretKey"
)

// ProviderConfigSpec says where a namespace's cloud resources live.
type ProviderConfigSpec struct {
	// ProjectID is the GCP project that holds the resources.
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`
	ProjectID string `json:"projectID"`

	// ProjectNumber is the project's number. Cloud Storage says which
	// project a bucket belongs to only by number, and bucket names are
	// global: a bucket of another project is never adopted, changed or
	// deleted. Unset, the number is asked of Cloud Storage (the project's
	// service agent, projects.serviceAccount.get); if that fails, only
	// buckets carrying their object's own ownership label are managed.
	// Set it when the identity may not read the project
	// (resourcemanager.projects.get). (`up` sets it for its local cloud.)
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{1,20}$`
	ProjectNumber string `json:"projectNumber,omitempty"`

	// Credentials says how to authenticate.
	// +optional
	Credentials Credentials `json:"credentials,omitempty"`

	// Endpoints overrides per-service API endpoints (host:port), e.g. to
	// point at emulators. An empty field means Google's endpoint.
	// +optional
	Endpoints Endpoints `json:"endpoints,omitempty"`

	// Postgres is the PostgreSQL server that the namespace's Database and
	// Role objects live on (self-hosted, or a Cloud SQL instance's
	// endpoint).
	// +optional
	Postgres *PostgresServer `json:"postgres,omitempty"`

	// NamespaceSelector chooses the namespaces whose objects may use this
	// ProviderConfig (through their infraplane.dev/provider-config
	// annotation, or as the default). Unset: every namespace. An object in
	// a namespace it does not select makes no cloud call; its Synced
	// condition says why.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// ReferenceProjects are projects besides projectID whose resources
	// objects may reference by full name (e.g. a Subscription on a topic
	// another team shares). Nothing is ever created, adopted, changed or
	// deleted in them; every other project is refused.
	// +optional
	// +listType=set
	ReferenceProjects []string `json:"referenceProjects,omitempty"`
}

// PostgresSSLMode is how infraplane connects to a PostgreSQL server.
// +kubebuilder:validation:Enum=disable;require;verify-ca;verify-full
type PostgresSSLMode string

// PostgresServer says how to reach a PostgreSQL server as an administrator.
type PostgresServer struct {
	// Host name or IP address.
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`
	// Port, 5432 by default.
	// +optional
	// +kubebuilder:default=5432
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// Database to connect to for administration, "postgres" by default.
	// +optional
	// +kubebuilder:default=postgres
	Database string `json:"database,omitempty"`
	// SSLMode: disable, require, verify-ca or verify-full (default).
	// +optional
	// +kubebuilder:default=verify-full
	SSLMode PostgresSSLMode `json:"sslMode,omitempty"`
	// CredentialsSecretRef names a Secret with the administrator's
	// "username" and "password" (and, for verify-ca/verify-full, an
	// optional "ca.crt").
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// AllowedMemberships are roles that Role objects may join (memberOf)
	// besides the roles objects of their own namespace manage: e.g. a
	// shared read-only role. Predefined roles (pg_*) and cloud admin roles
	// (cloudsqlsuperuser, …) are refused unless listed here.
	// +optional
	// +listType=set
	AllowedMemberships []string `json:"allowedMemberships,omitempty"`
}

// SecretReference names a Secret in a namespace (ProviderConfigs are
// cluster-scoped, so the namespace is needed).
type SecretReference struct {
	// +kubebuilder:validation:MinLength=1
	Namespace string `json:"namespace"`
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// Credentials says how to authenticate to the cloud. A ProviderConfig that
// names an identity (ImpersonateServiceAccount, SecretKey) never falls
// back to the controller's own.
// +kubebuilder:validation:XValidation:rule="self.source != 'ImpersonateServiceAccount' || has(self.serviceAccount)",message="source ImpersonateServiceAccount needs serviceAccount",fieldPath=".serviceAccount",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="self.source != 'SecretKey' || has(self.secretRef)",message="source SecretKey needs secretRef",fieldPath=".secretRef",reason=FieldValueRequired
type Credentials struct {
	// Source is ApplicationDefault (default; the controller's own
	// credentials), ImpersonateServiceAccount, SecretKey, or None
	// (emulators).
	// +optional
	// +kubebuilder:default=ApplicationDefault
	Source CredentialsSource `json:"source,omitempty"`

	// ServiceAccount is the e-mail of the Google service account to
	// impersonate (source ImpersonateServiceAccount).
	// +optional
	ServiceAccount string `json:"serviceAccount,omitempty"`

	// SecretRef names a Secret whose key "key.json" holds a service-account
	// key (source SecretKey).
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
}

// Endpoints overrides per-service endpoints. Without credentials, endpoints
// are dialled without TLS (emulators); with credentials, with TLS.
type Endpoints struct {
	// PubSub endpoint, host:port.
	// +optional
	PubSub string `json:"pubsub,omitempty"`
	// Storage is the Cloud Storage JSON API base URL, e.g.
	// "http://127.0.0.1:4443/storage/v1/" for a local fake.
	// +optional
	Storage string `json:"storage,omitempty"`
	// Spanner endpoint, host:port.
	// +optional
	Spanner string `json:"spanner,omitempty"`
	// Bigtable endpoint (admin and data), host:port.
	// +optional
	Bigtable string `json:"bigtable,omitempty"`
}

// ProviderConfigStatus reports which namespaces use this config.
type ProviderConfigStatus struct {
	// Conditions: Ready (the config is usable: its namespace selector
	// parses and the Secrets it names exist) and Stalled when it is not.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
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

	Spec ProviderConfigSpec `json:"spec"`
	// +kubebuilder:default={observedGeneration:-1}
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
