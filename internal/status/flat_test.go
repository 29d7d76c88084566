package status

import (
	"encoding/json"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// BuildFlat reports every object as BuildSnapshot does, without trees.
func TestBuildFlatAgreesWithBuild(t *testing.T) {
	sources, objects := scenario()
	full := Build(sources, objects, now)
	flat, objs := BuildFlat(Snapshot{Now: now, Sources: sources, Objects: objects})
	if flat.Summary != full.Summary {
		t.Errorf("summary: flat %+v, full %+v", flat.Summary, full.Summary)
	}
	inTrees := map[string]*Object{}
	var walk func([]*Object)
	walk = func(os []*Object) {
		for _, o := range os {
			if (o.Managed || o.Instance) && !o.Missing && !o.NotCreated {
				inTrees[o.APIVersion+"/"+o.Kind+"/"+o.Namespace+"/"+o.Name] = o
			}
			walk(o.Children)
		}
	}
	for _, s := range full.Sources {
		walk(s.Objects)
	}
	for _, n := range full.NotFromGit {
		walk(n.Objects)
	}
	if len(objs) != len(inTrees) {
		t.Errorf("flat has %d objects, the trees %d", len(objs), len(inTrees))
	}
	for _, o := range objs {
		want := inTrees[o.APIVersion+"/"+o.Kind+"/"+o.Namespace+"/"+o.Name]
		if want == nil {
			t.Errorf("%s/%s: in the flat list, not in the trees", o.Kind, o.Name)
			continue
		}
		w := *want
		w.Children = nil
		if !reflect.DeepEqual(*o, w) {
			t.Errorf("%s/%s: flat %+v, tree %+v", o.Kind, o.Name, *o, w)
		}
	}
	for i, s := range flat.Sources {
		w := *full.Sources[i]
		w.Objects = []*Object{}
		if !reflect.DeepEqual(*s, w) {
			t.Errorf("source %s: flat %+v, full %+v", s.Name, *s, w)
		}
	}
}

// A lean list is the list without the items' managedFields (of the
// kinds listed: with spec and status, not a ConfigMap's data).
func TestLeanList(t *testing.T) {
	_, objects := scenario()
	items := []any{}
	for _, u := range objects {
		if u.GetKind() == "ConfigMap" {
			continue
		}
		c := u.DeepCopy()
		c.Object["metadata"].(map[string]any)["managedFields"] = []any{map[string]any{"manager": "x", "operation": "Update", "fieldsV1": map[string]any{"f:spec": map[string]any{}}}}
		c.SetGeneration(3)
		c.SetAnnotations(map[string]string{"a": "b"})
		items = append(items, c.Object)
	}
	data, err := json.Marshal(map[string]any{"apiVersion": "pubsub.infraplane.dev/v1alpha1", "kind": "TopicList", "metadata": map[string]any{"resourceVersion": "12"}, "items": items})
	if err != nil {
		t.Fatal(err)
	}
	var full unstructured.UnstructuredList
	if err := full.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	var lean leanList
	if err := utiljson.Unmarshal(data, &lean); err != nil {
		t.Fatal(err)
	}
	if lean.GetResourceVersion() != "12" || lean.GetKind() != "TopicList" || len(lean.Items) != len(full.Items) {
		t.Fatalf("lean list %v with %d items, want %d", lean.Object, len(lean.Items), len(full.Items))
	}
	for i := range full.Items {
		want := full.Items[i].DeepCopy()
		unstructured.RemoveNestedField(want.Object, "metadata", "managedFields")
		if !reflect.DeepEqual(lean.Items[i].Object, want.Object) {
			t.Errorf("item %d:\nlean %v\nwant %v", i, lean.Items[i].Object, want.Object)
		}
	}
}
