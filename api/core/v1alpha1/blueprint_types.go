package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Blueprint labels and condition types.
const (
	// BlueprintInstanceLabel on a child names the instance that made it.
	BlueprintInstanceLabel = "infraplane.dev/blueprint-instance"
	// BlueprintLabel on a child and on the generated CRD names the Blueprint.
	BlueprintLabel = "infraplane.dev/blueprint"
	// BlueprintResourceLabel on a child is its resource id in the Blueprint.
	BlueprintResourceLabel = "infraplane.dev/blueprint-resource"
	// BlueprintRevisionLabel on an instance is the revision it is to run,
	// set by the rollout (a new instance gets it when first reconciled).
	// On a BlueprintRevision it is the revision number.
	BlueprintRevisionLabel = "infraplane.dev/blueprint-revision"
	// CanaryLabel "true" on an instance volunteers it as a canary: such
	// instances get a new revision before the others.
	CanaryLabel = "infraplane.dev/canary"

	// BlueprintAccepted is the condition type saying whether every
	// expression compiled (reason InvalidExpression when not).
	BlueprintAccepted = "Accepted"
	// BlueprintReady is the condition type saying whether the generated
	// CRD is established and instances are reconciled.
	BlueprintReady = "Ready"
	// BlueprintRolledOut is the condition type saying whether every
	// instance runs the latest revision and is Ready (reasons Canary,
	// Progressing, Halted, Paused, RolledOut).
	BlueprintRolledOut = "RolledOut"
)

// Rollout phases.
const (
	RolloutCanary      = "Canary"
	RolloutProgressing = "Progressing"
	RolloutHalted      = "Halted"
	RolloutPaused      = "Paused"
	RolloutComplete    = "Complete"
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

	// Rollout says how a new revision reaches the existing instances.
	// Changing it does not make a new revision.
	// +optional
	Rollout *BlueprintRollout `json:"rollout,omitempty"`
}

// BlueprintRollout is the staged rollout of a new revision: canaries
// first, then batches, each stage only once the previous one is Ready;
// a failure halts it.
type BlueprintRollout struct {
	// Canary is how many instances get a new revision first; the others
	// wait until every canary is Ready on it. Instances labelled
	// infraplane.dev/canary=true are chosen first, then by namespace and
	// name. 1 by default; 0 skips the canary stage.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	Canary *int32 `json:"canary,omitempty"`
	// BatchSize is how many instances move at once after the canaries: a
	// number, or a percentage of all instances ("25%", rounded up).
	// 25% by default.
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self > 0 : self.matches('^[1-9][0-9]?%$|^100%$')",message="batchSize is a positive number or a percentage from 1% to 100%"
	BatchSize *intstr.IntOrString `json:"batchSize,omitempty"`
	// ProgressDeadline is how long the instances of a stage may take to be
	// Ready on the new revision before the rollout halts. 10m by default.
	// +optional
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`
	// Paused stops moving instances to a new revision (instances already
	// moved stay). New instances get the latest revision all the same.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// MaxFailedNamespaces is how many namespaces may have instances that
	// failed on the new revision before the rollout halts. 0 (default):
	// any failed instance halts it. A namespace's instances are written by
	// one team, which can make them fail on purpose (or volunteer them as
	// canaries and then do so); 1 keeps one team from halting every team's
	// rollout, while a revision that breaks the instances of two teams
	// still halts. Failures tolerated so are listed in status all the same.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxFailedNamespaces int32 `json:"maxFailedNamespaces,omitempty"`
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

	// LatestRevision is the revision of the current spec (its
	// BlueprintRevision is <blueprint>-<revision>).
	// +optional
	LatestRevision int64 `json:"latestRevision,omitempty"`
	// StableRevision is the last revision every instance reached; a
	// halted rollout leaves new instances on it.
	// +optional
	StableRevision int64 `json:"stableRevision,omitempty"`
	// Rollout is the state of the rollout of LatestRevision.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// Revisions counts the instances on each revision, oldest first.
	// +optional
	// +listType=map
	// +listMapKey=revision
	Revisions []RevisionCount `json:"revisions,omitempty"`
}

// RolloutStatus is where the rollout of a revision stands.
type RolloutStatus struct {
	// Revision is the revision being rolled out.
	Revision int64 `json:"revision"`
	// Phase is Canary, Progressing, Halted, Paused or Complete.
	Phase string `json:"phase"`
	// StageStartedAt is when the current stage's instances were moved.
	// +optional
	StageStartedAt *metav1.Time `json:"stageStartedAt,omitempty"`
	// Updated counts the instances on Revision; Total counts all.
	Updated int32 `json:"updated"`
	Total   int32 `json:"total"`
	// Message says what the rollout waits for, or why it halted.
	// +optional
	Message string `json:"message,omitempty"`
	// Failed lists (up to 10) instances that failed on Revision.
	// +optional
	// +listType=atomic
	Failed []InstanceFailure `json:"failed,omitempty"`
}

// InstanceFailure is an instance that failed on a revision.
type InstanceFailure struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Message is the instance's Ready message.
	Message string `json:"message"`
}

// RevisionCount counts the instances on one revision.
type RevisionCount struct {
	Revision  int64 `json:"revision"`
	Instances int32 `json:"instances"`
	Ready     int32 `json:"ready"`
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

	Spec BlueprintSpec `json:"spec"`
	// +kubebuilder:default={observedGeneration:-1}
	Status BlueprintStatus `json:"status,omitempty"`
}

// BlueprintList is a list of Blueprints.
// +kubebuilder:object:root=true
type BlueprintList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Blueprint `json:"items"`
}

// BlueprintRevisionSpec is an immutable snapshot of what a Blueprint
// renders: its kind, schema and resources.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a BlueprintRevision cannot change"
type BlueprintRevisionSpec struct {
	// Blueprint is the Blueprint's name.
	Blueprint string `json:"blueprint"`
	// Revision numbers the Blueprint's revisions from 1.
	// +kubebuilder:validation:Minimum=1
	Revision int64 `json:"revision"`
	// Hash is the SHA-256 of the snapshot: two revisions with one hash
	// render the same children.
	Hash string `json:"hash"`
	// Template is the Blueprint's spec at this revision (without rollout).
	Template BlueprintSpec `json:"template"`
}

// BlueprintRevision is one revision of a Blueprint. Instances render
// from the revision the rollout gave them; infraplane makes revisions and
// deletes those no instance uses (keeping the last ten).
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=infraplane,shortName=bprev
// +kubebuilder:printcolumn:name="BLUEPRINT",type=string,JSONPath=`.spec.blueprint`
// +kubebuilder:printcolumn:name="REVISION",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type BlueprintRevision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec BlueprintRevisionSpec `json:"spec"`
}

// BlueprintRevisionList is a list of BlueprintRevisions.
// +kubebuilder:object:root=true
type BlueprintRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BlueprintRevision `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Blueprint{}, &BlueprintList{}, &BlueprintRevision{}, &BlueprintRevisionList{})
}
