package crds

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/config/policy"
)

// FinalizerPolicy returns config/policy/finalizer.yaml's objects: the
// MutatingAdmissionPolicy that adds the cleanup finalizer to managed
// objects at create, and its binding.
func FinalizerPolicy() ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(policy.Finalizer), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return nil, fmt.Errorf("parsing config/policy/finalizer.yaml: %w", err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out, nil
}

// InstallFinalizerPolicy applies FinalizerPolicy (server-side apply). It is
// an optimization: without it the controllers add the finalizer with a
// PATCH of their own.
func InstallFinalizerPolicy(ctx context.Context, c client.Client) error {
	objs, err := FinalizerPolicy()
	if err != nil {
		return err
	}
	for _, o := range objs {
		//nolint:staticcheck // client.Apply with an unstructured object is what we want here.
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("installing %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// EnableFinalizerPolicy installs the finalizer policy and waits until it
// takes effect (WaitFinalizerPolicy with probe and finalizer): what the
// tests' environment and the benchmarks need before their first create.
// `infraplane up` does the two steps itself, in the background.
func EnableFinalizerPolicy(ctx context.Context, c client.Client, probe client.Object, finalizer string) error {
	if err := InstallFinalizerPolicy(ctx, c); err != nil {
		return err
	}
	return WaitFinalizerPolicy(ctx, c, probe, finalizer)
}

// WaitFinalizerPolicy waits until the admission plugin enforces the policy
// (its informers see it a moment after InstallFinalizerPolicy): until a
// dry-run create of probe in its namespace comes back with the finalizer.
// probe is a managed object that does not exist; it is not stored.
func WaitFinalizerPolicy(ctx context.Context, c client.Client, probe client.Object, finalizer string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		o := probe.DeepCopyObject().(client.Object)
		if err := c.Create(ctx, o, client.DryRunAll); err != nil {
			return false, nil
		}
		for _, f := range o.GetFinalizers() {
			if f == finalizer {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the finalizer policy to take effect: %w", err)
	}
	return nil
}

// WaitPolicySchemas waits until the API server publishes the OpenAPI
// schemas of the kinds the finalizer policy matches. The policy's
// admission plugin types its expressions against them: before they are
// published every create it sees logs "no schema for …" and is let
// through without the finalizer. Installing the policy after them keeps
// up's terminal free of those errors.
func WaitPolicySchemas(ctx context.Context, cfg *rest.Config, c client.Client) error {
	objs, err := FinalizerPolicy()
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	want := map[string][]string{} // OpenAPI v3 path → kinds
	for _, o := range objs {
		if o.GetKind() != "MutatingAdmissionPolicy" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "matchConstraints", "resourceRules")
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
			resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
			for _, g := range groups {
				for _, res := range resources {
					gvk, err := c.RESTMapper().KindFor(schema.GroupVersionResource{Group: g, Resource: res})
					if err != nil {
						return fmt.Errorf("the finalizer policy's %s.%s: %w", res, g, err)
					}
					path := "apis/" + gvk.Group + "/" + gvk.Version
					want[path] = append(want[path], gvk.Kind)
				}
			}
		}
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		paths, err := dc.OpenAPIV3().Paths()
		if err != nil {
			return false, nil
		}
		for path, kinds := range want {
			gv, ok := paths[path]
			if !ok {
				return false, nil
			}
			doc, err := gv.Schema("application/json")
			if err != nil {
				return false, nil
			}
			for _, k := range kinds {
				if !bytes.Contains(doc, []byte(`"kind":"`+k+`"`)) {
					return false, nil
				}
			}
		}
		return true, nil
	})
}
