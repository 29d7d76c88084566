package status

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apipath "k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Scope is what a report covers: one namespace (with the GitSources that
// live in it or apply to it), or all namespaces.
type Scope struct {
	Namespace     string
	AllNamespaces bool
	// JudgedOnly leaves out the objects of the sources' inventories of
	// kinds not listed (ConfigMaps: a request each): what counts objects
	// (BuildFlat) does not need them.
	JudgedOnly bool
	// Raw, when set, fetches a list answer as a stream of bytes (a REST
	// client's GET of path, with query): Collect then decodes its items
	// straight into rows as they arrive, instead of the client's decoder
	// reading it three times (the kind first, the list, its items) into
	// maps. The caller's client makes the request.
	Raw func(ctx context.Context, path string, query url.Values) (io.ReadCloser, error)
}

// Collect fetches what Build needs for a scope: its GitSources, the
// objects of every managed kind and every kind a Blueprint defines (see
// LoadClusterKinds) in the namespaces concerned (kinds not served by the
// cluster are skipped), and the other objects the sources' inventories
// list. It only reads.
func Collect(ctx context.Context, c client.Reader, kinds []Kind, scope Scope) (*Snapshot, error) {
	s := &Snapshot{Now: time.Now(), Kinds: kinds}
	sources, err := listSources(ctx, c, scope)
	if err != nil {
		return nil, err
	}
	s.Sources = sources

	namespaces := []string{""}
	if !scope.AllNamespaces {
		namespaces = []string{scope.Namespace}
		for _, gs := range sources {
			if t := targetOf(&gs); !slices.Contains(namespaces, t) {
				namespaces = append(namespaces, t)
			}
		}
	}
	// Another namespace a source applies to contributes what the sources
	// applied there, not its other objects: they are out of scope.
	applied := map[string]bool{}
	for _, gs := range sources {
		for _, r := range append(slices.Clone(gs.Status.Inventory), gs.Status.HeldPrune...) {
			applied[refKey(withNS(r, targetOf(&gs)))] = true
		}
	}
	for i, ns := range namespaces {
		rows, unlisted, err := listManaged(ctx, c, kinds, ns, true, scope.Raw)
		if err != nil {
			return nil, err
		}
		for _, u := range unlisted {
			if !slices.Contains(s.Unlisted, u) {
				s.Unlisted = append(s.Unlisted, u)
			}
		}
		if i > 0 {
			rows = appliedOrTheirChildren(rows, applied)
		}
		s.Rows = append(s.Rows, rows...)
	}
	if scope.JudgedOnly {
		return s, nil
	}
	extra, err := inventoryObjects(ctx, c, kinds, sources, s.Rows)
	if err != nil {
		return nil, err
	}
	s.Objects = append(s.Objects, extra...)
	return s, nil
}

// CollectTrace fetches what Trace needs for one object: the object, the
// managed objects and Blueprint instances of its namespace (to follow
// references, and an instance's children), its GitSource (for a Blueprint
// child, its instance's) and its events. For a GitSource: the source, the
// objects of its target namespace and its inventory, and its events.
func CollectTrace(ctx context.Context, c client.Reader, kinds []Kind, kind Kind, namespace, name string) (*Snapshot, Target, error) {
	t := Target{Group: kind.Group, Kind: kind.Kind, Namespace: namespace, Name: name}
	s := &Snapshot{Now: time.Now(), Kinds: kinds}
	objNS := namespace
	var u *unstructured.Unstructured
	if kind.IsGitSource() {
		gs := &corev1alpha1.GitSource{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, gs); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, t, &NotFoundError{t}
			}
			return nil, t, err
		}
		s.Sources = []corev1alpha1.GitSource{*gs}
		objNS = targetOf(gs)
	} else {
		u = &unstructured.Unstructured{}
		u.SetGroupVersionKind(kind.GVK())
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, t, &NotFoundError{t}
			}
			return nil, t, err
		}
	}
	rows, _, err := listManaged(ctx, c, kinds, objNS, false, nil)
	if err != nil {
		return nil, t, err
	}
	// Trace reads more of an object than a report: the objects whole.
	objs := make([]*unstructured.Unstructured, len(rows))
	for i, r := range rows {
		objs[i] = r.u
	}
	s.Objects = objs
	if u != nil {
		label := u.GetLabels()[corev1alpha1.SourceLabel]
		if label == "" {
			// A Blueprint child is not from git itself: its instance may be.
			inst, err := instanceOf(ctx, c, u, objs)
			if err != nil {
				return nil, t, err
			}
			if inst != nil {
				label = inst.GetLabels()[corev1alpha1.SourceLabel]
				if !slices.Contains(objs, inst) {
					s.Objects = append(s.Objects, inst)
				}
			}
		}
		if label != "" {
			// "namespace.name": a namespace has no dots, a name may.
			gsNS, gsName, _ := strings.Cut(label, ".")
			gs := &corev1alpha1.GitSource{}
			err := c.Get(ctx, client.ObjectKey{Namespace: gsNS, Name: gsName}, gs)
			switch {
			case err == nil:
				s.Sources = []corev1alpha1.GitSource{*gs}
			case apierrors.IsNotFound(err), meta.IsNoMatchError(err), apierrors.IsForbidden(err):
			default:
				return nil, t, err
			}
		}
	}
	have := make([]*Row, len(s.Objects))
	for i, u := range s.Objects {
		have[i] = RowOf(u)
	}
	extra, err := inventoryObjects(ctx, c, kinds, s.Sources, have)
	if err != nil {
		return nil, t, err
	}
	s.Objects = append(s.Objects, extra...)
	s.Events, err = listEvents(ctx, c, namespace, name)
	if err != nil {
		return nil, t, err
	}
	return s, t, nil
}

