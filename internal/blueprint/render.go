package blueprint

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"google.golang.org/protobuf/types/known/structpb"
	celschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Instance is what expressions see of an instance and its children.
type Instance struct {
	// Object is the instance.
	Object *unstructured.Unstructured
	// Resources are the children rendered so far, by id (whole objects,
	// status included).
	Resources map[string]map[string]any
}

func (in Instance) vars() map[string]any {
	spec, _ := in.Object.Object["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	labels := in.Object.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	ann := in.Object.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	res := in.Resources
	if res == nil {
		res = map[string]map[string]any{}
	}
	return map[string]any{
		varMetadata: map[string]any{
			"name": in.Object.GetName(), "namespace": in.Object.GetNamespace(),
			"labels": labels, "annotations": ann,
		},
		varResources: res,
		"_spec":      spec,
	}
}

func (c *Compiled) activation(in Instance) map[string]any {
	v := in.vars()
	v[varSpec] = celschema.UnstructuredToVal(v["_spec"], c.structural)
	delete(v, "_spec")
	return v
}

// Include evaluates the resource's includeWhen expressions.
func (c *Compiled) Include(r *Resource, in Instance) (bool, error) {
	act := c.activation(in)
	for _, p := range r.includeWhen {
		ok, err := evalBool(p, act)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Ready evaluates the resource's readyWhen expressions over child; it
// returns the first that is false. With no readyWhen, hasReadyWhen is
// false and the caller decides.
func (c *Compiled) Ready(r *Resource, in Instance, child map[string]any) (ready bool, failed string, err error) {
	act := c.activation(in)
	act[varSelf] = child
	for _, p := range r.readyWhen {
		ok, err := evalBool(p, act)
		if err != nil {
			return false, p.src, err
		}
		if !ok {
			return false, p.src, nil
		}
	}
	return true, "", nil
}

func evalBool(p *program, act map[string]any) (bool, error) {
	out, _, err := p.prog.Eval(act)
	if err != nil {
		return false, fmt.Errorf("${%s}: %w", p.src, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("${%s}: is a %s, not a bool", p.src, out.Type().TypeName())
	}
	return bool(b), nil
}

// Render evaluates the resource's template for an instance. The caller
// makes sure every resource it depends on is in in.Resources. The child
// gets the instance's namespace; labels and owner are the caller's.
func (c *Compiled) Render(r *Resource, in Instance) (*unstructured.Unstructured, error) {
	obj := runtime.DeepCopyJSON(r.template)
	act := c.activation(in)
	for _, f := range r.fields {
		var val any
		if f.whole {
			out, _, err := f.parts[0].expr.prog.Eval(act)
			if err != nil {
				return nil, fmt.Errorf("%s: ${%s}: %w", fieldString(f.path), f.parts[0].expr.src, err)
			}
			if val, err = toJSON(out); err != nil {
				return nil, fmt.Errorf("%s: ${%s}: %w", fieldString(f.path), f.parts[0].expr.src, err)
			}
		} else {
			s := ""
			for _, p := range f.parts {
				if p.expr == nil {
					s += p.lit
					continue
				}
				out, _, err := p.expr.prog.Eval(act)
				if err != nil {
					return nil, fmt.Errorf("%s: ${%s}: %w", fieldString(f.path), p.expr.src, err)
				}
				str, err := toString(out)
				if err != nil {
					return nil, fmt.Errorf("%s: ${%s}: %w", fieldString(f.path), p.expr.src, err)
				}
				s += str
			}
			val = s
		}
		if err := setPath(obj, f.path, val); err != nil {
			return nil, err
		}
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetNamespace(in.Object.GetNamespace())
	return u, nil
}

func toString(v ref.Val) (string, error) {
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Int:
		return strconv.FormatInt(int64(v), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(v), 10), nil
	case types.Double:
		return strconv.FormatFloat(float64(v), 'g', -1, 64), nil
	case types.Bool:
		return strconv.FormatBool(bool(v)), nil
	}
	return "", fmt.Errorf("a %s cannot be interpolated into a string", v.Type().TypeName())
}

// toJSON turns a CEL value into a JSON value of an unstructured object.
func toJSON(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return int64(v), nil
	case types.Double:
		return float64(v), nil
	case types.Bool:
		return bool(v), nil
	case types.Null:
		return nil, nil
	case traits.Lister:
		// Lists and maps element by element: a list or object from the
		// instance's spec does not convert to a structpb.Value.
		out := []any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			x, err := toJSON(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case traits.Mapper:
		out := map[string]any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			key, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map with a %s key cannot be a value: keys must be strings", k.Type().TypeName())
			}
			x, err := toJSON(v.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(key)] = x
		}
		return out, nil
	}
	native, err := v.ConvertToNative(reflect.TypeFor[*structpb.Value]())
	if err != nil {
		return nil, err
	}
	pv, ok := native.(*structpb.Value)
	if !ok {
		return nil, fmt.Errorf("cannot use a %s as a value", v.Type().TypeName())
	}
	return normalizeNumbers(pv.AsInterface()), nil
}

// normalizeNumbers turns whole float64s back into int64s (structpb has
// only doubles), so integer fields stay integers.
func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case float64:
		if v == float64(int64(v)) {
			return int64(v)
		}
		return v
	case map[string]any:
		for k, x := range v {
			v[k] = normalizeNumbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = normalizeNumbers(x)
		}
	}
	return v
}

func setPath(obj map[string]any, path []any, val any) error {
	var cur any = obj
	for i, p := range path {
		last := i == len(path)-1
		switch p := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: not an object", fieldString(path[:i]))
			}
			if last {
				m[p] = val
				return nil
			}
			cur = m[p]
		case int:
			l, ok := cur.([]any)
			if !ok || p >= len(l) {
				return fmt.Errorf("%s: not a list", fieldString(path[:i]))
			}
			if last {
				l[p] = val
				return nil
			}
			cur = l[p]
		}
	}
	return nil
}
