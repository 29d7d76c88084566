package gitops

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/refs"
)

// Problem is one thing wrong with a set of manifests, located as precisely
// as known: file, line, object and field.
type Problem struct {
	Source Source `json:"source"`
	Object string `json:"object,omitempty"` // Kind/name
	Field  string `json:"field,omitempty"`
	Msg    string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source.String())
	if p.Object != "" {
		b.WriteString(": " + p.Object)
	}
	if p.Field != "" {
		b.WriteString(": " + p.Field)
	}
	b.WriteString(": " + p.Msg)
	return b.String()
}

// Problems is a list of problems; as an error it lists them all.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// CheckOptions tell Check about the world outside the manifests.
type CheckOptions struct {
	// TargetNamespace is where the objects go; a manifest naming another
	// namespace is a problem.
	TargetNamespace string
	// Namespaced says whether a kind is namespaced; an error means the kind
	// is unknown.
	Namespaced func(gvk schema.GroupVersionKind) (bool, error)
	// Exists says whether an object of kind with name exists outside the
	// manifests (in the target namespace); nil means only the manifests count.
	Exists func(kind, name string) bool
	// RefKinds are the kinds that references may point at (e.g. "Topic"):
	// a spec field named ...<Kind>Ref with a name refers to that kind.
	RefKinds []string
	// Platform says the objects come from the platform namespace, whose
	// sources may also apply Blueprints (cluster-scoped); PlatformNamespace
	// names it in messages.
	Platform          bool
	PlatformNamespace string
}

// PlatformClusterScoped says whether a cluster-scoped kind may come from a
// GitSource in the platform namespace: only Blueprints, so far.
func PlatformClusterScoped(gvk schema.GroupVersionKind) bool {
	return gvk.Group == corev1alpha1.GroupVersion.Group && gvk.Kind == "Blueprint"
}

// Check finds what would make applying the manifests wrong before anything
// is applied: unknown or cluster-scoped kinds, objects for another
// namespace, duplicates, and references by name to objects that exist
// neither in the manifests nor (when Exists is set) in the namespace.
func Check(objs []Object, o CheckOptions) Problems {
	var ps Problems
	type key struct{ gk, name string }
	seen := map[key]Source{}
	names := map[string]map[string]bool{} // kind -> names in the set
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		if gvk.Group == corev1alpha1.GroupVersion.Group && gvk.Kind == "BreakGlass" {
			// Who opened it must be a person the webhook authenticated, and
			// git's changes are what a break-glass bypasses.
			ps = append(ps, Problem{Source: Source{obj.Source.File, obj.FieldLine("kind")}, Object: obj.ID(), Field: "kind",
				Msg: "a BreakGlass is opened by a person, not applied from git: infraplane breakglass open"})
			continue
		}
		if o.Namespaced != nil {
			namespaced, err := o.Namespaced(gvk)
			if err != nil {
				ps = append(ps, Problem{Source: Source{obj.Source.File, obj.FieldLine("kind")}, Object: obj.ID(), Field: "kind",
					Msg: fmt.Sprintf("unknown kind %s in %s (is the apiVersion right?)", gvk.Kind, gvk.GroupVersion())})
				continue
			}
			if !namespaced {
				if p, ok := clusterScopedProblem(obj, o); !ok {
					ps = append(ps, p)
					continue
				}
			}
		}
		if ns := obj.GetNamespace(); ns != "" && o.TargetNamespace != "" && !PlatformClusterScoped(gvk) && ns != o.TargetNamespace {
			ps = append(ps, Problem{Source: Source{obj.Source.File, obj.FieldLine("metadata.namespace")}, Object: obj.ID(), Field: "metadata.namespace",
				Msg: fmt.Sprintf("names namespace %q, but this source applies to %q: remove metadata.namespace or move the file", ns, o.TargetNamespace)})
		}
		k := key{gvk.GroupKind().String(), obj.GetName()}
		if first, dup := seen[k]; dup {
			ps = append(ps, Problem{Source: Source{obj.Source.File, obj.FieldLine("metadata.name")}, Object: obj.ID(), Field: "metadata.name",
				Msg: fmt.Sprintf("duplicate: %s is also defined at %s", obj.ID(), first)})
			continue
		}
		seen[k] = Source{obj.Source.File, obj.FieldLine("metadata.name")}
		if names[gvk.Kind] == nil {
			names[gvk.Kind] = map[string]bool{}
		}
		names[gvk.Kind][obj.GetName()] = true
	}

	for _, obj := range objs {
		if !refs.Follows(obj.GroupVersionKind().Group) {
			continue // matched by API group as well as kind name
		}
		for _, r := range refs.InSpec(obj.Unstructured, o.RefKinds) {
			if r.Name == "" || names[r.Kind][r.Name] || (o.Exists != nil && o.Exists(r.Kind, r.Name)) {
				continue
			}
			msg := fmt.Sprintf("refers to %s %q, which is not in these manifests", r.Kind, r.Name)
			if o.Exists != nil {
				msg = fmt.Sprintf("refers to %s %q, which exists neither in these manifests nor in namespace %q", r.Kind, r.Name, o.TargetNamespace)
			}
			ps = append(ps, Problem{Source: Source{obj.Source.File, obj.FieldLine(r.Field)}, Object: obj.ID(), Field: r.Field, Msg: msg})
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Source.File != ps[j].Source.File {
			return ps[i].Source.File < ps[j].Source.File
		}
		return ps[i].Source.Line < ps[j].Source.Line
	})
	return ps
}

// clusterScopedProblem says whether a cluster-scoped object may be applied
// from these manifests, and if not, why and where it could come from.
func clusterScopedProblem(obj Object, o CheckOptions) (Problem, bool) {
	gvk := obj.GroupVersionKind()
	platform := o.PlatformNamespace
	if platform == "" {
		platform = DefaultPlatformNamespace
	}
	p := Problem{Source: Source{obj.Source.File, obj.FieldLine("kind")}, Object: obj.ID(), Field: "kind"}
	switch {
	case PlatformClusterScoped(gvk) && o.Platform:
		return p, true
	case PlatformClusterScoped(gvk):
		p.Msg = fmt.Sprintf("%s is cluster-scoped: only a GitSource in the platform namespace %q applies Blueprints; move this file to the platform team's repository", gvk.Kind, platform)
	default:
		p.Msg = fmt.Sprintf("%s is cluster-scoped: a GitSource applies only namespaced objects to its namespace (and, in the platform namespace %q, Blueprints)", gvk.Kind, platform)
	}
	return p, false
}
