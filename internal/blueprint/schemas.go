package blueprint

import (
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiservercel "k8s.io/apiserver/pkg/cel"

	"github.com/infraplane/infraplane/internal/crds"
)

// kindSchemas are the structural schemas of infraplane's own kinds (from
// the embedded CRDs), by GVK: resources.<id> of these kinds is typed, so a
// misspelled field of another child is refused at apply too.
var kindSchemas = sync.OnceValue(func() map[schema.GroupVersionKind]*structuralschema.Structural {
	out := map[schema.GroupVersionKind]*structuralschema.Structural{}
	list, err := crds.Load()
	if err != nil {
		return out
	}
	for _, crd := range list {
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			internal := &apiextensionsinternal.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				continue
			}
			st, err := structuralschema.NewStructural(internal)
			if err != nil {
				continue
			}
			out[schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}] = withObjectMeta(st)
		}
	}
	return out
})

// withObjectMeta gives a kind's schema the apiVersion, kind and the
// metadata fields expressions may read (a CRD's schema leaves them out).
func withObjectMeta(s *structuralschema.Structural) *structuralschema.Structural {
	str := structuralschema.Structural{Generic: structuralschema.Generic{Type: "string"}}
	strMap := structuralschema.Structural{Generic: structuralschema.Generic{Type: "object"}, AdditionalProperties: &structuralschema.StructuralOrBool{Structural: &str}}
	out := *s
	out.Properties = map[string]structuralschema.Structural{}
	for k, v := range s.Properties {
		out.Properties[k] = v
	}
	out.Properties["apiVersion"] = str
	out.Properties["kind"] = str
	out.Properties["metadata"] = structuralschema.Structural{
		Generic: structuralschema.Generic{Type: "object"},
		Properties: map[string]structuralschema.Structural{
			"name": str, "generateName": str, "namespace": str, "uid": str,
			"labels": strMap, "annotations": strMap,
			"generation": {Generic: structuralschema.Generic{Type: "integer"}},
		},
	}
	return &out
}

// childDeclType is the CEL type of resources.<id>: the kind's schema when
// infraplane knows it, else dyn.
func childDeclType(id string, gvk schema.GroupVersionKind) *apiservercel.DeclType {
	if st, ok := kindSchemas()[gvk]; ok {
		if t := model.SchemaDeclType(st, false); t != nil {
			return t.MaybeAssignTypeName("blueprint.resources." + id)
		}
	}
	return apiservercel.DynType
}