func targetOf(gs *corev1alpha1.GitSource) string {
	if gs.Spec.TargetNamespace != "" {
		return gs.Spec.TargetNamespace
	}
	return gs.Namespace
}

// listSources lists the GitSources in scope: for a namespace, those in it
// and those in other namespaces that apply to it (when GitSources can be
// listed cluster-wide).
func listSources(ctx context.Context, c client.Reader, scope Scope) ([]corev1alpha1.GitSource, error) {
	var list corev1alpha1.GitSourceList
	err := c.List(ctx, &list)
	if err != nil && !scope.AllNamespaces && apierrors.IsForbidden(err) {
		err = c.List(ctx, &list, client.InNamespace(scope.Namespace))
	}
	if meta.IsNoMatchError(err) {
		return nil, nil // no GitOps on this cluster
	}
	if err != nil {
		return nil, fmt.Errorf("listing GitSources: %w", err)
	}
	var out []corev1alpha1.GitSource
	for _, gs := range list.Items {
		if scope.AllNamespaces || gs.Namespace == scope.Namespace || targetOf(&gs) == scope.Namespace {
			out = append(out, gs)
		}
	}
	return out, nil
}

// listManaged lists the objects of every managed kind and every kind a
// Blueprint defines in a namespace ("": all). Kinds the cluster does not
// serve are skipped. Lean lists leave out the objects' managedFields
// (leanList): a report does not read them, and decoding them costs; with
// raw, the answers are decoded straight into rows (decodeList).
func listManaged(ctx context.Context, c client.Reader, kinds []Kind, namespace string, lean bool, raw func(context.Context, string, url.Values) (io.ReadCloser, error)) (out []*Row, unlisted []string, err error) {
	for _, k := range append(ManagedKinds(kinds), InstanceKinds(kinds)...) {
		// A kind the reader may not list (a Blueprint's kind whose viewer
		// role is missing) is left out and named, not the whole report.
		forbidden := func(err error) bool {
			if !apierrors.IsForbidden(err) {
				return false
			}
			unlisted = append(unlisted, k.Plural+"."+k.Group)
			return true
		}
		if lean && raw != nil {
			items, err := listRaw(ctx, raw, k, namespace)
			if err != nil {
				if apierrors.IsNotFound(err) || forbidden(err) {
					continue
				}
				return nil, nil, fmt.Errorf("listing %s: %w", k.Plural, err)
			}
			out = append(out, items...)
			continue
		}
		list := &unstructured.UnstructuredList{}
		var into client.ObjectList = list
		if lean {
			l := &leanList{}
			list, into = &l.UnstructuredList, l
		}
		list.SetGroupVersionKind(schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind + "List"})
		var opts []client.ListOption
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		if err := c.List(ctx, into, opts...); err != nil {
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) || forbidden(err) {
				continue
			}
			return nil, nil, fmt.Errorf("listing %s: %w", k.Plural, err)
		}
		for i := range list.Items {
			out = append(out, RowOf(&list.Items[i]))
		}
	}
	return out, unlisted, nil
}

// listRaw lists a kind in a namespace ("": all) with raw and decodes the
// answer into rows.
func listRaw(ctx context.Context, raw func(context.Context, string, url.Values) (io.ReadCloser, error), k Kind, namespace string) ([]*Row, error) {
	// The namespace may come from a URL (the dashboard's /ns/NAME): a
	// name with "/" or ".." would walk the request to another path.
	if msgs := apipath.IsValidPathSegmentName(namespace); namespace != "" && len(msgs) > 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("namespace %q: %s", namespace, strings.Join(msgs, "; ")))
	}
	path := "/apis/" + k.Group + "/" + k.Version
	if namespace != "" {
		path += "/namespaces/" + namespace
	}
	path += "/" + k.Plural
	body, err := raw(ctx, path, url.Values{})
	if err != nil {
		return nil, err
	}
	defer body.Close()
	rows, err := decodeList(body)
	if err != nil {
		return nil, fmt.Errorf("decoding the list of %s: %w", k.Plural, err)
	}
	return rows, nil
}

