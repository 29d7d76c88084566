package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResourceClaimSpec names a cloud resource and the one object that
// manages it.
type ResourceClaimSpec struct {
	// Resource is the full cloud name, e.g.
	// projects/p/instances/i/tables/t.
	// +kubebuilder:validation:MinLength=1
	Resource string `json:"resource"`
	// Kind, Namespace and Name of the object that manages it.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// UID of that object: a claim of an object that is gone (another with
	// the same name is another object) no longer holds.
	UID string `json:"uid"`
}

// ResourceClaim records, cluster-wide, that one object manages one cloud
// resource, for kinds whose resources carry no ownership label (Bigtable
// tables): it is created atomically when the object first creates or
// adopts the resource, so two objects anywhere in the cluster never manage
// the same one. Its name is derived from the resource's full name.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=infraplane
// +kubebuilder:printcolumn:name="RESOURCE",type=string,JSONPath=`.spec.resource`
// +kubebuilder:printcolumn:name="KIND",type=string,JSONPath=`.spec.kind`
// +kubebuilder:printcolumn:name="NAMESPACE",type=string,JSONPath=`.spec.namespace`
// +kubebuilder:printcolumn:name="NAME",type=string,JSONPath=`.spec.name`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceClaim struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ResourceClaimSpec `json:"spec"`
}

// ResourceClaimList is a list of ResourceClaims.
// +kubebuilder:object:root=true
type ResourceClaimList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceClaim `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ResourceClaim{}, &ResourceClaimList{})
}
