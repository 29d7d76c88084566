package status

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Blueprint instances. A Blueprint defines a kind at run time (a Queue, in
// any group); each instance owns children (Topics, a Subscription, maybe
// a ConfigMap) that carry a controller owner reference to it and the label
// infraplane.dev/blueprint-instance. An instance's status has a Ready
// condition (and Paused under a break-glass), the revision it rendered,
// and resources[]: {id, apiVersion, kind, name, ready, message}, one per
// child, in dependency order. Status shows an instance like a managed
// object, with its children under it, and follows its blocking child to
// the deepest cause.

// instanceReasonBlocked and instanceReasonChildFailed are the Ready
// reasons of an instance that waits for a child, or whose child's change
// was refused (blueprint.ReasonResourceBlocked, ReasonResourceFailed); the
// message starts with "resource <id> (<Kind> <name>): " for that child.
const (
	instanceReasonBlocked     = "ResourceNotReady"
	instanceReasonChildFailed = "ResourceFailed"
)

var blockingChildRe = regexp.MustCompile(`^resource ([a-z][A-Za-z0-9]*) \(`)

// BlueprintKinds lists the kinds the cluster's Blueprints define. A cluster
// that does not serve Blueprints, or a user who may not list them, has none.
func BlueprintKinds(ctx context.Context, c client.Reader) ([]Kind, error) {
	var list corev1alpha1.BlueprintList
	err := c.List(ctx, &list)
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing Blueprints: %w", err)
	}
	var out []Kind
	for _, bp := range list.Items {
		s := bp.Spec
		if s.Group == "" || s.Version == "" || s.Kind == "" {
			continue
		}
		// The generated CRD's names (see blueprint.Compiled.CRD).
		out = append(out, Kind{Group: s.Group, Version: s.Version, Kind: s.Kind,
			Plural: cmp.Or(s.Plural, strings.ToLower(s.Kind)+"s"), Singular: strings.ToLower(s.Kind),
			Namespaced: true, Blueprint: bp.Name})
	}
	return out, nil
}

// MergeKinds adds extra to kinds, leaving out a kind kinds has already
// (same group and kind), sorted by group and kind.
func MergeKinds(kinds, extra []Kind) []Kind {
	out := slices.Clone(kinds)
	for _, k := range extra {
		if !slices.ContainsFunc(out, func(x Kind) bool { return x.Group == k.Group && x.Kind == k.Kind }) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b Kind) int {
		return strings.Compare(a.Group+"/"+a.Kind, b.Group+"/"+b.Kind)
	})
	return out
}

// LoadClusterKinds returns the kinds of the CRDs embedded in this binary
// and the kinds the cluster's Blueprints define.
func LoadClusterKinds(ctx context.Context, c client.Reader) ([]Kind, error) {
	kinds, err := LoadKinds()
	if err != nil {
		return nil, err
	}
	bps, err := BlueprintKinds(ctx, c)
	if err != nil {
		return nil, err
	}
	return MergeKinds(kinds, bps), nil
}

// childRef is the owner reference of a Blueprint child: the controller
// reference that names the instance its blueprint-instance label names.
func childRef(u metav1.Object) *metav1.OwnerReference {
	return childRefOf(u.GetLabels(), u.GetOwnerReferences())
}

// childRefOf is childRef of an object's labels and owner references.
func childRefOf(labels map[string]string, owners []metav1.OwnerReference) *metav1.OwnerReference {
	inst := labels[corev1alpha1.BlueprintInstanceLabel]
	if inst == "" {
		return nil
	}
	for i := range owners {
		if ref := &owners[i]; ref.Controller != nil && *ref.Controller {
			if ref.Name != inst {
				return nil
			}
			return ref
		}
	}
	return nil
}

// childKey is the byGK key of the instance a child's owner reference
// names (ns: the child's namespace).
func childKey(ns string, ref *metav1.OwnerReference) string {
	return groupOf(ref.APIVersion) + "/" + ref.Kind + "/" + ns + "/" + ref.Name
}

