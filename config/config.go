// Package config builds the kustomizations under config/ in-process, for
// the chart generator (hack/helmchart) and the tests that install them.
package config

import (
	"embed"
	"fmt"
	"io/fs"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

//go:embed default cert-manager manager rbac crd policy
var tree embed.FS

// Overlays that can be built.
const (
	Default     = "default"
	CertManager = "cert-manager"
	// Policy is the optional admission policy (the cleanup finalizer at
	// create), for clusters that serve MutatingAdmissionPolicy.
	Policy = "policy"
)

// Build runs kustomize on config/<overlay> and returns its objects in
// kustomize's order.
func Build(overlay string) ([]*unstructured.Unstructured, error) {
	mem := filesys.MakeFsInMemory()
	err := fs.WalkDir(tree, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := tree.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(path.Join("/config", p), b)
	})
	if err != nil {
		return nil, err
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, path.Join("/config", overlay))
	if err != nil {
		return nil, fmt.Errorf("kustomize config/%s: %w", overlay, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		// Through JSON, so numbers are what the API machinery expects.
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
