package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations on a BreakGlass. The *-by ones are stamped by infraplane's
// admission webhook from the authenticated user of the request; whatever a
// client puts there is overwritten.
const (
	// OpenedByAnnotation names the user who created the break-glass.
	OpenedByAnnotation = "breakglass.infraplane.dev/opened-by"
	// ClosedByAnnotation names the user who set spec.closed.
	ClosedByAnnotation = "breakglass.infraplane.dev/closed-by"
	// RevertAnnotation set to a new value asks to revert the held targets
	// to what git says (`infraplane breakglass revert`).
	RevertAnnotation = "breakglass.infraplane.dev/revert"
	// RevertByAnnotation names who asked for the revert.
	RevertByAnnotation = "breakglass.infraplane.dev/revert-by"
	// BackportAnnotation records a backport pushed by `infraplane
	// breakglass backport` ("<branch> <commit> <url>"), for the ledger.
	BackportAnnotation = "breakglass.infraplane.dev/backport"
	// BackportByAnnotation names who pushed the backport.
	BackportByAnnotation = "breakglass.infraplane.dev/backport-by"
)

// BreakGlassPhase is where a break-glass is in its life.
type BreakGlassPhase string

// Phases of a BreakGlass.
const (
	// BreakGlassActive: the window is open; the opener may edit the targets.
	BreakGlassActive BreakGlassPhase = "Active"
	// BreakGlassExpired: the window ran out.
	BreakGlassExpired BreakGlassPhase = "Expired"
	// BreakGlassClosed: someone closed it before it ran out.
	BreakGlassClosed BreakGlassPhase = "Closed"
)

// TargetState is what became of one target.
type TargetState string

// Target states.
const (
	// TargetOpen: the window is open.
	TargetOpen TargetState = "Open"
	// TargetInSync: the object matched git when the window closed.
	TargetInSync TargetState = "InSync"
	// TargetHeld: the object differs from git; the syncer leaves it alone
	// until git catches up (backport) or someone reverts.
	TargetHeld TargetState = "Held"
	// TargetReleased: git caught up with the object; the hold ended.
	TargetReleased TargetState = "Released"
	// TargetReverted: the object was put back to what git says.
	TargetReverted TargetState = "Reverted"
)

// BreakGlassTarget names one object by kind and name, in the break-glass's
// namespace.
type BreakGlassTarget struct {
	// Kind of the object, e.g. Subscription.
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Kind string `json:"kind"`
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// BreakGlassSpec says what may be changed directly, why and for how long.
// Only spec.closed may change after creation (and only to true): a new
// reason or scope is a new break-glass.
// +kubebuilder:validation:XValidation:rule="has(self.targets) || has(self.selector)",message="name the objects to change: targets or selector",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.closed) || !oldSelf.closed || (has(self.closed) && self.closed)",message="a closed break-glass cannot be reopened; open a new one",fieldPath=".closed",reason=FieldValueForbidden
type BreakGlassSpec struct {
	// Targets are the objects covered, by kind and name.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Targets []BreakGlassTarget `json:"targets,omitempty"`

	// Selector covers every managed object in the namespace whose labels
	// match (in addition to targets).
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Reason is why review is bypassed; it goes into the audit ledger.
	// +kubebuilder:validation:MinLength=10
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`

	// Incident is the incident or ticket id, e.g. INC-4211.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Incident string `json:"incident,omitempty"`

	// Duration of the window, from creation. The platform caps it
	// (--breakglass-max-duration, 8h by default; never more than 24h).
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('24h')",message="duration must be more than 0s and at most 24h"
	Duration metav1.Duration `json:"duration"`

	// PauseActuation also stops the controllers from writing to the cloud
	// for the targets: for changes made directly in the cloud console. They
	// still read the cloud and report drift.
	// +optional
	PauseActuation bool `json:"pauseActuation,omitempty"`

	// Closed ends the window now. It cannot be set back to false.
	// +optional
	Closed bool `json:"closed,omitempty"`
}

// DivergedField is one field where git, the object and the cloud disagree.
// Values are JSON.
type DivergedField struct {
	// Path of the field, e.g. spec.ackDeadlineSeconds.
	Path string `json:"path"`
	// Git is the value the repository asks for ("" when git does not set it).
	// +optional
	Git string `json:"git,omitempty"`
	// Object is the value in the object's spec now.
	// +optional
	Object string `json:"object,omitempty"`
	// Cloud is the value the cloud reported on the object's last read.
	// +optional
	Cloud string `json:"cloud,omitempty"`
}

// BreakGlassTargetStatus is one covered object and, once the window
// closed, its divergence from git.
type BreakGlassTargetStatus struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	// Source is the GitSource (namespace.name) that manages the object;
	// empty when git does not manage it.
	// +optional
	Source string `json:"source,omitempty"`
	// Instance is the Blueprint instance (Kind/name) this object is a
	// child of, when the break-glass covers it through that instance. Its
	// "git" values are then what the Blueprint renders for the instance,
	// and Source is the instance's GitSource.
	// +optional
	Instance string `json:"instance,omitempty"`
	// State: Open, InSync, Held, Released or Reverted.
	State TargetState `json:"state"`
	// Revision of git the object was compared with.
	// +optional
	Revision string `json:"revision,omitempty"`
	// Fields that differ between git and the object (and the cloud).
	// +optional
	// +listType=atomic
	Fields []DivergedField `json:"fields,omitempty"`
	// Message says what happened and what to do next.
	// +optional
	Message string `json:"message,omitempty"`
	// LastCheckTime is when git and the object were last compared.
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
}

// BreakGlassStatus is the window's state, who opened it, and what diverged.
type BreakGlassStatus struct {
	// Phase: Active, Expired or Closed.
	// +optional
	Phase BreakGlassPhase `json:"phase,omitempty"`
	// OpenedBy is the authenticated user who created it.
	// +optional
	OpenedBy string `json:"openedBy,omitempty"`
	// OpenedAt is when it was created.
	// +optional
	OpenedAt *metav1.Time `json:"openedAt,omitempty"`
	// ExpiresAt is when the window closes by itself.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// EndedAt is when it expired or was closed.
	// +optional
	EndedAt *metav1.Time `json:"endedAt,omitempty"`
	// ClosedBy is who closed it ("" when it expired).
	// +optional
	ClosedBy string `json:"closedBy,omitempty"`
	// Targets are the covered objects (the selector resolved when opened)
	// with their divergence report.
	// +optional
	// +listType=atomic
	Targets []BreakGlassTargetStatus `json:"targets,omitempty"`
	// Held lists the targets held because they differ from git, as
	// Kind/name. Never empty while something is held.
	// +optional
	// +listType=atomic
	Held []string `json:"held,omitempty"`
	// HandledRevert is the last revert request acted on.
	// +optional
	HandledRevert string `json:"handledRevert,omitempty"`
	// HandledBackport is the last backport recorded.
	// +optional
	HandledBackport string `json:"handledBackport,omitempty"`
	// Conditions: Active (the window is open) and Holding (targets held).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// BreakGlass lets its opener change the named objects directly, bypassing
// git review, for a limited time and with a recorded reason.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=bg,categories=infraplane
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Opened-By",type=string,JSONPath=`.status.openedBy`
// +kubebuilder:printcolumn:name="Expires",type=string,format=date-time,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Held",type=string,JSONPath=`.status.held`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BreakGlass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec BreakGlassSpec `json:"spec"`
	// +kubebuilder:default={observedGeneration:-1}
	Status BreakGlassStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BreakGlassList is a list of BreakGlass.
type BreakGlassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BreakGlass `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BreakGlass{}, &BreakGlassList{})
}
