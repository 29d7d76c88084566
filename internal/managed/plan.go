package managed

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	"github.com/infraplane/infraplane/internal/provider"
)

// Cloud plan actions.
const (
	PlanCreate    = "create"
	PlanUpdate    = "update"
	PlanDelete    = "delete"
	PlanNone      = "none"
	PlanBlocked   = "blocked"   // the controller would refuse (not ours, immutable field)
	PlanObserve   = "observe"   // ObserveOnly or Abandon: nothing written
	PlanUndecided = "undecided" // the cloud could not be read
)

// CloudPlan is what the controller would do in the cloud for one object.
type CloudPlan struct {
	Action   string      `json:"action"`
	Resource string      `json:"resource,omitempty"`
	Fields   []FieldDiff `json:"fields,omitempty"`
	// Destructive is true for deletes and for changes the cloud can only
	// make by replacing the resource.
	Destructive bool   `json:"destructive,omitempty"`
	Note        string `json:"note,omitempty"`
}

// PlanEnv is what planning needs beyond the object itself.
type PlanEnv struct {
	Reader    client.Reader
	Providers *provider.Resolver
	// Pending returns an object of kind with name that the plan would
	// create or change (it exists only in the manifests), or nil.
	Pending func(kind, name string) Object
}

// Planner plans the cloud side of one kind; it only reads the cloud.
type Planner interface {
	GroupKind() schema.GroupKind
	// New returns an empty object of the kind (for converting manifests).
	NewObject() Object
	Plan(ctx context.Context, obj Object, env PlanEnv) CloudPlan
	PlanDelete(ctx context.Context, obj Object, env PlanEnv) CloudPlan
}

// Planner returns the kind's planner. gk is the kind's group and kind.
func (k Kind[T]) Planner(gk schema.GroupKind) Planner { return kindPlanner[T]{k: k, gk: gk} }

type kindPlanner[T Object] struct {
	k  Kind[T]
	gk schema.GroupKind
}

func (p kindPlanner[T]) GroupKind() schema.GroupKind { return p.gk }
func (p kindPlanner[T]) NewObject() Object           { return p.k.New() }

func (p kindPlanner[T]) connect(ctx context.Context, obj T, env PlanEnv) (ExternalClient[T], *provider.Config, error) {
	prov, err := env.Providers.ForNamespace(ctx, obj.GetNamespace())
	if err != nil {
		return nil, nil, err
	}
	refs := map[string]string{}
	if p.k.References != nil {
		for _, r := range p.k.References(obj) {
			name, err := resolveForPlan(ctx, env, obj.GetNamespace(), prov.ProjectID, r)
			if err != nil {
				return nil, nil, err
			}
			refs[r.Field] = name
		}
	}
	ext, err := p.k.Connector.Connect(ctx, obj, Env{Provider: prov, ResourceID: resourceID(obj), Owner: OwnerValue(obj.GetNamespace(), obj.GetName()), Refs: refs})
	if err != nil {
		return nil, nil, err
	}
	// What the controller would refuse, the plan says before any cloud read.
	var all []Reference
	if p.k.References != nil {
		all = p.k.References(obj)
	}
	if err := confine(prov, ext.Name(), all, refs); err != nil {
		return nil, nil, err
	}
	return ext, prov, nil
}

// resolveForPlan resolves a reference the way the controller will once its
// target is Ready: to the target's selfLink, or, for a target that the plan
// creates, to the name it will have.
func resolveForPlan(ctx context.Context, env PlanEnv, ns, project string, r Reference) (string, error) {
	if r.Ref.External != "" {
		return r.Ref.External, nil
	}
	if t := env.Pending(r.Target.Kind, r.Ref.Name); t != nil {
		return r.Target.CloudName(project, resourceID(t)), nil
	}
	t := r.Target.New()
	err := env.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: r.Ref.Name}, t)
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%s refers to %s %q, which exists neither in the manifests nor in namespace %q", r.Field, r.Target.Kind, r.Ref.Name, ns)
	}
	if err != nil {
		return "", err
	}
	if l := t.ManagedStatus().SelfLink; l != "" {
		return l, nil
	}
	return r.Target.CloudName(project, resourceID(t)), nil
}

func (p kindPlanner[T]) Plan(ctx context.Context, o Object, env PlanEnv) CloudPlan {
	obj := o.(T)
	spec := obj.ManagedSpec()
	ext, _, err := p.connect(ctx, obj, env)
	if err != nil {
		return CloudPlan{Action: PlanUndecided, Note: err.Error()}
	}
	cp := CloudPlan{Resource: ext.Name()}
	if obj.GetAnnotations()[PausedAnnotation] == "true" {
		cp.Action, cp.Note = PlanObserve, "paused: the controller only observes"
		return cp
	}
	obs, err := ext.Observe(ctx, obj)
	if err != nil {
		cp.Action, cp.Note = PlanUndecided, "reading the cloud failed: "+CloudMessage(err)
		return cp
	}
	observeOnly := spec.ManagementPolicy == commonv1.ManagementObserveOnly
	if !obs.Exists {
		if observeOnly {
			cp.Action, cp.Note = PlanObserve, "does not exist; ObserveOnly never creates it"
			return cp
		}
		cp.Action = PlanCreate
		return cp
	}
	if !observeOnly && obj.ManagedStatus().ResourceID == "" {
		switch decideAdoption(obs.Owner, OwnerValue(obj.GetNamespace(), obj.GetName()), spec.Adopt) {
		case adoptConflict:
			cp.Action, cp.Note = PlanBlocked, fmt.Sprintf("exists and belongs to another object (%s=%s)", OwnerLabelKey, obs.Owner)
			return cp
		case adoptRefused:
			cp.Action, cp.Note = PlanBlocked, "exists and is not owned by this object; set spec.adopt: true to manage it"
			return cp
		case adoptAllowed:
			cp.Note = "adopts the existing resource (spec.adopt)"
		}
	}
	if len(obs.Diff) == 0 {
		cp.Action = PlanNone
		return cp
	}
	cp.Fields = obs.Diff
	if observeOnly {
		cp.Action, cp.Note = PlanObserve, "differs, but ObserveOnly never writes"
		return cp
	}
	cp.Action = PlanUpdate
	for _, d := range obs.Diff {
		switch {
		case d.Blocked != "":
			cp.Action = PlanBlocked
			cp.Note = fmt.Sprintf("%s is not applied: %s", d.Field, d.Blocked)
		case d.Immutable:
			cp.Action, cp.Destructive = PlanBlocked, true
			cp.Note = fmt.Sprintf("%s cannot change in place: the resource would have to be replaced (delete and create under a new name)", d.Field)
		}
	}
	return cp
}

func (p kindPlanner[T]) PlanDelete(ctx context.Context, o Object, env PlanEnv) CloudPlan {
	obj := o.(T)
	spec, st := obj.ManagedSpec(), obj.ManagedStatus()
	cp := CloudPlan{Resource: st.SelfLink}
	switch {
	case st.ResourceID == "":
		cp.Action, cp.Note = PlanNone, "the object never owned a cloud resource"
	case spec.ManagementPolicy == commonv1.ManagementObserveOnly:
		cp.Action, cp.Note = PlanObserve, "ObserveOnly: the cloud resource stays"
	case spec.DeletionPolicy == commonv1.DeletionAbandon:
		cp.Action, cp.Note = PlanObserve, "deletionPolicy Abandon: the cloud resource stays"
	default:
		cp.Action, cp.Destructive = PlanDelete, true
	}
	return cp
}
