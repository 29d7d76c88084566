package blueprint

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/plan"
)

// FleetChange is one change to the children of a Blueprint's instances,
// the same in Instances of them.
type FleetChange struct {
	Resource string `json:"resource"` // the resource id
	Kind     string `json:"kind"`
	// Action is create, update or delete (of the child).
	Action string `json:"action"`
	// Path, Old and New are a field's change (update only; JSON values).
	Path      string `json:"path,omitempty"`
	Old       string `json:"old,omitempty"`
	New       string `json:"new,omitempty"`
	Instances int    `json:"instances"`
	// Example is one instance it happens to (namespace/name).
	Example string `json:"example"`
}

// FleetPlan is what applying a Blueprint would do to the fleet: the
// children's changes, counted over the instances, and the instances that
// would fail on the new revision (and halt its rollout).
type FleetPlan struct {
	Blueprint string `json:"blueprint"`
	Kind      string `json:"kind"`
	// New: the Blueprint does not exist yet. NewRevision: it exists and
	// the change makes a new revision (of LatestRevision+1).
	New            bool  `json:"new,omitempty"`
	NewRevision    bool  `json:"newRevision"`
	LatestRevision int64 `json:"latestRevision,omitempty"`
	Instances      int   `json:"instances"`
	// Affected counts the instances with at least one change.
	Affected int           `json:"affected"`
	Changes  []FleetChange `json:"changes,omitempty"`
	// Failed counts the instances whose children would not render or
	// would be refused; Failures lists up to ten.
	Failed   int                            `json:"failed,omitempty"`
	Failures []corev1alpha1.InstanceFailure `json:"failures,omitempty"`
	// Rollout says how the revision would reach the instances.
	Rollout string `json:"rollout,omitempty"`
}

// HasChanges reports whether applying the Blueprint changes anything.
func (p *FleetPlan) HasChanges() bool { return p.New || p.NewRevision }

// PlanFleet renders a Blueprint for every live instance of its kind and
// dry-runs the children (server-side, as the instance controller applies
// them), comparing them with the live children. It writes nothing; a
// Blueprint that does not compile is an error (Errors).
func PlanFleet(ctx context.Context, c client.Client, bp *corev1alpha1.Blueprint) (*FleetPlan, error) {
	compiled, err := Compile(bp)
	if err != nil {
		return nil, err
	}
	p := &FleetPlan{Blueprint: bp.Name, Kind: bp.Spec.Kind, Rollout: describeRollout(settingsOf(bp.Spec.Rollout))}
	live := &corev1alpha1.Blueprint{}
	if err := c.Get(ctx, client.ObjectKey{Name: bp.Name}, live); apierrors.IsNotFound(err) {
		p.New = true
		return p, nil
	} else if err != nil {
		return nil, err
	}
	p.LatestRevision = live.Status.LatestRevision
	oldHash, err := revisionHash(live.Spec)
	if err != nil {
		return nil, err
	}
	newHash, err := revisionHash(bp.Spec)
	if err != nil {
		return nil, err
	}
	p.NewRevision = oldHash != newHash
	if !p.NewRevision {
		return p, nil
	}
	revs, err := listRevisions(ctx, c, bp.Name)
	if err != nil {
		return nil, err
	}
	if err := checkSchemaKeepsRevisions(bp, revs, inUseCounts(live.Status)); err != nil {
		return nil, err
	}
	if live.Spec.GroupVersionKind() != compiled.GVK {
		return nil, fmt.Errorf("Blueprint %s: group, version and kind cannot change (from %s to %s): create a new Blueprint", bp.Name, live.Spec.GroupVersionKind(), compiled.GVK)
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(compiled.GVK.GroupVersion().WithKind(compiled.GVK.Kind + "List"))
	if err := c.List(ctx, list); err != nil && !meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("listing %s instances: %w", compiled.GVK.Kind, err)
	}
	slices.SortFunc(list.Items, func(a, b unstructured.Unstructured) int {
		return cmp.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
	})
	byKey := map[FleetChange]*FleetChange{}
	add := func(fc FleetChange, inst string) {
		key := fc
		if e := byKey[key]; e != nil {
			e.Instances++
			return
		}
		fc.Instances, fc.Example = 1, inst
		byKey[key] = &fc
	}
	p.Instances = len(list.Items)
	for i := range list.Items {
		inst := &list.Items[i]
		name := inst.GetNamespace() + "/" + inst.GetName()
		changes, err := planInstance(ctx, c, compiled, inst)
		if err != nil {
			p.Failed++
			if len(p.Failures) < maxFailures {
				p.Failures = append(p.Failures, corev1alpha1.InstanceFailure{Namespace: inst.GetNamespace(), Name: inst.GetName(), Message: err.Error()})
			}
			continue
		}
		if len(changes) > 0 {
			p.Affected++
		}
		for _, fc := range changes {
			add(fc, name)
		}
	}
	for _, fc := range byKey {
		p.Changes = append(p.Changes, *fc)
	}
	slices.SortFunc(p.Changes, func(a, b FleetChange) int {
		return cmp.Or(cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Action, b.Action), cmp.Compare(a.Path, b.Path), cmp.Compare(a.New, b.New))
	})
	return p, nil
}

