// Package plan computes what merging a directory of manifests would do:
// the Kubernetes changes (from a server-side dry run against the live
// cluster) and the cloud changes (each kind's observe and diff: read-only
// calls only — a plan never writes, not even to Kubernetes).
package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// Kubernetes actions.
const (
	KubeCreate    = "create"
	KubeUpdate    = "update"
	KubeDelete    = "delete"
	KubeUnchanged = "unchanged"
)

// FieldChange is one field that changes, old and new rendered as JSON.
type FieldChange struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// KubeChange is what happens to the Kubernetes object.
type KubeChange struct {
	Action string        `json:"action"`
	Fields []FieldChange `json:"fields,omitempty"`
}

// Change is one object's plan.
type Change struct {
	Object string             `json:"object"` // Kind/name
	Source string             `json:"source,omitempty"`
	Kube   KubeChange         `json:"kubernetes"`
	Cloud  *managed.CloudPlan `json:"cloud,omitempty"`
	// Note says what the plan does not show (a Blueprint's fleet).
	Note string `json:"note,omitempty"`
}

// Destructive reports whether the change deletes or replaces something.
func (c Change) Destructive() bool { return c.Cloud != nil && c.Cloud.Destructive }

// Result is a whole plan.
type Result struct {
	Namespace string          `json:"namespace"`
	Source    string          `json:"gitSource,omitempty"`
	Changes   []Change        `json:"changes"`
	Problems  gitops.Problems `json:"problems,omitempty"`
}

// HasChanges reports whether merging would change anything.
func (r *Result) HasChanges() bool {
	for _, c := range r.Changes {
		if c.Kube.Action != KubeUnchanged {
			return true
		}
		if c.Cloud != nil && c.Cloud.Action != managed.PlanNone && c.Cloud.Action != managed.PlanObserve {
			return true
		}
	}
	return false
}

// Options say what to plan.
type Options struct {
	// Dir is the directory of manifests (plain YAML or kustomize).
	Dir string
	// Namespace the manifests go to.
	Namespace string
	// Source is the GitSource whose inventory tells what merging would
	// delete; "" means the only GitSource in the namespace, if there is one.
	Source string
	// RefKinds as for gitops.Check.
	RefKinds map[string]schema.GroupVersionKind
	// Platform says Namespace is the platform namespace, whose GitSources
	// may also apply Blueprints; a Namespace of
	// gitops.DefaultPlatformNamespace implies it.
	Platform bool
}

// planWorkers is how many objects are planned at once. A plan waits on
// round trips (a dry run each, a cloud read each): 16 planned 1,000
// objects in 2.7 s where 8 took 3.4 s on a loaded 2-core machine
// (docs/benchmarks.md, issue 17).
const planWorkers = 16

// Planner computes plans.
type Planner struct {
	Client client.Client
	Kinds  []managed.Planner
}