// isInstance reports whether u is a Blueprint instance: its kind is one a
// known Blueprint defines, or (Blueprints unknown) it carries the revision
// label the instance controller sets.
func (b *builder) isInstance(u *Row) bool {
	gvk := u.GroupVersionKind()
	if _, ok := b.instanceKinds[gvk.Group+"/"+gvk.Kind]; ok {
		return true
	}
	return gvk.Group != corev1alpha1.GroupVersion.Group && u.GetLabels()[corev1alpha1.BlueprintRevisionLabel] != ""
}

// isManaged reports whether u is a managed cloud resource.
func (b *builder) isManaged(u *Row) bool {
	return !b.isInstance(u) && IsManagedGroup(u.GroupVersionKind().Group)
}

// judged are the objects whose state status reports and counts: managed
// objects and Blueprint instances.
func (b *builder) judged(u *Row) bool { return b.isInstance(u) || b.isManaged(u) }

// listedKind reports whether objects of a kind are listed in full when
// they exist (so one not among the objects does not exist).
func (b *builder) listedKind(apiVersion, kind string) bool {
	g := groupOf(apiVersion)
	if _, ok := b.instanceKinds[g+"/"+kind]; ok {
		return true
	}
	return IsManagedGroup(g)
}

// linkChildren records each child's instance (when it is among the
// objects and is the owner the reference means).
func (b *builder) linkChildren() {
	for _, u := range b.objects {
		ref := childRefOf(u.labels, u.owners)
		if ref == nil {
			continue
		}
		inst := b.byGK[childKey(u.namespace, ref)]
		if inst == nil || inst == u || !b.isInstance(inst) || (ref.UID != "" && inst.GetUID() != "" && ref.UID != inst.GetUID()) {
			continue
		}
		b.parent[u] = inst
		b.children[inst] = append(b.children[inst], u)
	}
}

