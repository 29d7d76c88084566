package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations a person (or `infraplane sync`) sets on a GitSource.
const (
	// RequestSyncAnnotation set to any new value syncs at once.
	RequestSyncAnnotation = "infraplane.dev/requested-at"
	// ConfirmPruneAnnotation set to a revision hash lets a sync of that
	// revision prune what the mass-deletion guard held.
	ConfirmPruneAnnotation = "infraplane.dev/confirm-prune"
	// DeletionProtectionAnnotation set to "true" on a managed object makes
	// pruning it from git need confirmation.
	DeletionProtectionAnnotation = "infraplane.dev/deletion-protection"
	// SourceLabel on an applied object names its GitSource (namespace/name as "ns.name").
	SourceLabel = "infraplane.dev/source"
)

// GitRef selects what to check out: a commit, else a tag, else a branch.
type GitRef struct {
	// Branch to follow. Default "main".
	// +optional
	Branch string `json:"branch,omitempty"`
	// Tag to check out.
	// +optional
	Tag string `json:"tag,omitempty"`
	// Commit (full or abbreviated hash) to check out.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{7,40}$`
	Commit string `json:"commit,omitempty"`
}

// GitSourceSpec says which repository directory to apply, where and how often.
type GitSourceSpec struct {
	// URL of the repository: https://, http://, ssh://, git@host:path,
	// file:// or a local path.
	// +kubebuilder:validation:MinLength=1
	URL string `json:"url"`

	// Ref to check out. Default: branch main.
	// +optional
	Ref GitRef `json:"ref,omitempty"`

	// Path of the directory inside the repository, "." by default. A
	// kustomization there is built with kustomize; otherwise every YAML
	// file under it is applied.
	// +optional
	// +kubebuilder:default="."
	// +kubebuilder:validation:XValidation:rule="!self.contains('..')",message="path must stay inside the repository"
	Path string `json:"path,omitempty"`

	// TargetNamespace receives every object. Default: this GitSource's
	// namespace, and only a GitSource in the platform namespace may name
	// another one. A manifest naming another namespace is refused.
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// Interval between syncs. A push shows up within it, or at once through
	// POST /hooks/git or `infraplane sync`.
	// +optional
	// +kubebuilder:default="1m"
	Interval metav1.Duration `json:"interval,omitempty"`

	// Suspend stops syncing; nothing is applied or pruned.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Prune deletes objects that left git (each per its deletionPolicy).
	// +optional
	// +kubebuilder:default=true
	Prune *bool `json:"prune,omitempty"`

	// MaxPrunePercent is the mass-deletion guard: a commit that would prune
	// more than this share of the applied objects is held until confirmed
	// (annotation infraplane.dev/confirm-prune: <revision hash>).
	// +optional
	// +kubebuilder:default=25
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxPrunePercent int32 `json:"maxPrunePercent,omitempty"`

	// SecretRef names a Secret in this namespace with credentials: username
	// and password, or bearerToken (HTTPS); identity (a private key) and
	// known_hosts (SSH).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// ServiceAccountName is the ServiceAccount of this namespace the syncer
	// applies, prunes and dry-runs as (impersonation): its RBAC decides what
	// the repository may create. Default: the controller's
	// --default-service-account; with neither, the sync is refused.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// WebhookSecretRef names a Secret in this namespace whose key "token"
	// authenticates push notifications for this GitSource: GitHub's
	// X-Hub-Signature-256 (an HMAC of the body with the token), GitLab's
	// X-Gitlab-Token, or "Authorization: Bearer <token>". They are sent to
	// this GitSource's own path, status.webhookPath (or to the shared POST
	// /hooks/git). Without it, pushes never trigger this GitSource (the
	// interval and `infraplane sync` still do).
	// +optional
	WebhookSecretRef *LocalObjectReference `json:"webhookSecretRef,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the object.
	Name string `json:"name"`
}

// ObjectRef identifies one applied object.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// File is where the object's manifest is, relative to the
	// repository's root, and Line the line its document starts on (both
	// empty when the renderer does not say, e.g. a kustomize generator).
	// +optional
	File string `json:"file,omitempty"`
	// +optional
	Line int32 `json:"line,omitempty"`
}

// SyncRecord is one sync attempt, for the history.
type SyncRecord struct {
	// Revision is "ref@sha1:hash".
	Revision string `json:"revision"`
	// Author of the commit.
	// +optional
	Author string `json:"author,omitempty"`
	// Message is the commit message's first line.
	// +optional
	Message string `json:"message,omitempty"`
	// Time of the sync.
	Time metav1.Time `json:"time"`
	// Result is Applied, Failed or Held.
	Result string `json:"result"`
	// Created, Configured, Unchanged and Pruned count objects.
	// +optional
	Created int `json:"created,omitempty"`
	// +optional
	Configured int `json:"configured,omitempty"`
	// +optional
	Unchanged int `json:"unchanged,omitempty"`
	// +optional
	Pruned int `json:"pruned,omitempty"`
	// Duration of the sync.
	// +optional
	Duration string `json:"duration,omitempty"`
	// Error, when the sync failed or was held.
	// +optional
	Error string `json:"error,omitempty"`
}

// GitSourceStatus reports what was applied.
type GitSourceStatus struct {
	// Conditions: Ready (the last sync applied the revision), PruneHeld
	// (the mass-deletion guard waits for confirmation), and PushHook (with
	// spec.webhookSecretRef: whether status.webhookPath is usable; it does
	// not affect Ready).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the spec generation last synced.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastAppliedRevision is the revision last applied in full.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// LastAttemptedRevision is the revision of the last sync attempt.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// LastHandledRequest is the requested-at annotation value last acted on.
	// +optional
	LastHandledRequest string `json:"lastHandledRequest,omitempty"`

	// WebhookPath is this GitSource's own push-hook path
	// ("/hooks/git/<id>"): configure the git host's webhook with it. The id
	// is a keyed hash of the namespace, the name and the webhook token, so
	// it cannot be guessed from the names and changes when the token does;
	// it is not the token (requests must still carry it). Empty without a
	// usable webhook token (the PushHook condition says why).
	// +optional
	WebhookPath string `json:"webhookPath,omitempty"`

	// Inventory lists the objects applied from git (what pruning compares against).
	// +optional
	// +listType=atomic
	Inventory []ObjectRef `json:"inventory,omitempty"`

	// HeldPrune lists what the mass-deletion guard keeps from being pruned.
	// +optional
	// +listType=atomic
	HeldPrune []ObjectRef `json:"heldPrune,omitempty"`

	// History holds the last syncs, newest first.
	// +optional
	// +listType=atomic
	History []SyncRecord `json:"history,omitempty"`
}

// GitSource applies a directory of a git repository to a namespace and
// keeps it applied: the GitOps syncer.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=infraplane,shortName=gs
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="REVISION",type=string,JSONPath=`.status.lastAppliedRevision`
// +kubebuilder:printcolumn:name="STATUS",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type GitSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec GitSourceSpec `json:"spec"`
	// +kubebuilder:default={observedGeneration:-1}
	Status GitSourceStatus `json:"status,omitempty"`
}

// GitSourceList is a list of GitSources.
// +kubebuilder:object:root=true
type GitSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitSource `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GitSource{}, &GitSourceList{})
}