// inventoryObjects gets the inventory entries not among have (kinds not
// listed, such as ConfigMaps, or an instance of a Blueprint that could not
// be read). Missing ones are left out: the report shows them as missing.
func inventoryObjects(ctx context.Context, c client.Reader, kinds []Kind, sources []corev1alpha1.GitSource, have []*Row) ([]*unstructured.Unstructured, error) {
	listed := map[string]bool{}
	for _, k := range append(ManagedKinds(kinds), InstanceKinds(kinds)...) {
		listed[k.Group+"/"+k.Kind] = true
	}
	seen := map[string]bool{}
	for _, r := range have {
		seen[r.group+"/"+r.kind+"/"+r.namespace+"/"+r.name] = true
	}
	var out []*unstructured.Unstructured
	for _, gs := range sources {
		target := targetOf(&gs)
		for _, r := range append(slices.Clone(gs.Status.Inventory), gs.Status.HeldPrune...) {
			r = withNS(r, target)
			k := refKey(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			if listed[groupOf(r.APIVersion)+"/"+r.Kind] {
				continue // listed already: not there means missing
			}
			u := &unstructured.Unstructured{}
			u.SetAPIVersion(r.APIVersion)
			u.SetKind(r.Kind)
			err := c.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, u)
			switch {
			case err == nil:
				out = append(out, u)
			case apierrors.IsNotFound(err), meta.IsNoMatchError(err), apierrors.IsForbidden(err):
			default:
				return nil, fmt.Errorf("reading %s/%s: %w", r.Kind, r.Name, err)
			}
		}
	}
	return out, nil
}

// appliedOrTheirChildren keeps the objects a source applied (applied:
// group/Kind/namespace/name) and the children of the instances among
// them, and theirs.
func appliedOrTheirChildren(objs []*Row, applied map[string]bool) []*Row {
	in := map[string]bool{}
	for k := range applied {
		in[k] = true
	}
	key := func(u *Row) string { return u.group + "/" + u.kind + "/" + u.namespace + "/" + u.name }
	for grown := true; grown; {
		grown = false
		for _, u := range objs {
			if ref := childRefOf(u.labels, u.owners); ref != nil && !in[key(u)] && in[childKey(u.namespace, ref)] {
				in[key(u)], grown = true, true
			}
		}
	}
	var out []*Row
	for _, u := range objs {
		if in[key(u)] {
			out = append(out, u)
		}
	}
	return out
}

// instanceOf is the Blueprint instance of a child: among objs, else read
// (nil when u is not a child, or its instance is gone or not readable).
func instanceOf(ctx context.Context, c client.Reader, u *unstructured.Unstructured, objs []*unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ref := childRef(u)
	if ref == nil {
		return nil, nil
	}
	for _, o := range objs {
		if groupOf(o.GetAPIVersion()) == groupOf(ref.APIVersion) && o.GetKind() == ref.Kind && o.GetNamespace() == u.GetNamespace() && o.GetName() == ref.Name {
			return o, nil
		}
	}
	inst := &unstructured.Unstructured{}
	inst.SetAPIVersion(ref.APIVersion)
	inst.SetKind(ref.Kind)
	err := c.Get(ctx, client.ObjectKey{Namespace: u.GetNamespace(), Name: ref.Name}, inst)
	switch {
	case err == nil:
		return inst, nil
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err), apierrors.IsForbidden(err):
		return nil, nil
	}
	return nil, fmt.Errorf("reading the instance %s/%s of %s/%s: %w", ref.Kind, ref.Name, u.GetKind(), u.GetName(), err)
}

// listEvents lists the events.k8s.io/v1 Events about objects named name in
// a namespace (Trace matches the kind). A server that does not support the
// field selector gets a plain list.
func listEvents(ctx context.Context, c client.Reader, namespace, name string) ([]eventsv1.Event, error) {
	var list eventsv1.EventList
	err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{"regarding.name": name})
	if apierrors.IsBadRequest(err) {
		err = c.List(ctx, &list, client.InNamespace(namespace))
	}
	if meta.IsNoMatchError(err) || apierrors.IsForbidden(err) {
		return nil, nil // events are a nicety
	}
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	return list.Items, nil
}
