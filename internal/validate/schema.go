package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// catalog is what the CRDs say, compiled once: for each served
// group/version/kind its schema, validators and CEL programs.
type catalog struct {
	versions map[schema.GroupVersionKind]*versionSchema
	kinds    map[schema.GroupKind]*crdKind
	groups   map[string][]string // group -> its kinds, sorted
}

// crdKind is one CRD: its scope and served versions.
type crdKind struct {
	namespaced bool
	served     []string
}

// versionSchema holds everything the API server builds for one served
// version of a CRD, built the same way (customresource_handler.go).
type versionSchema struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	hasStatus  bool
	deprecated string // the deprecation warning, if the version is deprecated

	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no x-kubernetes-validations
}

func newCatalog(crds []*apiextensionsv1.CustomResourceDefinition) (*catalog, error) {
	c := &catalog{
		versions: map[schema.GroupVersionKind]*versionSchema{},
		kinds:    map[schema.GroupKind]*crdKind{},
		groups:   map[string][]string{},
	}
	for _, crd := range crds {
		gk := schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}
		k := &crdKind{namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped}
		c.kinds[gk] = k
		c.groups[gk.Group] = append(c.groups[gk.Group], gk.Kind)
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			k.served = append(k.served, v.Name)
			vs, err := newVersionSchema(crd, v)
			if err != nil {
				return nil, fmt.Errorf("CRD %s version %s: %w", crd.Name, v.Name, err)
			}
			vs.namespaced = k.namespaced
			c.versions[vs.gvk] = vs
		}
	}
	for g := range c.groups {
		sort.Strings(c.groups[g])
	}
	return c, nil
}

func newVersionSchema(crd *apiextensionsv1.CustomResourceDefinition, v apiextensionsv1.CustomResourceDefinitionVersion) (*versionSchema, error) {
	vs := &versionSchema{
		gvk:       schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind},
		hasStatus: v.Subresources != nil && v.Subresources.Status != nil,
	}
	if v.Deprecated {
		vs.deprecated = fmt.Sprintf("%s/%s %s is deprecated", crd.Spec.Group, v.Name, crd.Spec.Names.Kind)
		if v.DeprecationWarning != nil {
			vs.deprecated = *v.DeprecationWarning
		}
	}
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return vs, nil // no schema: anything goes (as on the server)
	}
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
		return nil, fmt.Errorf("converting the schema: %w", err)
	}
	s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("the schema is not structural: %w", err)
	}
	// As the API server does: work on a copy, and drop defaults that
	// pruning would remove anyway.
	s = s.DeepCopy()
	if err := structuraldefaulting.PruneDefaults(s); err != nil {
		return nil, fmt.Errorf("pruning defaults: %w", err)
	}
	vs.structural = s
	vs.validator, _, err = apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("building the schema validator: %w", err)
	}
	vs.cel = cel.NewValidator(s, true, celconfig.PerCallLimit)
	return vs, nil
}

// checkResult is what check found.
type checkResult struct {
	errs       field.ErrorList
	unknown    []string // unknown field paths, as the API server names them
	celBlocked bool     // the CEL rules were not evaluated because of earlier errors
}

// check is what the API server does to a custom resource on create, in the
// same order: decode (drop unknown fields, reporting them as strict field
// validation does), default, validate ObjectMeta, the OpenAPI schema, the
// list-type invariants and, unless an error already blocks them, the
// x-kubernetes-validations rules. Transition rules (oldSelf) are skipped by
// the CEL validator itself: there is no old object.
//
// namespace fills in metadata.namespace when the manifest has none (the
// syncer sets it). obj is not modified.
func (vs *versionSchema) check(ctx context.Context, in map[string]any, namespace string) checkResult {
	var r checkResult
	obj, err := normalize(in)
	if err != nil {
		r.errs = append(r.errs, field.Invalid(nil, nil, err.Error()))
		return r
	}
	metaPath := field.NewPath("metadata")
	meta, _, metaUnknown, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		r.errs = append(r.errs, field.Invalid(metaPath, nil, err.Error()))
		return r
	}
	r.unknown = append(r.unknown, metaUnknown...)
	if s := vs.structural; s != nil {
		// Strict decoding reports unknown fields anywhere, status included.
		r.unknown = append(r.unknown, structuralpruning.PruneWithOptions(obj, s, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
		structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, s)
		ferr, paths := schemaobjectmeta.CoerceWithOptions(nil, obj, s, false, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
		if ferr != nil {
			r.errs = append(r.errs, ferr)
			return r
		}
		r.unknown = append(r.unknown, paths...)
	}
	if vs.hasStatus {
		delete(obj, "status") // with a status subresource, create ignores status
	}
	if vs.namespaced && meta.Namespace == "" {
		meta.Namespace = namespace
	}
	if err := schemaobjectmeta.SetObjectMeta(obj, meta); err != nil {
		r.errs = append(r.errs, field.Invalid(metaPath, nil, err.Error()))
		return r
	}
	if vs.structural != nil {
		structuraldefaulting.Default(obj, vs.structural)
	}

	r.errs = append(r.errs, metavalidation.ValidateObjectMeta(meta, vs.namespaced, metavalidation.NameIsDNSSubdomain, metaPath)...)
	if vs.structural == nil {
		return r
	}
	r.errs = append(r.errs, apiservervalidation.ValidateCustomResource(nil, obj, vs.validator)...)
	r.errs = append(r.errs, schemaobjectmeta.Validate(ctx, nil, obj, vs.structural, false)...)
	r.errs = append(r.errs, structurallisttype.ValidateListSetsAndMaps(nil, vs.structural, obj)...)
	if vs.cel != nil {
		if blocking(r.errs) {
			r.celBlocked = true
		} else {
			errs, _ := vs.cel.Validate(ctx, nil, vs.structural, obj, nil, celconfig.RuntimeCELCostBudget)
			r.errs = append(r.errs, errs...)
		}
	}
	return r
}

// blocking mirrors the API server: these errors mean the object is too
// malformed for its CEL rules to be evaluated meaningfully.
func blocking(errs field.ErrorList) bool {
	return slices.ContainsFunc(errs, func(e *field.Error) bool {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
		return false
	})
}

// normalize deep-copies an object into the types the API server decodes
// JSON into (int64 for integral numbers, float64 otherwise).
func normalize(in map[string]any) (map[string]any, error) {
	data, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := utiljson.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}
