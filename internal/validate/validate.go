// Package validate checks a directory of manifests offline, the way the
// API server and the GitOps syncer would, without either: for CI on pull
// requests. Everything it knows comes from the CRDs embedded in the binary.
//
// It renders the directory (plain YAML or kustomize, as the syncer does),
// then reports every problem, each with file, line, object and field:
//
//   - render errors (YAML syntax, missing apiVersion, kind or name);
//   - kinds: an infraplane group with an unknown kind or version, a kind
//     neither infraplane's nor a known built-in (unless AllowUnknownKinds);
//   - kinds defined by Blueprints (in the directory or Options.Blueprints)
//     are checked against the schema the Blueprint gives them, and a
//     Blueprint that does not compile is a problem at its line;
//   - for infraplane's kinds, what the API server checks on create, with
//     the same libraries and so the same messages: unknown fields, defaults
//     applied first, metadata (name a DNS subdomain), the OpenAPI v3 schema,
//     list-type invariants and the x-kubernetes-validations CEL rules
//     (including root-level rules on metadata.name);
//   - what the syncer checks before applying (gitops.Check): namespace,
//     scope, duplicates, references by name.
//
// Not checked: transition rules (they compare with an object that exists
// only in a cluster), built-in kinds' schemas, admission webhooks and
// policies, and anything about the cloud.
package validate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	yamlv3 "go.yaml.in/yaml/v3"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/gitops"
)

// Options say what the directory is checked for.
type Options struct {
	// Namespace is the namespace the directory is applied to (a GitSource's
	// target namespace): objects naming another one are problems. Empty:
	// any one namespace, but objects naming different namespaces are a
	// problem.
	Namespace string
	// AllowUnknownKinds accepts kinds that are neither infraplane's nor a
	// known built-in (e.g. other CRDs): they are not schema-checked and are
	// assumed namespaced.
	AllowUnknownKinds bool
	// AllowExternalRefs accepts references by name to objects not in the
	// directory (assumed to exist in the namespace). Otherwise every
	// reference must resolve inside the directory.
	AllowExternalRefs bool
	// RefKinds are the kinds a field named ...<Kind>Ref may point at
	// (the keys of controllers.RefKinds). Empty: references are not checked.
	RefKinds []string
	// CRDs to validate against; nil means the CRDs embedded in the binary.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// Blueprints are directories of Blueprint manifests (the
	// platform team's): the kinds they define are checked too, and a
	// Blueprint that does not compile is a problem. Blueprints in the
	// directory itself count as well.
	Blueprints []string
	// Platform says the directory is a platform GitSource's (one in the
	// platform namespace), which may also apply Blueprints. A Namespace
	// of gitops.DefaultPlatformNamespace implies it.
	Platform bool
}

// Result is what Validate found.
type Result struct {
	// Dir is the directory as given, to prefix file paths with.
	Dir string `json:"dir"`
	// Objects is the number of objects rendered.
	Objects int `json:"objects"`
	// Problems, sorted by file and line. File paths are relative to Dir.
	Problems gitops.Problems `json:"problems"`
	// Notes say what was not checked, or assumed.
	Notes []string `json:"notes,omitempty"`
}

// Valid reports whether there are no problems.
func (r Result) Valid() bool { return len(r.Problems) == 0 }