// instanceResource is one entry of an instance's status.resources.
type instanceResource struct {
	ID         string `json:"id"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	Ready      bool   `json:"ready"`
	Message    string `json:"message,omitempty"`
}

func instanceResources(u *unstructured.Unstructured) []instanceResource {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "resources")
	var out []instanceResource
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		var r instanceResource
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &r); err == nil && r.ID != "" {
			out = append(out, r)
		}
	}
	return out
}

func instanceRevision(u *unstructured.Unstructured) int64 {
	rev, _, _ := unstructured.NestedInt64(u.Object, "status", "revision")
	return rev
}

// blockingChild is the child an instance's Ready message names as the one
// it waits for; else the first child not ready for a reason of its own
// (not waiting for another child). ok is false when no child with a name
// blocks it.
func blockingChild(u *Row, msg string) (instanceResource, bool) {
	res := u.resources
	if m := blockingChildRe.FindStringSubmatch(msg); m != nil {
		for _, r := range res {
			if r.ID == m[1] {
				return r, r.Name != "" && r.Kind != ""
			}
		}
	}
	for _, r := range res {
		if !r.Ready && r.Name != "" && r.Kind != "" && !strings.HasPrefix(r.Message, "waiting for ") {
			return r, true
		}
	}
	return instanceResource{}, false
}

// childItems are the items of an instance's children: the objects it
// owns, each with its own state, and the children its status lists that
// are not among the objects (not created yet, or of a kind status does
// not read, such as a ConfigMap), with what the instance says of them.
// Children that are instances bring their own children. seen guards
// against ownership loops.
func (b *builder) childItems(inst *Row, seen map[*Row]bool) []item {
	if seen[inst] {
		return nil
	}
	seen[inst] = true
	var out []item
	have := map[string]bool{}
	for _, c := range b.children[inst] {
		gvk := c.GroupVersionKind()
		have[gvk.Group+"/"+gvk.Kind+"/"+c.GetName()] = true
		out = append(out, item{obj: b.object(c), u: c, owner: inst})
		if b.isInstance(c) {
			out = append(out, b.childItems(c, seen)...)
		}
	}
	for _, r := range inst.resources {
		if r.Kind == "" || have[groupOf(r.APIVersion)+"/"+r.Kind+"/"+r.Name] {
			continue
		}
		o := &Object{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: inst.GetNamespace(), Name: r.Name,
			Managed: IsManagedGroup(groupOf(r.APIVersion)) && !b.listedInstanceKind(r.APIVersion, r.Kind),
			ChildOf: inst.GetKind() + "/" + inst.GetName(), Resource: r.ID, InstanceMessage: r.Message}
		switch {
		case r.Name == "" || b.listedKind(r.APIVersion, r.Kind):
			o.NotCreated = true
		case r.Ready:
			o.Ready = "True"
		default:
			o.Ready = "False"
		}
		out = append(out, item{obj: o, owner: inst})
	}
	return out
}

func (b *builder) listedInstanceKind(apiVersion, kind string) bool {
	_, ok := b.instanceKinds[groupOf(apiVersion)+"/"+kind]
	return ok
}

// withChildren adds the children of the instances among items; it also
// returns the objects of those children.
func (b *builder) withChildren(items []item) ([]item, []*Row) {
	out := slices.Clone(items)
	var objs []*Row
	seen := map[*Row]bool{}
	listed := map[*Row]bool{}
	for _, it := range items {
		listed[it.u] = true
	}
	for _, it := range items {
		if it.u == nil || !b.isInstance(it.u) {
			continue
		}
		for _, c := range b.childItems(it.u, seen) {
			if c.u != nil && listed[c.u] {
				continue // listed already (a child also in git): once is enough
			}
			out = append(out, c)
			if c.u != nil {
				objs = append(objs, c.u)
			}
		}
	}
	return out, objs
}

// instanceObject fills in what an Object says of an instance or a child.
func (b *builder) instanceObject(o *Object, u *Row) {
	if inst := b.parent[u]; inst != nil {
		o.ChildOf = inst.GetKind() + "/" + inst.GetName()
	} else if ref := childRefOf(u.labels, u.owners); ref != nil {
		o.ChildOf, o.InstanceNotFound = ref.Kind+"/"+ref.Name, true
	}
	if o.ChildOf != "" {
		o.Resource = u.GetLabels()[corev1alpha1.BlueprintResourceLabel]
	}
	if b.isInstance(u) {
		o.Instance = true
		gvk := u.GroupVersionKind()
		o.Blueprint = b.instanceKinds[gvk.Group+"/"+gvk.Kind]
		o.Revision = u.revision
	}
}

// instanceTrace is what a trace of an instance adds (nil for other objects).
func (b *builder) instanceTrace(u *Row) *InstanceTrace {
	if !b.isInstance(u) {
		return nil
	}
	gvk := u.GroupVersionKind()
	t := &InstanceTrace{Blueprint: b.instanceKinds[gvk.Group+"/"+gvk.Kind], Revision: u.revision, Resources: []InstanceChild{}}
	if n, err := strconv.ParseInt(u.GetLabels()[corev1alpha1.BlueprintRevisionLabel], 10, 64); err == nil {
		t.TargetRevision = n
	}
	for _, r := range u.resources {
		c := InstanceChild{ID: r.ID, APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Ready: r.Ready, Message: r.Message}
		if cu := b.byGK[groupOf(r.APIVersion)+"/"+r.Kind+"/"+u.GetNamespace()+"/"+r.Name]; cu != nil && r.Name != "" {
			if rc := cu.conds[commonv1.TypeReady]; rc != nil {
				c.State = rc.Status
				if rc.Reason != "" {
					c.State += " (" + rc.Reason + ")"
				}
			}
		}
		t.Resources = append(t.Resources, c)
	}
	return t
}

// parentLink is the instance of a Blueprint child (nil for other objects).
func (b *builder) parentLink(u *Row) *ParentLink {
	ref := childRefOf(u.labels, u.owners)
	if ref == nil {
		return nil
	}
	l := &ParentLink{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, Resource: u.GetLabels()[corev1alpha1.BlueprintResourceLabel]}
	if inst := b.parent[u]; inst != nil {
		l.Found = true
		if c := inst.conds[commonv1.TypeReady]; c != nil {
			l.Ready, l.Reason = c.Status, c.Reason
		}
	}
	return l
}
