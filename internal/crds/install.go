// Package crds installs infraplane's CustomResourceDefinitions into a
// cluster and waits until they are served.
package crds

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"golang.org/x/sync/errgroup"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/config/crd"
	"github.com/infraplane/infraplane/internal/scheme"
)

// FieldOwner is the server-side apply field manager for CRDs.
const FieldOwner = "infraplane"

// Load returns the embedded CRDs.
func Load() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := fs.Glob(crd.Files, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := crd.Files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, c); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", f, err)
		}
		c.TypeMeta.APIVersion = apiextensionsv1.SchemeGroupVersion.String()
		c.TypeMeta.Kind = "CustomResourceDefinition"
		out = append(out, c)
	}
	return out, nil
}

// `infraplane controller --install-crds` runs this with the controller's
// rights (it then lists each kind, which the controllers may anyway).
//
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;create;patch

// Install applies every CRD (server-side apply, so upgrades just work) and
// waits until each is Established and served.
func Install(ctx context.Context, cfg *rest.Config) error {
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	list, err := Load()
	if err != nil {
		return err
	}
	// All at once: each apply is a round trip the API server spends most
	// of in work of its own (schema conversion), and start-up waits on it.
	g, gctx := errgroup.WithContext(ctx)
	for _, obj := range list {
		g.Go(func() error {
			//nolint:staticcheck // client.Apply with a typed object is what we want here.
			if err := c.Patch(gctx, obj, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
				return fmt.Errorf("installing CRD %s: %w", obj.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, obj := range list {
		name := obj.Name
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, got); err != nil {
				return false, nil
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionFalse {
					return false, fmt.Errorf("CRD %s names not accepted: %s", name, cond.Message)
				}
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", name, err)
		}
	}
	// Established is not yet served by discovery: controllers started now
	// would fail to map their kinds. Wait until a list of each kind works
	// through a fresh client (which discovers anew).
	fresh, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	for _, obj := range list {
		v := obj.Spec.Versions[0].Name
		gvk := schema.GroupVersionKind{Group: obj.Spec.Group, Version: v, Kind: obj.Spec.Names.ListKind}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(gvk)
			return fresh.List(ctx, l, client.Limit(1)) == nil, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for %s to be served: %w", obj.Name, err)
		}
	}
	return nil
}