// Summary is "N objects, M problems".
func (r Result) Summary() string {
	return fmt.Sprintf("%s, %s", plural(r.Objects, "object"), plural(len(r.Problems), "problem"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

var embedded = sync.OnceValues(func() (*catalog, error) {
	list, err := crds.Load()
	if err != nil {
		return nil, fmt.Errorf("loading the embedded CRDs: %w", err)
	}
	return newCatalog(list)
})

// item is a rendered object and, when it came from kustomize and was found
// in its source file, that document (for field lines).
type item struct {
	gitops.Object
	node *yamlv3.Node
}

func (it item) line(path string) int {
	if it.node != nil {
		return nodeLine(it.node, path)
	}
	return it.FieldLine(path)
}

func (it item) at(path string) gitops.Source {
	return gitops.Source{File: it.Source.File, Line: it.line(path)}
}

// Validate renders dir and checks it. It returns an error only when the
// directory cannot be checked at all (it does not exist, the CRDs do not
// load); everything wrong with the manifests is in Result.Problems.
func Validate(dir string, opts Options) (Result, error) {
	ctx := context.Background()
	res := Result{Dir: dir}
	var cat *catalog
	var err error
	if opts.CRDs != nil {
		cat, err = newCatalog(opts.CRDs)
	} else {
		cat, err = embedded()
	}
	if err != nil {
		return res, err
	}

	objs, rerr := gitops.Render(gitops.RepoRoot(dir), dir)
	if rerr != nil {
		ps, ok := renderProblems(dir, rerr)
		if !ok {
			return res, rerr
		}
		res.Problems = append(res.Problems, ps...)
	}
	res.Objects = len(objs)
	items := locate(dir, objs)

	// Kinds Blueprints define (in the directory or --blueprints) are
	// checked like infraplane's own.
	extra, bpProblems, err := blueprintKinds(items, opts.Blueprints)
	if err != nil {
		return res, err
	}
	res.Problems = append(res.Problems, bpProblems...)
	if len(extra) > 0 {
		base := opts.CRDs
		if base == nil {
			if base, err = crds.Load(); err != nil {
				return res, fmt.Errorf("loading the embedded CRDs: %w", err)
			}
		}
		if cat, err = newCatalog(append(slices.Clone(base), extra...)); err != nil {
			return res, err
		}
	}

	var builtins, unknowns []string // kinds seen, for the notes
	deprecated := map[string]int{}
	add := func(it item, field string, at gitops.Source, msg string) {
		res.Problems = append(res.Problems, gitops.Problem{Source: at, Object: it.ID(), Field: field, Msg: msg})
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "default" // only to satisfy "namespace is required"
	}
	for _, it := range items {
		gvk := it.GroupVersionKind()
		gk := gvk.GroupKind()
		if vs := cat.versions[gvk]; vs != nil {
			if vs.deprecated != "" {
				deprecated[vs.deprecated]++
			}
			r := vs.check(ctx, it.Object.Object, ns)
			for _, e := range r.errs {
				f := e.Field
				if f == "<nil>" {
					f = "" // a rule on the object's root
				}
				// A rule on an object whose message starts with a field in
				// it ("metadata.name is used as…") is about that field.
				if p := leadingPath(e.Detail, it.Object.Object); p != "" && (f == "" || strings.HasPrefix(p, f+".")) {
					f = p
				}
				add(it, f, it.at(f), e.ErrorBody())
			}
			for _, u := range r.unknown {
				add(it, u, it.at(u), fmt.Sprintf("unknown field %q", u))
			}
			if r.celBlocked {
				res.Notes = append(res.Notes, fmt.Sprintf("%s (%s): some validation rules were not checked because the object was invalid; correct the existing errors to complete validation", it.ID(), it.Source))
			}
			continue
		}
		if k := cat.kinds[gk]; k != nil {
			add(it, "apiVersion", it.at("apiVersion"), fmt.Sprintf("%s is not served in version %s; served: %s", gk.Kind, gvk.Version, versionList(gk.Group, k.served)))
			continue
		}
		if kinds, ours := cat.groups[gvk.Group]; ours {
			add(it, "kind", it.at("kind"), fmt.Sprintf("%s has no kind %s%s; its kinds are %s", gvk.Group, gvk.Kind, suggest(gvk.Kind, kinds), strings.Join(kinds, ", ")))
			continue
		}
		if b, ok := builtinKinds[gk]; ok {
			if !slices.Contains(b.versions, gvk.Version) {
				add(it, "apiVersion", it.at("apiVersion"), fmt.Sprintf("%s is not served in version %s; served: %s", gk.Kind, gvk.GroupVersion(), versionList(gk.Group, b.versions)))
				continue
			}
			builtins = appendUnique(builtins, gk.Kind)
			continue
		}
		if opts.AllowUnknownKinds {
			unknowns = appendUnique(unknowns, gvk.GroupVersion().String()+" "+gvk.Kind)
			continue
		}
		add(it, "kind", it.at("kind"), fmt.Sprintf("unknown kind %s in %s: neither infraplane's, nor a Blueprint's (pass --blueprints DIR), nor a known built-in kind (pass --allow-unknown-kinds if the cluster serves it)", gvk.Kind, gvk.GroupVersion()))
	}

	// One namespace: the syncer applies everything to its target.
	if opts.Namespace == "" {
		var first *item
		for i, it := range items {
			ns := it.GetNamespace()
			if ns == "" {
				continue
			}
			if first == nil {
				first = &items[i]
				continue
			}
			if ns != first.GetNamespace() {
				add(it, "metadata.namespace", it.at("metadata.namespace"), fmt.Sprintf("names namespace %q, but %s (%s) names %q: a directory is applied to one namespace (say which with --namespace)",
					ns, first.ID(), first.at("metadata.namespace"), first.GetNamespace()))
			}
		}
	}

	// What the syncer checks before applying.
	refKinds := opts.RefKinds
	if rerr != nil && len(refKinds) > 0 {
		refKinds = nil
		res.Notes = append(res.Notes, "references were not checked: some files could not be rendered, so the objects they define are unknown")
	}
	external := map[string]bool{}
	co := gitops.CheckOptions{
		TargetNamespace: opts.Namespace,
		Namespaced: func(gvk schema.GroupVersionKind) (bool, error) {
			if k := cat.kinds[gvk.GroupKind()]; k != nil {
				return k.namespaced, nil
			}
			if b, ok := builtinKinds[gvk.GroupKind()]; ok {
				return b.namespaced, nil
			}
			return true, nil // reported above, or allowed and assumed namespaced
		},
		RefKinds: refKinds,
		Platform: opts.Platform || opts.Namespace == gitops.DefaultPlatformNamespace,
	}
	if opts.AllowExternalRefs {
		co.Exists = func(kind, name string) bool {
			external[kind+"/"+name] = true
			return true
		}
	}
	plain := make([]gitops.Object, len(items))
	byDoc := map[string]item{}
	for i, it := range items {
		plain[i] = it.Object
		byDoc[it.Source.String()+" "+it.ID()] = it
	}
	for _, p := range gitops.Check(plain, co) {
		// Check places some problems at the document's line (and every
		// problem of a kustomize object, whose lines it does not know):
		// move those about a field to the field's line.
		if it, ok := byDoc[p.Source.String()+" "+p.Object]; ok && p.Field != "" {
			p.Source.Line = it.line(p.Field)
		}
		res.Problems = append(res.Problems, p)
	}

	if len(builtins) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("built-in Kubernetes kinds (%s) are checked for kind, namespace and duplicates, not against a schema: only infraplane's schemas are embedded", strings.Join(builtins, ", ")))
	}
	if len(unknowns) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("unknown kinds (%s) are allowed (--allow-unknown-kinds): not checked against a schema, and assumed namespaced", strings.Join(unknowns, ", ")))
	}
	if len(external) > 0 {
		refs := make([]string, 0, len(external))
		for r := range external {
			refs = append(refs, r)
		}
		sort.Strings(refs)
		res.Notes = append(res.Notes, fmt.Sprintf("references to objects outside the directory are assumed to exist (--allow-external-refs): %s", strings.Join(refs, ", ")))
	}
	for _, w := range slices.Sorted(maps.Keys(deprecated)) {
		res.Notes = append(res.Notes, fmt.Sprintf("%s (%s)", w, plural(deprecated[w], "object")))
	}

	sort.SliceStable(res.Problems, func(i, j int) bool {
		a, b := res.Problems[i].Source, res.Problems[j].Source
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return res, nil
}

// renderProblems turns Render's errors into problems; false when one of
// them is not about a file (the directory cannot be read).
func renderProblems(dir string, err error) (gitops.Problems, bool) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var ps gitops.Problems
	for _, e := range errs {
		var re *gitops.RenderError
		if !errors.As(e, &re) {
			return nil, false
		}
		ps = append(ps, refineRenderProblem(dir, gitops.Problem{Source: re.Source, Msg: re.Err.Error()}))
	}
	return ps, true
}