// Plan computes the plan of opts.Dir. Problems that would stop the syncer
// from applying anything are returned in Result.Problems (and no changes).
func (p *Planner) Plan(ctx context.Context, opts Options) (*Result, error) {
	res := &Result{Namespace: opts.Namespace}
	objs, err := gitops.Render(gitops.RepoRoot(opts.Dir), opts.Dir)
	if err != nil {
		return nil, err
	}
	mapper := p.Client.RESTMapper()
	res.Problems = gitops.Check(objs, gitops.CheckOptions{
		TargetNamespace: opts.Namespace,
		Namespaced: func(gvk schema.GroupVersionKind) (bool, error) {
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return false, err
			}
			return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
		},
		Exists: func(kind, name string) bool {
			gvk, ok := opts.RefKinds[kind]
			if !ok {
				return false
			}
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			return p.Client.Get(ctx, client.ObjectKey{Namespace: opts.Namespace, Name: name}, u) == nil
		},
		RefKinds: slices.Sorted(maps.Keys(opts.RefKinds)),
		Platform: opts.Platform || opts.Namespace == gitops.DefaultPlatformNamespace,
	})
	if len(res.Problems) > 0 {
		return res, nil
	}

	// Dry-run every object: the server applies defaults, validation and
	// admission exactly as for the real apply, and persists nothing.
	type planned struct {
		obj   gitops.Object
		dry   *unstructured.Unstructured
		live  *unstructured.Unstructured
		typed managed.Object
	}
	// The live objects: a list per kind the directory holds many of, a
	// read each for the others.
	listed := liveObjects(ctx, p.Client, objs, opts.Namespace)
	// Each object costs a few round trips (read, dry run, cloud read): do
	// several at once.
	all := make([]planned, len(objs))
	problems := make([][]gitops.Problem, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(planWorkers)
	for i, o := range objs {
		g.Go(func() error {
			u := o.DeepCopy()
			u.SetNamespace(opts.Namespace)
			if gitops.PlatformClusterScoped(u.GroupVersionKind()) {
				u.SetNamespace("") // Check let it through: a platform source's Blueprint
			}
			var live *unstructured.Unstructured
			if byName, listed := listed[u.GroupVersionKind()]; listed {
				live = byName[u.GetName()] // nil: not there
			} else {
				live = &unstructured.Unstructured{}
				live.SetGroupVersionKind(u.GroupVersionKind())
				if err := p.Client.Get(gctx, client.ObjectKeyFromObject(u), live); err != nil {
					if !apierrors.IsNotFound(err) {
						return err
					}
					live = nil
				}
			}
			dry := u.DeepCopy()
			//nolint:staticcheck // unstructured server-side apply, dry run
			if err := p.Client.Patch(gctx, dry, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner(gitops.FieldManager)); err != nil {
				problems[i] = gitops.ProblemsFromAPIError(o, err)
				return nil
			}
			pl := planned{obj: o, dry: dry, live: live}
			if k := p.kindOf(u.GroupVersionKind()); k != nil {
				typed := k.NewObject()
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(dry.Object, typed); err != nil {
					return fmt.Errorf("%s: %w", o.ID(), err)
				}
				pl.typed = typed
			}
			all[i] = pl
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, ps := range problems {
		res.Problems = append(res.Problems, ps...)
	}
	if len(res.Problems) > 0 {
		return res, nil
	}
	pending := map[string]managed.Object{}
	for _, pl := range all {
		if pl.typed != nil {
			pending[pl.dry.GetKind()+"/"+pl.dry.GetName()] = pl.typed
		}
	}

	providers := provider.NewResolver(newMemoReader(p.Client), provider.Options{})
	env := managed.PlanEnv{Reader: p.Client, Providers: providers, Pending: func(kind, name string) managed.Object {
		return pending[kind+"/"+name]
	}}
	changes := make([]Change, len(all))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(planWorkers)
	for i, pl := range all {
		g.Go(func() error {
			ch := Change{Object: pl.obj.ID(), Source: pl.obj.Source.String(), Kube: kubeChange(pl.live, pl.dry)}
			if gitops.PlatformClusterScoped(pl.dry.GroupVersionKind()) && ch.Kube.Action != KubeUnchanged {
				ch.Note = fleetNote(opts.Dir)
			}
			if pl.typed != nil {
				k := p.kindOf(pl.dry.GroupVersionKind())
				cp := k.Plan(gctx, pl.typed, env)
				ch.Cloud = &cp
			}
			changes[i] = ch
			return nil
		})
	}
	_ = g.Wait()
	res.Changes = changes

	deletes, source, err := p.deletions(ctx, opts, objs, env)
	if err != nil {
		return nil, err
	}
	res.Source = source
	res.Changes = append(res.Changes, deletes...)
	sort.SliceStable(res.Changes, func(i, j int) bool { return res.Changes[i].Object < res.Changes[j].Object })
	return res, nil
}

// deletions are the objects the GitSource applied that the manifests no
// longer contain.
func (p *Planner) deletions(ctx context.Context, opts Options, objs []gitops.Object, env managed.PlanEnv) ([]Change, string, error) {
	var gs corev1alpha1.GitSource
	switch {
	case opts.Source != "":
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: opts.Namespace, Name: opts.Source}, &gs); err != nil {
			return nil, "", fmt.Errorf("GitSource %s/%s: %w", opts.Namespace, opts.Source, err)
		}
	default:
		var list corev1alpha1.GitSourceList
		if err := p.Client.List(ctx, &list, client.InNamespace(opts.Namespace)); err != nil {
			return nil, "", err
		}
		if len(list.Items) != 1 {
			return nil, "", nil // nothing to compare with: no deletions planned
		}
		gs = list.Items[0]
	}
	keep := map[string]bool{}
	for _, o := range objs {
		keep[o.GetKind()+"/"+o.GetName()] = true
	}
	var out []Change
	for _, r := range gs.Status.Inventory {
		if keep[r.Kind+"/"+r.Name] {
			continue
		}
		ch := Change{Object: r.Kind + "/" + r.Name, Kube: KubeChange{Action: KubeDelete}}
		if gitops.PlatformClusterScoped(schema.FromAPIVersionAndKind(r.APIVersion, r.Kind)) {
			ch.Note = "a Blueprint with instances is pruned only once they are gone"
		}
		if k := p.kindOf(schema.FromAPIVersionAndKind(r.APIVersion, r.Kind)); k != nil {
			live := k.NewObject()
			if err := p.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, live); err == nil {
				cp := k.PlanDelete(ctx, live, env)
				ch.Cloud = &cp
			}
		}
		out = append(out, ch)
	}
	return out, gs.Name, nil
}

