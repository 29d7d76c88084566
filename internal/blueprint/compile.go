// Package blueprint turns a Blueprint into a new kind: it compiles the
// Blueprint's templates and CEL expressions (compile.go), generates the
// kind's CustomResourceDefinition (crd.go), and reconciles Blueprints and
// their instances (controller.go, instance.go).
package blueprint

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// evalCostLimit bounds one evaluation of an expression. The platform team
// writes the expressions, but each team's instance is their input: a
// template whose cost grows faster than its input (a map inside a map)
// must not let a team's large spec hold the instance workers every team
// shares. The bound is the Kubernetes API server's for one CEL validation
// rule; an expression over it fails its instance with the reason.
var evalCostLimit = cel.CostLimit(1_000_000)

// Compiled is a Blueprint checked and ready to render instances.
type Compiled struct {
	// GVK is the instances' kind; Plural its resource name.
	GVK    schema.GroupVersionKind
	Plural string
	// SpecSchema is the schema of an instance's spec.
	SpecSchema *apiextensionsv1.JSONSchemaProps
	// Resources in creation order: each after every resource it refers to.
	Resources []*Resource

	structural *structuralschema.Structural
	byID       map[string]*Resource
}

// Resource is one compiled template.
type Resource struct {
	ID string
	// GVK of the child (apiVersion and kind are literal in the template).
	GVK schema.GroupVersionKind
	// DependsOn are the ids of the resources its expressions refer to,
	// sorted.
	DependsOn []string

	template    map[string]any
	fields      []*exprField
	includeWhen []*program
	readyWhen   []*program
}

// exprField is a template value holding expressions.
type exprField struct {
	path  []any // string keys and int indexes from the template's root
	whole bool  // the value is exactly one expression: keep its type
	parts []part
	typ   *cel.Type // the expression's type when whole, else string
}

// part is a literal string or an expression.
type part struct {
	lit  string
	expr *program
}

type program struct {
	src  string
	prog cel.Program
}

