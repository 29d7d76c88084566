package blueprint

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	celtypes "github.com/google/cel-go/common/types"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkTemplate checks a template of one of infraplane's kinds against the
// kind's schema, so that a misspelled field or a value of the wrong type is
// refused when the Blueprint is applied, not when the first instance's
// child is (which, during a rollout, would halt it on the canary). Every
// field must exist in the schema; a literal value must have the field's
// type; a value that is one expression must give that type. Formats,
// patterns, ranges and CEL rules are left to the API server.
func checkTemplate(id string, st *structuralschema.Structural, res *Resource, tp *field.Path) Errors {
	exprTypes := map[string]*cel.Type{}
	for _, f := range res.fields {
		exprTypes[fieldString(f.path)] = f.typ
	}
	c := &schemaCheck{id: id, kind: res.GVK.Kind, exprTypes: exprTypes}
	for _, k := range sortedKeys(res.template) {
		switch k {
		case "apiVersion", "kind", "metadata":
			continue // checked by compileResource; metadata is the API server's
		}
		prop, ok := st.Properties[k]
		if !ok {
			c.unknown(tp.Child(k), k, st)
			continue
		}
		c.walk(&prop, res.template[k], []any{k}, tp.Child(k))
	}
	return c.errs
}

type schemaCheck struct {
	id, kind  string
	exprTypes map[string]*cel.Type // by fieldString of the path
	errs      Errors
}

func (c *schemaCheck) fail(p *field.Path, expr, msg string) {
	c.errs = append(c.errs, &Error{Resource: c.id, Field: p.String(), Expression: expr, Message: msg})
}

func (c *schemaCheck) unknown(p *field.Path, key string, parent *structuralschema.Structural) {
	known := sortedKeys(parent.Properties)
	msg := fmt.Sprintf("unknown field %q: %s has no such field", key, c.kind)
	if len(known) > 0 {
		msg += " here (it has " + strings.Join(known, ", ") + ")"
	}
	c.fail(p, "", msg)
}

func (c *schemaCheck) walk(st *structuralschema.Structural, v any, path []any, p *field.Path) {
	if t, ok := c.exprTypes[fieldString(path)]; ok {
		if want, ok := fits(st, t); !ok {
			c.fail(p, exprSource(v), fmt.Sprintf("gives a %s, but %s wants %s", t, c.kind, want))
		}
		return
	}
	if st.XPreserveUnknownFields && st.Type == "" {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		if st.Type != "object" {
			c.fail(p, "", fmt.Sprintf("is an object, but %s wants %s", c.kind, describe(st)))
			return
		}
		for _, k := range sortedKeys(v) {
			switch prop, ok := st.Properties[k]; {
			case ok:
				c.walk(&prop, v[k], append(slices.Clone(path), k), p.Child(k))
			case st.AdditionalProperties != nil && st.AdditionalProperties.Structural != nil:
				c.walk(st.AdditionalProperties.Structural, v[k], append(slices.Clone(path), k), p.Key(k))
			case st.AdditionalProperties != nil && st.AdditionalProperties.Bool, st.XPreserveUnknownFields:
			default:
				c.unknown(p.Child(k), k, st)
			}
		}
	case []any:
		if st.Type != "array" {
			c.fail(p, "", fmt.Sprintf("is a list, but %s wants %s", c.kind, describe(st)))
			return
		}
		if st.Items == nil {
			return
		}
		for i, x := range v {
			c.walk(st.Items, x, append(slices.Clone(path), i), p.Index(i))
		}
	case nil:
		if !st.Nullable {
			c.fail(p, "", fmt.Sprintf("is null, but %s wants %s", c.kind, describe(st)))
		}
	default:
		if !literalFits(st, v) {
			c.fail(p, "", fmt.Sprintf("is %v, but %s wants %s", v, c.kind, describe(st)))
		}
	}
}

// describe names what a schema accepts.
func describe(st *structuralschema.Structural) string {
	switch {
	case st.XIntOrString:
		return "an integer or a string"
	case st.Type == "integer":
		return "an integer"
	case st.Type == "object":
		return "an object"
	case st.Type == "array":
		return "a list"
	case st.Type == "":
		return "any value"
	}
	return "a " + st.Type
}

// literalFits reports whether a JSON scalar has the schema's type.
func literalFits(st *structuralschema.Structural, v any) bool {
	if st.XIntOrString {
		switch v := v.(type) {
		case string:
			return true
		case float64:
			return v == float64(int64(v))
		}
		return false
	}
	switch v := v.(type) {
	case string:
		return st.Type == "string" || st.Type == ""
	case bool:
		return st.Type == "boolean" || st.Type == ""
	case float64:
		return st.Type == "number" || st.Type == "" || (st.Type == "integer" && v == float64(int64(v)))
	case int64, int:
		return st.Type == "number" || st.Type == "integer" || st.Type == ""
	}
	return true
}

// fits reports whether an expression's type can fill a field of the
// schema (dyn always can: it is checked when the child is applied).
func fits(st *structuralschema.Structural, t *cel.Type) (string, bool) {
	want := describe(st)
	k := t.Kind()
	if k == celtypes.DynKind || k == celtypes.AnyKind || st.Type == "" && !st.XIntOrString {
		return want, true
	}
	if k == celtypes.NullTypeKind {
		return want, st.Nullable
	}
	switch {
	case st.XIntOrString:
		return want, k == celtypes.StringKind || k == celtypes.IntKind || k == celtypes.UintKind
	case st.Type == "string":
		return want, k == celtypes.StringKind
	case st.Type == "integer":
		return want, k == celtypes.IntKind || k == celtypes.UintKind
	case st.Type == "number":
		return want, k == celtypes.IntKind || k == celtypes.UintKind || k == celtypes.DoubleKind
	case st.Type == "boolean":
		return want, k == celtypes.BoolKind
	case st.Type == "array":
		return want, k == celtypes.ListKind
	case st.Type == "object":
		return want, k == celtypes.MapKind || k == celtypes.StructKind
	}
	return want, true
}

// exprSource is the expression a whole-expression value holds.
func exprSource(v any) string {
	s, _ := v.(string)
	s = strings.TrimSpace(s)
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "${"), "}"))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
