package importer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// Options say what to import and where to write it.
type Options struct {
	// Listers are every kind's lister (controllers.Importers).
	Listers []Lister
	// Kinds selects kinds by name, case-insensitively, singular or plural
	// ("topic", "Subscriptions"); empty means every kind.
	Kinds []string
	// Provider is the project (and endpoints) to list.
	Provider *provider.Config
	// Namespace is set on every manifest.
	Namespace string
	// Managed reports whether an object already manages the cloud
	// resource with this selfLink (nil: none does).
	Managed func(gvkKind, selfLink string) bool
}

// Resource is one manifest to write.
type Resource struct {
	Kind, Name, SelfLink string
	Object               *unstructured.Unstructured
}

// Skipped is a cloud resource not imported, and why.
type Skipped struct {
	Kind, SelfLink, Why string
}

// Collect lists the selected kinds and returns what no object manages yet.
func Collect(ctx context.Context, o Options) ([]Resource, []Skipped, error) {
	listers, err := selectKinds(o.Listers, o.Kinds)
	if err != nil {
		return nil, nil, err
	}
	var out []Resource
	var skipped []Skipped
	for _, l := range listers {
		kind := l.GVK().Kind
		found, err := l.List(ctx, o.Provider)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", kind, err)
		}
		names := map[string]int{}
		for _, f := range found {
			switch {
			case f.Owner != "":
				skipped = append(skipped, Skipped{kind, f.SelfLink, "owned by infraplane object " + f.Owner})
				continue
			case o.Managed != nil && o.Managed(kind, f.SelfLink):
				skipped = append(skipped, Skipped{kind, f.SelfLink, "an object already manages it"})
				continue
			}
			// A manifest the namespace's ProviderConfig would refuse is not
			// written: applying it would only be refused.
			if why := outsideProjects(o.Provider, f); why != "" {
				skipped = append(skipped, Skipped{kind, f.SelfLink, why})
				continue
			}
			obj := f.Object.DeepCopy()
			obj.SetNamespace(o.Namespace)
			// Two ids that map to one object name: number the later ones,
			// keeping the cloud id in spec.resourceID (the name no longer
			// is the id; without it, applying would create a new resource).
			name := obj.GetName()
			if n := names[name]; n > 0 {
				if id, _, _ := unstructured.NestedString(obj.Object, "spec", "resourceID"); id == "" {
					if err := unstructured.SetNestedField(obj.Object, name, "spec", "resourceID"); err != nil {
						return nil, nil, err
					}
				}
				obj.SetName(fmt.Sprintf("%s-%d", name, n+1))
			}
			names[name]++
			out = append(out, Resource{Kind: kind, Name: obj.GetName(), SelfLink: f.SelfLink, Object: obj})
		}
	}
	return out, skipped, nil
}

// Write writes one file per resource into dir (kind-name.yaml) and returns
// their paths. An existing file is not overwritten.
func Write(dir string, rs []Resource) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, r := range rs {
		b, err := yaml.Marshal(r.Object.Object)
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, strings.ToLower(r.Kind)+"-"+r.Name+".yaml")
		head := fmt.Sprintf("# Imported from %s by infraplane import: applying it adopts the resource, changing nothing.\n", r.SelfLink)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return paths, fmt.Errorf("%w (not overwritten: move it away or choose another --out)", err)
		}
		_, werr := f.Write(append([]byte(head), b...))
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return paths, werr
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// selectKinds picks the listers named in kinds.
func selectKinds(all []Lister, kinds []string) ([]Lister, error) {
	if len(kinds) == 0 {
		return all, nil
	}
	var out []Lister
	seen := map[int]bool{}
	var known []string
	for _, l := range all {
		known = append(known, strings.ToLower(l.GVK().Kind))
	}
	for _, k := range kinds {
		want := strings.ToLower(strings.TrimSpace(k))
		i := slices.IndexFunc(all, func(l Lister) bool {
			n := strings.ToLower(l.GVK().Kind)
			return want == n || want == n+"s" || want == n+"es"
		})
		if i < 0 {
			return nil, fmt.Errorf("--kind %q: import knows %s", k, strings.Join(known, ", "))
		}
		if !seen[i] {
			seen[i] = true
			out = append(out, all[i])
		}
	}
	return out, nil
}

// outsideProjects says why the ProviderConfig would refuse f's manifest:
// the resource outside its project, or a reference outside its project
// and referenceProjects; "" when it would not.
func outsideProjects(p *provider.Config, f Found) string {
	if p == nil {
		return ""
	}
	if err := p.Confine("the resource", f.SelfLink, true); err != nil {
		return err.Error()
	}
	spec, _ := f.Object.Object["spec"].(map[string]any)
	for _, r := range managed.ExternalRefs(spec, "spec") {
		if err := p.Confine(r.Field, r.Name, false); err != nil {
			return err.Error()
		}
	}
	return ""
}