// Error is an expression or template error, naming where it is.
type Error struct {
	// Resource is the resource id ("" for the Blueprint as a whole).
	Resource string
	// Field is the path of the value, e.g. spec.resources[sub].template.spec.ackDeadlineSeconds.
	Field string
	// Expression is the expression as written, without ${}.
	Expression string
	// Message says what is wrong (with the column in the expression).
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Field)
	if e.Expression != "" {
		fmt.Fprintf(&b, ": expression ${%s}", e.Expression)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// Errors are every error found in one Blueprint.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Variables in expressions.
const (
	varSpec      = "spec"
	varMetadata  = "metadata"
	varResources = "resources"
	varSelf      = "self"
)

// Compile checks a Blueprint: the schema is structural, every template
// names its kind and a name, every expression type-checks (spec typed by
// the schema, resources.<id> only for declared ids), and the references
// between resources have no cycle. All errors are returned at once, as
// Errors.
func Compile(bp *corev1alpha1.Blueprint) (*Compiled, error) {
	var errs Errors
	root := field.NewPath("spec")
	c := &Compiled{
		GVK:    schema.GroupVersionKind{Group: bp.Spec.Group, Version: bp.Spec.Version, Kind: bp.Spec.Kind},
		Plural: bp.Spec.Plural,
		byID:   map[string]*Resource{},
	}
	if c.Plural == "" {
		c.Plural = strings.ToLower(bp.Spec.Kind) + "s"
	}
	if c.GVK.Group == "" || c.GVK.Version == "" || c.GVK.Kind == "" {
		errs = append(errs, &Error{Field: root.String(), Message: "group, version and kind are required"})
	}

	// The schema of the spec, typed for CEL.
	props := &apiextensionsv1.JSONSchemaProps{Type: "object"}
	if len(bp.Spec.Schema.Raw) > 0 {
		props = &apiextensionsv1.JSONSchemaProps{}
		if err := json.Unmarshal(bp.Spec.Schema.Raw, props); err != nil {
			return nil, Errors{{Field: root.Child("schema").String(), Message: "not an OpenAPI v3 schema: " + err.Error()}}
		}
	}
	if props.Type != "object" {
		return nil, Errors{{Field: root.Child("schema", "type").String(), Message: `must be "object"`}}
	}
	c.SpecSchema = props
	internal := &apiextensionsinternal.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(props, internal, nil); err != nil {
		return nil, Errors{{Field: root.Child("schema").String(), Message: err.Error()}}
	}
	st, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, Errors{{Field: root.Child("schema").String(), Message: "not structural: " + err.Error()}}
	}
	if fe := structuralschema.ValidateStructural(root.Child("schema"), st); len(fe) > 0 {
		return nil, Errors{{Field: root.Child("schema").String(), Message: "not structural: " + fe.ToAggregate().Error()}}
	}
	c.structural = st

	// Resources and the environments their expressions compile in.
	ids := map[string]bool{}
	kinds := map[string]schema.GroupVersionKind{}
	for i, r := range bp.Spec.Resources {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if json.Unmarshal(r.Template.Raw, &head) == nil {
			if gv, err := schema.ParseGroupVersion(head.APIVersion); err == nil {
				kinds[r.ID] = gv.WithKind(head.Kind)
			}
		}
		p := root.Child("resources").Key(r.ID)
		if r.ID == "" {
			p = root.Child("resources").Index(i)
			errs = append(errs, &Error{Field: p.Child("id").String(), Message: "required"})
		}
		if ids[r.ID] {
			errs = append(errs, &Error{Resource: r.ID, Field: p.Child("id").String(), Message: "duplicate id"})
		}
		ids[r.ID] = true
	}
	for id := range ids {
		if _, ok := kinds[id]; !ok {
			kinds[id] = schema.GroupVersionKind{}
		}
	}
	envs, err := newEnvs(st, kinds)
	if err != nil {
		return nil, Errors{{Field: root.Child("schema").String(), Message: "cannot be used in expressions: " + err.Error()}}
	}
	for _, r := range bp.Spec.Resources {
		res, rerrs := compileResource(envs, root.Child("resources").Key(r.ID), r)
		errs = append(errs, rerrs...)
		if res != nil {
			c.Resources = append(c.Resources, res)
			c.byID[res.ID] = res
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	order, err := topoOrder(c.Resources)
	if err != nil {
		return nil, Errors{{Field: root.Child("resources").String(), Message: err.Error()}}
	}
	c.Resources = order
	return c, nil
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// envs are the CEL environments of the three kinds of expression.
type envs struct {
	template *cel.Env // spec, metadata, resources.<id>
	include  *cel.Env // spec, metadata
	ready    *cel.Env // spec, metadata, self
}

func newEnvs(spec *structuralschema.Structural, children map[string]schema.GroupVersionKind) (*envs, error) {
	specType := model.SchemaDeclType(spec, false)
	if specType == nil {
		return nil, fmt.Errorf("the schema has no type CEL can use")
	}
	specType = specType.MaybeAssignTypeName("blueprint.spec")
	str := apiservercel.StringType
	strMap := apiservercel.NewMapType(str, str, -1)
	metaType := apiservercel.NewObjectType("blueprint.metadata", map[string]*apiservercel.DeclField{
		"name":        apiservercel.NewDeclField("name", str, true, nil, nil),
		"namespace":   apiservercel.NewDeclField("namespace", str, true, nil, nil),
		"labels":      apiservercel.NewDeclField("labels", strMap, true, nil, nil),
		"annotations": apiservercel.NewDeclField("annotations", strMap, true, nil, nil),
	})
	resFields := map[string]*apiservercel.DeclField{}
	templateTypes := []*apiservercel.DeclType{specType, metaType}
	for id, gvk := range children {
		t := childDeclType(id, gvk)
		resFields[id] = apiservercel.NewDeclField(id, t, true, nil, nil)
		if t.IsObject() {
			templateTypes = append(templateTypes, t)
		}
	}
	resType := apiservercel.NewObjectType("blueprint.resources", resFields)
	templateTypes = append(templateTypes, resType)

	base := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	build := func(vars []cel.EnvOption, types ...*apiservercel.DeclType) (*cel.Env, error) {
		set, err := base.Extend(environment.VersionedOptions{
			IntroducedVersion: version.MajorMinor(1, 0),
			EnvOptions:        vars,
			DeclTypes:         types,
		})
		if err != nil {
			return nil, err
		}
		return set.Env(environment.NewExpressions)
	}
	var e envs
	var err error
	if e.template, err = build([]cel.EnvOption{
		cel.Variable(varSpec, specType.CelType()),
		cel.Variable(varMetadata, metaType.CelType()),
		cel.Variable(varResources, resType.CelType()),
	}, templateTypes...); err != nil {
		return nil, err
	}
	if e.include, err = build([]cel.EnvOption{
		cel.Variable(varSpec, specType.CelType()),
		cel.Variable(varMetadata, metaType.CelType()),
	}, specType, metaType); err != nil {
		return nil, err
	}
	if e.ready, err = build([]cel.EnvOption{
		cel.Variable(varSpec, specType.CelType()),
		cel.Variable(varMetadata, metaType.CelType()),
		cel.Variable(varSelf, cel.DynType),
	}, specType, metaType); err != nil {
		return nil, err
	}
	return &e, nil
}

func compileResource(e *envs, p *field.Path, r corev1alpha1.BlueprintResource) (*Resource, Errors) {
	var errs Errors
	fail := func(path *field.Path, expr, msg string) {
		errs = append(errs, &Error{Resource: r.ID, Field: path.String(), Expression: expr, Message: msg})
	}
	res := &Resource{ID: r.ID}
	tp := p.Child("template")
	if err := json.Unmarshal(r.Template.Raw, &res.template); err != nil || res.template == nil {
		fail(tp, "", "not a JSON object")
		return nil, errs
	}
	apiVersion, _ := res.template["apiVersion"].(string)
	kind, _ := res.template["kind"].(string)
	if apiVersion == "" || kind == "" || strings.Contains(apiVersion+kind, "${") {
		fail(tp, "", "apiVersion and kind are required, without expressions")
	} else if gv, err := schema.ParseGroupVersion(apiVersion); err != nil {
		fail(tp.Child("apiVersion"), "", err.Error())
	} else {
		res.GVK = gv.WithKind(kind)
	}
	meta, _ := res.template["metadata"].(map[string]any)
	if name, _ := meta["name"].(string); name == "" {
		fail(tp.Child("metadata", "name"), "", "required (an expression such as ${metadata.name}-topic makes it unique per instance)")
	}
	if _, ok := meta["namespace"]; ok {
		fail(tp.Child("metadata", "namespace"), "", "must not be set: children live in their instance's namespace")
	}

	deps := map[string]bool{}
	var walk func(v any, path []any, fp *field.Path)
	walk = func(v any, path []any, fp *field.Path) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(func(yield func(string) bool) {
				for k := range v {
					if !yield(k) {
						return
					}
				}
			}) {
				if strings.Contains(k, "${") {
					fail(fp.Child(k), "", "expressions are not allowed in keys")
					continue
				}
				walk(v[k], append(slices.Clone(path), k), fp.Child(k))
			}
		case []any:
			for i, x := range v {
				walk(x, append(slices.Clone(path), i), fp.Index(i))
			}
		case string:
			segs, err := splitExpressions(v)
			if err != nil {
				fail(fp, "", err.Error())
				return
			}
			if len(segs) == 1 && !segs[0].isExpr {
				return
			}
			f := &exprField{path: path, whole: len(segs) == 1}
			for _, s := range segs {
				if !s.isExpr {
					f.parts = append(f.parts, part{lit: s.text})
					continue
				}
				ast, msg := check(e.template, s.text)
				if msg != "" {
					fail(fp, s.text, msg)
					continue
				}
				if !f.whole && !interpolable(ast.OutputType()) {
					fail(fp, s.text, fmt.Sprintf("is a %s inside a string: only strings, numbers and booleans can be interpolated", ast.OutputType()))
					continue
				}
				for _, d := range references(ast) {
					deps[d] = true
				}
				prog, err := e.template.Program(ast, evalCostLimit)
				if err != nil {
					fail(fp, s.text, err.Error())
					continue
				}
				f.parts = append(f.parts, part{expr: &program{src: s.text, prog: prog}})
				f.typ = ast.OutputType()
			}
			if !f.whole {
				f.typ = cel.StringType
			}
			res.fields = append(res.fields, f)
		}
	}
	walk(res.template, nil, tp)

	compileBools := func(env *cel.Env, exprs []string, fp *field.Path) []*program {
		var out []*program
		for i, src := range exprs {
			src = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(src), "${"), "}"))
			ast, msg := check(env, src)
			if msg != "" {
				fail(fp.Index(i), src, msg)
				continue
			}
			if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
				fail(fp.Index(i), src, fmt.Sprintf("must be a bool, is a %s", t))
				continue
			}
			prog, err := env.Program(ast, evalCostLimit)
			if err != nil {
				fail(fp.Index(i), src, err.Error())
				continue
			}
			out = append(out, &program{src: src, prog: prog})
		}
		return out
	}
	if st, ok := kindSchemas()[res.GVK]; ok && len(errs) == 0 {
		errs = append(errs, checkTemplate(r.ID, st, res, tp)...)
	}
	res.includeWhen = compileBools(e.include, r.IncludeWhen, p.Child("includeWhen"))
	res.readyWhen = compileBools(e.ready, r.ReadyWhen, p.Child("readyWhen"))
	res.DependsOn = slices.Sorted(mapsKeys(deps))
	if len(errs) > 0 {
		return nil, errs
	}
	return res, nil
}

