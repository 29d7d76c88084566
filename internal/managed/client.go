package managed

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
)

// Object is a Kubernetes object that manages one cloud resource.
type Object interface {
	client.Object
	ManagedSpec() *commonv1.ManagedSpec
	ManagedStatus() *commonv1.ManagedStatus
}

// Observation is what a kind's client read from the cloud.
type Observation struct {
	// Exists is false when the cloud resource is not there.
	Exists bool
	// Owner is the value of the ownership label on the cloud resource, ""
	// when it has none (see OwnerLabelKey).
	Owner string
	// Diff lists the fields whose cloud value differs from the spec.
	// Empty means in sync. Fields the spec leaves unset are not compared.
	Diff []FieldDiff
}

// FieldDiff is one field that differs between the spec and the cloud.
type FieldDiff struct {
	// Field is the spec path, e.g. "spec.ackDeadlineSeconds".
	Field string
	// Desired and Actual are short human-readable renderings of the values.
	Desired, Actual string
	// Immutable is true when the cloud API cannot change this field in place.
	Immutable bool
	// Blocked, when set, says why the reconciler must not make this change
	// although the cloud could (it would destroy data the object never
	// claimed), and what a person can do. Like an immutable field it is
	// reported in status.drift and the Synced and Drifted conditions, with
	// this text, and never passed to Update.
	Blocked string `json:",omitempty"`
	// LowersProtection marks a change that would weaken the resource's
	// protection (turn deletion protection off). The reconciler does not
	// make it on a resource this object adopted until the spec changed
	// after the adoption: adopting must not be a way to disarm what
	// someone else protected.
	LowersProtection bool `json:",omitempty"`
}

// ExternalClient reads and writes one kind of cloud resource. It is bound
// to one object's environment (provider, resolved references) by a
// Connector for the length of one reconcile.
//
// Observe, Create and Update may fill in the kind's status.observed (from
// what the cloud returned) and other kind-specific status fields; the
// reconciler persists them.
type ExternalClient[T Object] interface {
	// Name is the full cloud name of the resource, e.g.
	// "projects/p/topics/t"; it becomes status.selfLink.
	Name() string
	// Observe reads the cloud resource and diffs it against the spec.
	Observe(ctx context.Context, obj T) (Observation, error)
	// Create creates the cloud resource from the spec, labelled with
	// env.OwnerLabel. It returns an error with codes.AlreadyExists when the
	// resource is already there, and one wrapped with CreateAccepted when
	// it failed after the cloud accepted the create.
	Create(ctx context.Context, obj T) error
	// Update changes the fields in diff (never immutable ones), sending only
	// those fields in the update mask.
	Update(ctx context.Context, obj T, diff []FieldDiff) error
	// Delete deletes the cloud resource; a missing resource is not an error.
	Delete(ctx context.Context, obj T) error
}

// Env is what a Connector needs to bind a client to one object.
type Env struct {
	// Provider is the resolved ProviderConfig of the object's namespace.
	Provider *provider.Config
	// ResourceID is the cloud id: spec.resourceID or metadata.name.
	ResourceID string
	// Owner is the value of the ownership label this object writes.
	Owner string
	// Refs maps a reference field (e.g. "spec.topicRef") to the full
	// cloud name it resolved to.
	Refs map[string]string
}

// Connector binds an ExternalClient to one object. Implementations cache
// cloud SDK clients per provider: Connect is called on every reconcile.
type Connector[T Object] interface {
	Connect(ctx context.Context, obj T, env Env) (ExternalClient[T], error)
}

// ConnectorFunc adapts a function to a Connector.
type ConnectorFunc[T Object] func(ctx context.Context, obj T, env Env) (ExternalClient[T], error)

// Connect calls f.
func (f ConnectorFunc[T]) Connect(ctx context.Context, obj T, env Env) (ExternalClient[T], error) {
	return f(ctx, obj, env)
}
