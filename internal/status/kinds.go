package status

import (
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/crds"
)

// managedGroupSuffix marks the API groups of managed kinds: every group
// ending with it (pubsub.infraplane.dev, …) holds cloud resources with the
// common status shape. The core group infraplane.dev itself does not.
const managedGroupSuffix = ".infraplane.dev"

// Kind is a kind status knows about, from a CRD.
type Kind struct {
	Group      string   `json:"group"`
	Version    string   `json:"version"`
	Kind       string   `json:"kind"`
	Plural     string   `json:"plural"`
	Singular   string   `json:"singular,omitempty"`
	ShortNames []string `json:"shortNames,omitempty"`
	Namespaced bool     `json:"namespaced"`
	// Blueprint is the Blueprint that defines the kind ("" for the kinds
	// of infraplane's own CRDs): its objects are Blueprint instances.
	Blueprint string `json:"blueprint,omitempty"`
}

// GVK is the kind's group, version and kind.
func (k Kind) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
}

// Managed reports whether the kind is a managed cloud resource. A kind a
// Blueprint defines is not, even in a group such as platform.infraplane.dev.
func (k Kind) Managed() bool { return k.Blueprint == "" && IsManagedGroup(k.Group) }

// IsInstance reports whether the kind is one a Blueprint defines.
func (k Kind) IsInstance() bool { return k.Blueprint != "" }

// IsGitSource reports whether the kind is the GitOps GitSource.
func (k Kind) IsGitSource() bool {
	return k.Group == corev1alpha1.GroupVersion.Group && k.Kind == "GitSource"
}

// IsManagedGroup reports whether an API group holds managed kinds.
func IsManagedGroup(group string) bool { return strings.HasSuffix(group, managedGroupSuffix) }

// KindsFromCRDs lists the kinds the CRDs define, each at its storage
// version (else its first served one), sorted by group and kind.
func KindsFromCRDs(list []*apiextensionsv1.CustomResourceDefinition) []Kind {
	var out []Kind
	for _, c := range list {
		version := ""
		for _, v := range c.Spec.Versions {
			if v.Storage {
				version = v.Name
				break
			}
			if version == "" && v.Served {
				version = v.Name
			}
		}
		if version == "" {
			continue
		}
		out = append(out, Kind{
			Group:      c.Spec.Group,
			Version:    version,
			Kind:       c.Spec.Names.Kind,
			Plural:     c.Spec.Names.Plural,
			Singular:   c.Spec.Names.Singular,
			ShortNames: slices.Clone(c.Spec.Names.ShortNames),
			Namespaced: c.Spec.Scope == apiextensionsv1.NamespaceScoped,
		})
	}
	slices.SortFunc(out, func(a, b Kind) int {
		return strings.Compare(a.Group+"/"+a.Kind, b.Group+"/"+b.Kind)
	})
	return out
}

// LoadKinds returns the kinds of the CRDs embedded in this binary.
func LoadKinds() ([]Kind, error) {
	list, err := crds.Load()
	if err != nil {
		return nil, err
	}
	return KindsFromCRDs(list), nil
}

// ManagedKinds returns the managed, namespaced kinds among kinds.
func ManagedKinds(kinds []Kind) []Kind {
	var out []Kind
	for _, k := range kinds {
		if k.Managed() && k.Namespaced {
			out = append(out, k)
		}
	}
	return out
}

// InstanceKinds returns the kinds Blueprints define among kinds.
func InstanceKinds(kinds []Kind) []Kind {
	var out []Kind
	for _, k := range kinds {
		if k.IsInstance() {
			out = append(out, k)
		}
	}
	return out
}

// ResolveKind finds the kind a person typed: its kind name, plural,
// singular or a short name, any case, optionally qualified by group
// ("topic.pubsub.infraplane.dev"); else an unambiguous prefix of a kind
// name of at least three letters ("sub"). Only kinds trace can show are
// candidates: managed kinds, the kinds Blueprints define and GitSource.
func ResolveKind(kinds []Kind, typed string) (Kind, error) {
	want := strings.ToLower(strings.TrimSpace(typed))
	if want == "" {
		return Kind{}, fmt.Errorf("no kind given: use KIND/NAME, e.g. subscription/orders-worker")
	}
	name, group, _ := strings.Cut(want, ".")
	var candidates []Kind
	for _, k := range kinds {
		if (k.Managed() && k.Namespaced) || k.IsInstance() || k.IsGitSource() {
			candidates = append(candidates, k)
		}
	}
	var exact []Kind
	for _, k := range candidates {
		if group != "" && strings.ToLower(k.Group) != group {
			continue
		}
		names := append([]string{k.Kind, k.Plural, k.Singular}, k.ShortNames...)
		for _, n := range names {
			if n != "" && strings.ToLower(n) == name {
				exact = append(exact, k)
				break
			}
		}
	}
	if len(exact) == 1 {
		return exact[0], nil
	}
	if len(exact) > 1 {
		return Kind{}, fmt.Errorf("kind %q is ambiguous: %s; qualify it with the group, e.g. %s.%s",
			typed, kindList(exact), strings.ToLower(exact[0].Kind), exact[0].Group)
	}
	var prefix []Kind
	if len(name) >= 3 {
		for _, k := range candidates {
			if group != "" && strings.ToLower(k.Group) != group {
				continue
			}
			if strings.HasPrefix(strings.ToLower(k.Kind), name) {
				prefix = append(prefix, k)
			}
		}
	}
	if len(prefix) == 1 {
		return prefix[0], nil
	}
	if len(prefix) > 1 {
		return Kind{}, fmt.Errorf("kind %q is ambiguous: %s", typed, kindList(prefix))
	}
	return Kind{}, fmt.Errorf("unknown kind %q: trace knows %s", typed, kindList(candidates))
}

func kindList(ks []Kind) string {
	names := make([]string, len(ks))
	for i, k := range ks {
		n := k.Kind
		if len(k.ShortNames) > 0 {
			n += " (" + strings.Join(k.ShortNames, ", ") + ")"
		}
		names[i] = n
	}
	return strings.Join(names, ", ")
}
