package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Blueprint labels and condition types.
const (
	// BlueprintInstanceLabel on a child names the instance that made it.
	BlueprintInstanceLabel = "infraplane.dev/blueprint-instance"
	// BlueprintLabel on a child and on the generated CRD names the Blueprint.
	BlueprintLabel = "infraplane.dev/blueprint"
	// BlueprintResourceLabel on a child is its resource id in the Blueprint.
	BlueprintResourceLabel = "infraplane.dev/blueprint-resource"

	// BlueprintAccepted is the condition type saying whether every
	// expression compiled (reason InvalidExpression when not).
	BlueprintAccepted = "Accepted"
	// BlueprintReady is the condition type saying whether the generated
	// CRD is established and instances are reconciled.
	BlueprintReady = "Ready"
)

// BlueprintSpec defines a new kind and what each of its instances is made of.
type BlueprintSpec struct {
	// Group of the new kind, e.g. platform.example.com.
	// +kubebuilder:validation:MinLength=1
	Group string `json:"group"`
	// Version of the new kind, e.g. v1alpha1.
	// +kubebuilder:validation:Pattern=`^v[0-9]+((alpha|beta)[0-9]+)?$`
	Version string `json:"version"`
	// Kind of the new kind, e.g. Queue.
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Kind string `json:"kind"`
	// Plural resource name; the lower-cased kind plus "s" by default.
	// +optional
	Plural string `json:"plural,omitempty"`

	// Schema is the OpenAPI v3 schema of an instance's spec (an object),
	// with defaults. It must be structural, as for any CRD.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Schema runtime.RawExtension `json:"schema"`

	// Resources are made for each instance, in the order their
	// expressions' references require.
	// +kubebuilder:validation:MinItems=1
	// +listType=map
	// +listMapKey=id
	Resources []BlueprintResource `json:"resources"`
}

// GroupVersionKind is the kind the Blueprint defines.
func (s BlueprintSpec) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: s.Group, Version: s.Version, Kind: s.Kind}
}

// BlueprintResource is one child of every instance.
type BlueprintResource struct {
	// ID names the resource in expressions (resources.<id>).
	// +kubebuilder:validation:Pattern=`^[a-z][A-Za-z0-9]*$`
	ID string `json:"id"`
	// Template is the child object (apiVersion, kind, metadata.name, spec).
	// String values may hold ${expressions} in CEL over spec, metadata
	// (the instance's name and namespace) and resources.<id>. A value that
	// is one expression keeps the expression's type; expressions inside a
	// longer string are interpolated.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Template runtime.RawExtension `json:"template"`
	// IncludeWhen expressions (CEL, bool, over spec and metadata) must all
	// be true for the resource to exist.
	// +optional
	// +listType=atomic
	IncludeWhen []string `json:"includeWhen,omitempty"`
	// ReadyWhen expressions (CEL, bool, over self: the child) must all be
	// true for the child to count as ready. Without them a child is ready
	// when its Ready condition is True (or, for kinds without conditions,
	// when it exists).
	// +optional
	// +listType=atomic
	ReadyWhen []string `json:"readyWhen,omitempty"`
}

// BlueprintStatus reports whether the Blueprint is in force.
type BlueprintStatus struct {
	// Conditions: Accepted (expressions compile; reason InvalidExpression
	// names the resource, field and expression) and Ready (the CRD is
	// established and instances are reconciled).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation last handled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// CRDName is the generated CustomResourceDefinition.
	// +optional
	CRDName string `json:"crdName,omitempty"`
	// Instances counts the instances of the kind.
	// +optional
	Instances int32 `json:"instances,omitempty"`
	// ReadyInstances counts the instances that are Ready.
	// +optional
	ReadyInstances int32 `json:"readyInstances,omitempty"`
}

// Blueprint defines a new kind whose instances are made of other
// resources: a platform abstraction.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=infraplane,shortName=bp
// +kubebuilder:printcolumn:name="KIND",type=string,JSONPath=`.spec.kind`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="INSTANCES",type=integer,JSONPath=`.status.instances`
// +kubebuilder:printcolumn:name="STATUS",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type Blueprint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BlueprintSpec   `json:"spec"`
	Status BlueprintStatus `json:"status,omitempty"`
}

// BlueprintList is a list of Blueprints.
// +kubebuilder:object:root=true
type BlueprintList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Blueprint `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Blueprint{}, &BlueprintList{})
}
