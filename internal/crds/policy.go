package crds

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
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
