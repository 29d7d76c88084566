// Package crds installs infraplane's CustomResourceDefinitions into a
// cluster and waits until they are served.
package crds

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
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
// waits until each is Established, listed by discovery and watchable.
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
	if err := waitEstablished(ctx, cfg, list, ready); err != nil {
		return err
	}
	established := time.Since(began)
	// Established is not yet served by discovery: controllers started now
	// would fail to map their kinds. Wait until discovery lists every
	// kind, which is what the controllers' REST mapper reads.
	if err := waitDiscovered(ctx, cfg, list); err != nil {
		return err
	}
	if err := waitWatchable(ctx, cfg, list); err != nil {
		return err
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

// establishTimeout bounds waiting for a CRD's Established condition and
// for discovery to list its kind.
const establishTimeout = 30 * time.Second

// waitEstablished waits until every CRD of list not yet ready is
// Established, each learnt from a watch of that one CRD (a field selector
// on its name): the API server sends the CRD when its conditions change,
// instead of being asked for the whole, large object ten times a second
// (polling all at once cost more CPU than it saved; docs/benchmarks.md,
// "Issue 17: start-up, second pass"). A watch starts with the object's
// current state, so a condition set before it opened is seen too.
func waitEstablished(ctx context.Context, cfg *rest.Config, list []*apiextensionsv1.CustomResourceDefinition, ready []bool) error {
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, establishTimeout)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	for i, obj := range list {
		if ready[i] {
			continue
		}
		g.Go(func() error {
			if err := watchEstablished(gctx, wc, obj.Name); err != nil {
				return fmt.Errorf("waiting for CRD %s to be established: %w", obj.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// watchEstablished watches the CRD name until it is Established. A watch
// the server ends early is opened again.
func watchEstablished(ctx context.Context, wc client.WithWatch, name string) error {
	for {
		w, err := wc.Watch(ctx, &apiextensionsv1.CustomResourceDefinitionList{}, client.MatchingFields{"metadata.name": name})
		if err != nil {
			return err
		}
		done, err := untilEstablished(ctx, w)
		w.Stop()
		if done || err != nil {
			return err
		}
		select { // not at once: a server that ends watches early is not hammered
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// untilEstablished reads w until the CRD it carries is Established (true),
// its names are refused or ctx ends (an error), or w ends (false).
func untilEstablished(ctx context.Context, w watch.Interface) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			if ev.Type == watch.Error {
				return false, apierrors.FromObject(ev.Object)
			}
			crd, isCRD := ev.Object.(*apiextensionsv1.CustomResourceDefinition)
			if !isCRD || ev.Type == watch.Deleted {
				continue
			}
			if ok, err := isEstablished(crd); ok || err != nil {
				return ok, err
			}
		}
	}
}

// waitDiscovered waits until the API server's discovery lists every kind
// of list (one request per group and version, every 50 ms): what a REST
// mapper — the controllers', kubectl's — needs to find them.
func waitDiscovered(ctx context.Context, cfg *rest.Config, list []*apiextensionsv1.CustomResourceDefinition) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	want := map[string]map[string]bool{} // group/version → plural names not yet seen
	for _, obj := range list {
		for _, v := range obj.Spec.Versions {
			if !v.Served {
				continue
			}
			gv := schema.GroupVersion{Group: obj.Spec.Group, Version: v.Name}.String()
			if want[gv] == nil {
				want[gv] = map[string]bool{}
			}
			want[gv][obj.Spec.Names.Plural] = true
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, establishTimeout, true, func(ctx context.Context) (bool, error) {
		for gv, plurals := range want {
			res, err := dc.ServerResourcesForGroupVersion(gv)
			if err != nil {
				return false, nil // not served yet (404), or a passing error: asked again
			}
			for _, r := range res.APIResources {
				delete(plurals, r.Name)
			}
			if len(plurals) > 0 {
				return false, nil
			}
			delete(want, gv)
		}
		return true, nil
	})
	if err != nil {
		var missing []string
		for gv, plurals := range want {
			for p := range plurals {
				missing = append(missing, p+"."+gv)
			}
		}
		sort.Strings(missing)
		return fmt.Errorf("waiting for %v to be served: %w", missing, err)
	}
	return nil
}

// waitWatchable waits until every kind of list can be watched: the API
// server refuses watches of a kind whose watch cache is still being
// built ("storage is (re)initializing", 429 with Retry-After: 1 s), and
// the controllers' informers, started right after, then sleep a whole
// second (measured: a first start's controllers lost 1 s to it once
// discovery alone was waited for). Here each kind is tried every 50 ms,
// all at once (an empty watch, closed at once, costs the server little).
func waitWatchable(ctx context.Context, cfg *rest.Config, list []*apiextensionsv1.CustomResourceDefinition) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	rc := dc.RESTClient()
	g, gctx := errgroup.WithContext(ctx)
	for _, obj := range list {
		path := "/apis/" + obj.Spec.Group + "/" + obj.Spec.Versions[0].Name + "/" + obj.Spec.Names.Plural
		g.Go(func() error {
			var last error
			err := wait.PollUntilContextTimeout(gctx, 50*time.Millisecond, establishTimeout, true, func(ctx context.Context) (bool, error) {
				// No retries of client-go's own: it would honour the
				// Retry-After second this is here to avoid.
				body, err := rc.Get().AbsPath(path).Param("watch", "true").Param("timeoutSeconds", "1").MaxRetries(0).Stream(ctx)
				if err != nil {
					last = err
					return false, nil
				}
				body.Close() //nolint:errcheck // only the answer's status mattered
				return true, nil
			})
			if err != nil {
				return fmt.Errorf("waiting for %s to be watchable: %w (last: %v)", obj.Name, err, last)
			}
			return nil
		})
	}
	return g.Wait()
}
