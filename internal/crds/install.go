// Package crds installs infraplane's CustomResourceDefinitions into a
// cluster and waits until they are served.
package crds

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
	began := time.Now()
	// All at once: each apply is a round trip the API server spends most
	// of in work of its own (schema conversion), and start-up waits on it.
	// A CRD the cluster already has as it is here is not applied again
	// (every restart): the API server would validate its whole schema and
	// compile its CEL rules only to find nothing changed. Whether it is
	// Established is read from the same GET.
	g, gctx := errgroup.WithContext(ctx)
	ready := make([]bool, len(list))
	var skipped atomic.Int32
	for i, obj := range list {
		g.Go(func() error {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(gctx, client.ObjectKeyFromObject(obj), got); err == nil && Unchanged(obj, got) {
				skipped.Add(1)
				ok, err := isEstablished(got)
				ready[i] = ok
				return err
			}
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
	// One at a time: polling every CRD at once re-reads (and decodes) each
	// large object ten times a second while the API server is busiest.
	for i, obj := range list {
		if ready[i] {
			continue
		}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
				return false, nil
			}
			return isEstablished(got)
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", obj.Name, err)
		}
	}
	established := time.Since(began)
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
	slog.Debug("CRDs installed", "unchanged", skipped.Load(), "of", len(list), "established", established.Round(time.Millisecond), "served", time.Since(began).Round(time.Millisecond))
	return nil
}

// isEstablished reads a CRD's conditions: true once Established, an error
// if its names were refused.
func isEstablished(crd *apiextensionsv1.CustomResourceDefinition) (bool, error) {
	for _, cond := range crd.Status.Conditions {
		if cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionFalse {
			return false, fmt.Errorf("CRD %s names not accepted: %s", crd.Name, cond.Message)
		}
	}
	for _, cond := range crd.Status.Conditions {
		if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
			return true, nil
		}
	}
	return false, nil
}

// Unchanged reports whether the cluster's CRD got already holds what
// applying want would write: want's spec (with the API server's defaults)
// and its labels and annotations. A restart then skips the apply.
func Unchanged(want, got *apiextensionsv1.CustomResourceDefinition) bool {
	w := want.DeepCopy()
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(w)
	for k, v := range w.Labels {
		if got.Labels[k] != v {
			return false
		}
	}
	for k, v := range w.Annotations {
		if got.Annotations[k] != v {
			return false
		}
	}
	return equality.Semantic.DeepEqual(w.Spec, got.Spec)
}
