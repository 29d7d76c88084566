package status

import (
	"cmp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// BuildFlat is BuildSnapshot without the trees, for what counts or lists
// objects rather than drawing them: the report's sources have no Objects
// and NotFromGit is empty; objects are the managed objects and Blueprint
// instances of the snapshot, each once, as the report's trees would show
// them but without children (HeldPrune set from the sources), by
// namespace, kind and name. The Summary is BuildSnapshot's.
func BuildFlat(s Snapshot) (*Report, []*Object) {
	b := newBuilder(s.Objects, s.Rows, s.Kinds, s.Now)
	r := &Report{Time: s.Now, Sources: []*Source{}, NotFromGit: []*NamespaceObjects{}, Unlisted: s.Unlisted}
	srcs := slices.Clone(s.Sources)
	slices.SortFunc(srcs, func(a, b corev1alpha1.GitSource) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	held, heldKeys := map[string]bool{}, map[string]bool{}
	for i := range srcs {
		src, keys := b.sourceOnly(&srcs[i])
		for k := range keys {
			heldKeys[k] = true
		}
		for _, h := range srcs[i].Status.HeldPrune {
			held[refKey(h)] = true
		}
		r.Sources = append(r.Sources, src)
		if src.Ready.Status != "True" {
			r.Summary.SourcesNotReady++
		}
	}
	r.Summary.Sources = len(srcs)
	objs := b.summarize(r, held)
	for _, o := range objs {
		o.HeldPrune = heldKeys[groupOf(o.APIVersion)+"/"+o.Kind+"/"+o.Namespace+"/"+o.Name]
	}
	return r, objs
}

// leanList is an UnstructuredList whose items keep of their metadata
// only what status reads: not managedFields, which are often the larger
// part of a managed object and cost the most to decode into maps. Of the
// rest of an item it keeps spec and status, all the kinds listManaged
// lists have. Trace reads managedFields (the syncer's last write):
// CollectTrace lists in full.
type leanList struct {
	unstructured.UnstructuredList
}

// leanItem is an item as decoded: unknown fields (managedFields, and
// any other metadata) are skipped by the decoder, not built as maps.
type leanItem struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   leanMeta `json:"metadata"`
	Spec       any      `json:"spec"`
	Status     any      `json:"status"`
}

type leanMeta struct {
	Name              any `json:"name"`
	Namespace         any `json:"namespace"`
	UID               any `json:"uid"`
	ResourceVersion   any `json:"resourceVersion"`
	Generation        any `json:"generation"`
	CreationTimestamp any `json:"creationTimestamp"`
	DeletionTimestamp any `json:"deletionTimestamp"`
	Labels            any `json:"labels"`
	Annotations       any `json:"annotations"`
	OwnerReferences   any `json:"ownerReferences"`
	Finalizers        any `json:"finalizers"`
}

// UnmarshalJSON decodes a list answer, its items lean.
func (l *leanList) UnmarshalJSON(data []byte) error {
	var list struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Items      []leanItem     `json:"items"`
	}
	if err := utiljson.Unmarshal(data, &list); err != nil {
		return err
	}
	l.Object = map[string]any{"apiVersion": list.APIVersion, "kind": list.Kind}
	if list.Metadata != nil {
		l.Object["metadata"] = list.Metadata
	}
	itemKind := strings.TrimSuffix(list.Kind, "List")
	l.Items = make([]unstructured.Unstructured, len(list.Items))
	for i, it := range list.Items {
		l.Items[i].Object = it.object(list.APIVersion, itemKind)
	}
	return nil
}

// object is the item's content, with the list's apiVersion and kind when
// it has none.
func (it *leanItem) object(apiVersion, kind string) map[string]any {
	m := it.Metadata
	md := make(map[string]any, 8)
	for _, kv := range [...]struct {
		k string
		v any
	}{
		{"name", m.Name}, {"namespace", m.Namespace}, {"uid", m.UID}, {"resourceVersion", m.ResourceVersion},
		{"generation", m.Generation}, {"creationTimestamp", m.CreationTimestamp}, {"deletionTimestamp", m.DeletionTimestamp},
		{"labels", m.Labels}, {"annotations", m.Annotations}, {"ownerReferences", m.OwnerReferences}, {"finalizers", m.Finalizers},
	} {
		if kv.v != nil {
			md[kv.k] = kv.v
		}
	}
	obj := map[string]any{"apiVersion": cmp.Or(it.APIVersion, apiVersion), "kind": cmp.Or(it.Kind, kind), "metadata": md}
	if it.Spec != nil {
		obj["spec"] = it.Spec
	}
	if it.Status != nil {
		obj["status"] = it.Status
	}
	return obj
}