// planInstance is what the compiled Blueprint would change in one
// instance's children.
func planInstance(ctx context.Context, c client.Client, compiled *Compiled, inst *unstructured.Unstructured) ([]FleetChange, error) {
	live, err := liveChildren(ctx, c, inst)
	if err != nil {
		return nil, err
	}
	in := Instance{Object: inst, Resources: map[string]map[string]any{}}
	for id, o := range live {
		in.Resources[id] = o.Object
	}
	var out []FleetChange
	for _, res := range compiled.Resources {
		include, err := compiled.Include(res, in)
		if err != nil {
			return nil, fmt.Errorf("resource %s: includeWhen: %w", res.ID, err)
		}
		old := live[res.ID]
		if !include {
			if old != nil {
				out = append(out, FleetChange{Resource: res.ID, Kind: old.GetKind(), Action: plan.KubeDelete})
			}
			continue
		}
		if slices.ContainsFunc(res.DependsOn, func(d string) bool { return in.Resources[d] == nil }) {
			// It waits for a child that is not made yet: made later.
			out = append(out, FleetChange{Resource: res.ID, Kind: res.GVK.Kind, Action: plan.KubeCreate})
			continue
		}
		child, err := compiled.Render(res, in)
		if err != nil {
			return nil, fmt.Errorf("resource %s: rendering: %w", res.ID, err)
		}
		ownChild(inst, res, child)
		stampRendered(child)
		dry := child.DeepCopy()
		//nolint:staticcheck // server-side apply of an unstructured object
		if err := c.Patch(ctx, dry, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
			return nil, fmt.Errorf("resource %s (%s %s): the API server would refuse it: %w", res.ID, child.GetKind(), child.GetName(), err)
		}
		in.Resources[res.ID] = dry.Object
		if old != nil && (old.GetName() != child.GetName() || old.GroupVersionKind() != child.GroupVersionKind()) {
			out = append(out, FleetChange{Resource: res.ID, Kind: old.GetKind(), Action: plan.KubeDelete},
				FleetChange{Resource: res.ID, Kind: child.GetKind(), Action: plan.KubeCreate})
			continue
		}
		kc := plan.KubeDiff(old, dry)
		switch kc.Action {
		case plan.KubeCreate:
			out = append(out, FleetChange{Resource: res.ID, Kind: child.GetKind(), Action: plan.KubeCreate})
		case plan.KubeUpdate:
			for _, f := range kc.Fields {
				if f.Path == "metadata.annotations."+RenderedHashAnnotation {
					continue // changes with every change
				}
				out = append(out, FleetChange{Resource: res.ID, Kind: child.GetKind(), Action: plan.KubeUpdate, Path: f.Path, Old: f.Old, New: f.New})
			}
		}
	}
	for id, old := range live {
		if compiled.Resource(id) == nil {
			out = append(out, FleetChange{Resource: id, Kind: old.GetKind(), Action: plan.KubeDelete})
		}
	}
	return out, nil
}

// liveChildren reads the children an instance's status lists, by id (those
// that exist).
func liveChildren(ctx context.Context, c client.Reader, inst *unstructured.Unstructured) (map[string]*unstructured.Unstructured, error) {
	out := map[string]*unstructured.Unstructured{}
	for id, cs := range previousChildren(inst) {
		gvk, ok := childKey(cs)
		if !ok {
			continue
		}
		o := &unstructured.Unstructured{}
		o.SetGroupVersionKind(gvk)
		err := c.Get(ctx, client.ObjectKey{Namespace: inst.GetNamespace(), Name: cs.Name}, o)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = o
	}
	return out, nil
}

func describeRollout(s rolloutSettings) string {
	if s.paused {
		return "paused: no instance moves until spec.rollout.paused is false"
	}
	out := fmt.Sprintf("%d canary instance(s) first, then %s of the instances at a time", s.canary, s.batch.String())
	if s.canary == 0 {
		out = fmt.Sprintf("%s of the instances at a time", s.batch.String())
	}
	if s.maxFailedNamespaces > 0 {
		return out + fmt.Sprintf("; failures, or instances not Ready within %s, in more than %d namespace(s) halt it", s.deadline, s.maxFailedNamespaces)
	}
	return out + fmt.Sprintf("; a failure, or an instance not Ready within %s, halts it", s.deadline)
}

// WriteFleetPlan prints fleet plans for a pull request or a terminal.
func WriteFleetPlan(w io.Writer, plans []*FleetPlan) {
	for i, p := range plans {
		if i > 0 {
			fmt.Fprintln(w)
		}
		switch {
		case p.New:
			fmt.Fprintf(w, "Blueprint %s (%s): new; it defines the kind and has no instances yet\n", p.Blueprint, p.Kind)
			continue
		case !p.NewRevision:
			fmt.Fprintf(w, "Blueprint %s (%s): no change to what it renders (revision %d stays)\n", p.Blueprint, p.Kind, p.LatestRevision)
			continue
		}
		fmt.Fprintf(w, "Blueprint %s (%s): revision %d → %d; %d of %d instance(s) change", p.Blueprint, p.Kind, p.LatestRevision, p.LatestRevision+1, p.Affected, p.Instances)
		if p.Failed > 0 {
			fmt.Fprintf(w, ", %d would FAIL", p.Failed)
		}
		fmt.Fprintf(w, "\n  rollout: %s\n", p.Rollout)
		if len(p.Changes) > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  RESOURCE\tKIND\tACTION\tFIELD\tFROM\tTO\tINSTANCES\tE.G.")
			for _, c := range p.Changes {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Resource, c.Kind, c.Action, orDash(c.Path), orDash(truncate(c.Old, 40)), orDash(truncate(c.New, 40)), c.Instances, c.Example)
			}
			tw.Flush()
		}
		for _, f := range p.Failures {
			fmt.Fprintf(w, "  FAIL %s/%s: %s\n", f.Namespace, f.Name, f.Message)
		}
		if p.Failed > len(p.Failures) {
			fmt.Fprintf(w, "  … and %d more\n", p.Failed-len(p.Failures))
		}
	}
}
