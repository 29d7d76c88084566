package validate

import (
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
	"github.com/infraplane/infraplane/internal/gitops"
)

// blueprintKinds compiles the Blueprints among items and in the
// Options.Blueprints paths: each one that compiles contributes its kind's
// CRD, so instances (a Queue) are checked against the Blueprint's schema
// as the API server would check them; each one that does not is a
// problem at its file and line, as the Blueprint webhook would refuse it.
func blueprintKinds(items []item, paths []string) ([]*apiextensionsv1.CustomResourceDefinition, gitops.Problems, error) {
	type found struct {
		obj gitops.Object
		at  func(string) gitops.Source
		dir string
	}
	var bps []found
	for _, it := range items {
		if isBlueprint(it.Object) {
			bps = append(bps, found{obj: it.Object, at: it.at})
		}
	}
	for _, p := range paths {
		objs, err := gitops.Render(gitops.RepoRoot(p), p)
		if err != nil {
			return nil, nil, fmt.Errorf("reading Blueprints from %s: %w", p, err)
		}
		for _, it := range locate(p, objs) {
			if isBlueprint(it.Object) {
				bps = append(bps, found{obj: it.Object, at: it.at, dir: p})
			}
		}
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	var problems gitops.Problems
	for _, f := range bps {
		bp := &corev1alpha1.Blueprint{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(f.obj.Object, bp); err != nil {
			problems = append(problems, blueprintProblem(f.at(""), f.dir, f.obj, "", "not a Blueprint: "+err.Error()))
			continue
		}
		compiled, err := blueprint.Compile(bp)
		if err != nil {
			errs, ok := err.(blueprint.Errors)
			if !ok {
				problems = append(problems, blueprintProblem(f.at(""), f.dir, f.obj, "", err.Error()))
				continue
			}
			for _, e := range errs {
				msg := e.Message
				if e.Expression != "" {
					msg = fmt.Sprintf("expression ${%s}: %s", e.Expression, msg)
				}
				problems = append(problems, blueprintProblem(f.at(templatePath(bp, e.Field)), f.dir, f.obj, e.Field, msg))
			}
			continue
		}
		out = append(out, compiled.CRD(bp.Name))
	}
	return out, problems, nil
}

func isBlueprint(o gitops.Object) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == corev1alpha1.GroupVersion.Group && gvk.Kind == "Blueprint"
}

// blueprintProblem places a Blueprint's problem; the file of a Blueprint
// read from --blueprints is prefixed with that path.
func blueprintProblem(at gitops.Source, dir string, o gitops.Object, field, msg string) gitops.Problem {
	if dir != "" {
		at.File = strings.TrimSuffix(dir, "/") + "/" + at.File
	}
	return gitops.Problem{Source: at, Object: "Blueprint/" + o.GetName(), Field: field, Msg: msg}
}

// templatePath turns a compile error's field, such as
// spec.resources[subscription].template.spec.ackDeadlineSeconds, into the
// manifest path whose line locate can find (resources are a list by
// index in the file).
func templatePath(bp *corev1alpha1.Blueprint, field string) string {
	const prefix = "spec.resources["
	rest, ok := strings.CutPrefix(field, prefix)
	if !ok {
		return field
	}
	id, tail, ok := strings.Cut(rest, "]")
	if !ok {
		return field
	}
	for i, r := range bp.Spec.Resources {
		if r.ID == id {
			return fmt.Sprintf("spec.resources[%d]%s", i, tail)
		}
	}
	return "spec.resources"
}