// fleetNote points at what a Blueprint change does to its instances,
// which a plan of the Blueprint object alone does not show.
func fleetNote(dir string) string {
	return "its instances: infraplane fleet plan " + dir
}

func (p *Planner) kindOf(gvk schema.GroupVersionKind) managed.Planner {
	for _, k := range p.Kinds {
		if k.GroupKind() == gvk.GroupKind() {
			return k
		}
	}
	return nil
}

// KubeDiff diffs a live object (nil: none) and a dry-run result on what a
// person writes: spec, labels and annotations.
func KubeDiff(live, dry *unstructured.Unstructured) KubeChange { return kubeChange(live, dry) }

// kubeChange diffs the live object and the dry-run result on what a person
// writes: spec, labels and annotations.
func kubeChange(live, dry *unstructured.Unstructured) KubeChange {
	if live == nil {
		return KubeChange{Action: KubeCreate, Fields: fieldChanges(nil, userFields(dry))}
	}
	fields := fieldChanges(userFields(live), userFields(dry))
	if len(fields) == 0 {
		return KubeChange{Action: KubeUnchanged}
	}
	return KubeChange{Action: KubeUpdate, Fields: fields}
}

func userFields(u *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	if spec, ok := u.Object["spec"].(map[string]any); ok {
		flatten("spec", spec, out)
	}
	for k, v := range u.GetLabels() {
		if k != corev1alpha1.SourceLabel {
			out["metadata.labels."+k] = jsonString(v)
		}
	}
	for k, v := range u.GetAnnotations() {
		if !strings.HasPrefix(k, "kubectl.kubernetes.io/") {
			out["metadata.annotations."+k] = jsonString(v)
		}
	}
	return out
}

func flatten(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			out[prefix] = "{}"
		}
		for k, child := range t {
			flatten(prefix+"."+k, child, out)
		}
	default:
		out[prefix] = jsonString(t)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func fieldChanges(old, cur map[string]string) []FieldChange {
	var out []FieldChange
	for k, v := range cur {
		if old[k] != v {
			out = append(out, FieldChange{Path: k, Old: old[k], New: v})
		}
	}
	for k, v := range old {
		if _, ok := cur[k]; !ok {
			out = append(out, FieldChange{Path: k, Old: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