// check parses and type-checks one expression; the message of a failure
// gives the column of each problem.
func check(env *cel.Env, src string) (*cel.Ast, string) {
	if strings.TrimSpace(src) == "" {
		return nil, "empty expression"
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("column %d: %s", e.Location.Column()+1, e.Message))
		}
		return nil, strings.Join(msgs, "; ")
	}
	return ast, ""
}

func interpolable(t *cel.Type) bool {
	switch t {
	case cel.StringType, cel.IntType, cel.UintType, cel.DoubleType, cel.BoolType, cel.DynType:
		return true
	}
	return false
}

// references are the resource ids an expression reads (resources.<id>).
func references(ast *cel.Ast) []string {
	var out []string
	celast.PreOrderVisit(celast.NavigateAST(ast.NativeRep()), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.SelectKind {
			return
		}
		s := e.AsSelect()
		if op := s.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == varResources {
			if !slices.Contains(out, s.FieldName()) {
				out = append(out, s.FieldName())
			}
		}
	}))
	return out
}

// segment is a literal piece of a string or the source of a ${…}.
type segment struct {
	text   string
	isExpr bool
}

// splitExpressions finds the ${…} in s. Braces inside an expression nest,
// and quoted strings in it may hold any character.
func splitExpressions(s string) ([]segment, error) {
	var out []segment
	lit := strings.Builder{}
	for i := 0; i < len(s); {
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		start := i + 2
		depth := 1
		j := start
		var quote byte
		for ; j < len(s) && depth > 0; j++ {
			ch := s[j]
			switch {
			case quote != 0:
				if ch == '\\' {
					j++
				} else if ch == quote {
					quote = 0
				}
			case ch == '"' || ch == '\'':
				quote = ch
			case ch == '{':
				depth++
			case ch == '}':
				depth--
			}
		}
		if depth > 0 {
			return nil, fmt.Errorf("unterminated expression at offset %d: %q", i, s[i:])
		}
		if lit.Len() > 0 {
			out = append(out, segment{text: lit.String()})
			lit.Reset()
		}
		out = append(out, segment{text: strings.TrimSpace(s[start : j-1]), isExpr: true})
		i = j
	}
	if lit.Len() > 0 || len(out) == 0 {
		out = append(out, segment{text: lit.String()})
	}
	return out, nil
}