// locate finds kustomize-rendered objects (which have no line) in their
// source files.
func locate(dir string, objs []gitops.Object) []item {
	items := make([]item, len(objs))
	var ix *sourceIndex
	for i, o := range objs {
		items[i] = item{Object: o}
		if o.Source.Line > 0 {
			continue
		}
		if ix == nil {
			ix = indexKustomization(dir)
		}
		if d, ok := ix.find(o.GetKind(), o.GetName(), o.Source.File); ok {
			items[i].Source = gitops.Source{File: d.file, Line: d.node.Line}
			items[i].node = d.node
		}
	}
	return items
}

// leadingPath returns the field path a root-level rule's message starts
// with ("metadata.name is used as the topic id…"), when the object has
// that field: the line to point at.
func leadingPath(msg string, obj map[string]any) string {
	word, _, _ := strings.Cut(msg, " ")
	word = strings.TrimRight(word, ":,;")
	if !strings.Contains(word, ".") {
		return ""
	}
	if _, found, err := unstructured.NestedFieldNoCopy(obj, strings.Split(word, ".")...); err != nil || !found {
		return ""
	}
	return word
}

func versionList(group string, versions []string) string {
	out := make([]string, len(versions))
	for i, v := range versions {
		out[i] = schema.GroupVersion{Group: group, Version: v}.String()
	}
	return strings.Join(out, ", ")
}

// suggest returns " (did you mean X?)" when kind differs from one of kinds
// only in case.
func suggest(kind string, kinds []string) string {
	for _, k := range kinds {
		if strings.EqualFold(k, kind) {
			return fmt.Sprintf(" (did you mean %s?)", k)
		}
	}
	return ""
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