// topoOrder sorts resources so that each comes after what it depends on,
// keeping the Blueprint's order where the references allow; a cycle or a
// reference to an unknown id is an error naming the resources.
func topoOrder(rs []*Resource) ([]*Resource, error) {
	index := map[string]int{}
	for i, r := range rs {
		index[r.ID] = i
	}
	for _, r := range rs {
		for _, d := range r.DependsOn {
			if _, ok := index[d]; !ok {
				return nil, fmt.Errorf("resource %s refers to resources.%s, which is not declared", r.ID, d)
			}
			if d == r.ID {
				return nil, fmt.Errorf("resource %s refers to itself", r.ID)
			}
		}
	}
	done := make([]bool, len(rs))
	var out []*Resource
	for len(out) < len(rs) {
		progressed := false
		for i, r := range rs {
			if done[i] {
				continue
			}
			ready := true
			for _, d := range r.DependsOn {
				if !done[index[d]] {
					ready = false
					break
				}
			}
			if ready {
				done[i] = true
				out = append(out, r)
				progressed = true
				break // restart: keep declaration order among the ready
			}
		}
		if !progressed {
			return nil, fmt.Errorf("the resources' references form a cycle: %s", describeCycle(rs, done, index))
		}
	}
	return out, nil
}

// describeCycle follows dependencies among the unsorted resources until
// one repeats: "a → b → a".
func describeCycle(rs []*Resource, done []bool, index map[string]int) string {
	start := -1
	for i := range rs {
		if !done[i] {
			start = i
			break
		}
	}
	seen := map[int]int{}
	var path []string
	for cur := start; ; {
		if at, ok := seen[cur]; ok {
			return strings.Join(append(path[at:], rs[cur].ID), " → ")
		}
		seen[cur] = len(path)
		path = append(path, rs[cur].ID)
		next := -1
		for _, d := range rs[cur].DependsOn {
			if !done[index[d]] {
				next = index[d]
				break
			}
		}
		if next < 0 {
			return strings.Join(path, " → ")
		}
		cur = next
	}
}

// Resource returns the compiled resource id, or nil.
func (c *Compiled) Resource(id string) *Resource { return c.byID[id] }

// Dependents are the ids of the resources that refer to id.
func (c *Compiled) Dependents(id string) []string {
	var out []string
	for _, r := range c.Resources {
		if slices.Contains(r.DependsOn, id) {
			out = append(out, r.ID)
		}
	}
	sort.Strings(out)
	return out
}

// fieldString prints a template path as a.b[0].c.
func fieldString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		}
	}
	return b.String()
}
