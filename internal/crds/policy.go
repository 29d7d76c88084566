package crds

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
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

// FinalizerProbeLabel marks the dry-run probes EnableFinalizerPolicy
// sends: until the policy is known to work for every kind, it is bound
// only to objects carrying this label.
const FinalizerProbeLabel = "infraplane.dev/finalizer-policy-probe"

// probeBindingName is the binding that matches only the probes.
const probeBindingName = "infraplane-cleanup-finalizer-probes"

// EnableFinalizerPolicy installs FinalizerPolicy so that no create is ever
// refused because of it, and returns once it adds the finalizer to the
// creates of every kind it matches. The finalizer is an optimization (one
// API write less per managed object; without it the controllers PATCH it
// on), so no create may pay for it with an error. But the API server's
// admission plugin refuses every create of a kind whose schema it has not
// read yet with 503 "Resource kind … not found", whatever the policy's
// failurePolicy, and it reads the schemas' list every 5 s from its start
// on: for the first 5–6 s of an API server's life (measured on `up`'s
// first start and on its restarts alike) a bound policy refuses every
// create of a managed kind. Hence three steps:
//
//  1. the policy, with a binding that matches only objects labelled
//     FinalizerProbeLabel;
//  2. dry-run creates, so labelled, until witness (a valid managed object
//     that does not exist) comes back with finalizer and one kind of each
//     other group and version the policy matches is no longer refused
//     with 503;
//  3. the policy's own binding (every object); once a dry-run create of
//     witness without the label comes back with finalizer, the probe
//     binding is deleted.
//
// An API server that restarts with the binding in place has the window
// again: `up` calls UnbindFinalizerPolicy as soon as its API server is
// ready, before anything creates objects.
func EnableFinalizerPolicy(ctx context.Context, c client.Client, witness client.Object, finalizer string) error {
	policyObj, binding, err := finalizerPolicyObjects()
	if err != nil {
		return err
	}
	probeBinding := binding.DeepCopy()
	probeBinding.SetName(probeBindingName)
	if err := unstructured.SetNestedMap(probeBinding.Object, map[string]any{
		"objectSelector": map[string]any{"matchLabels": map[string]any{FinalizerProbeLabel: "true"}},
	}, "spec", "matchResources"); err != nil {
		return err
	}
	for _, o := range []*unstructured.Unstructured{policyObj, probeBinding} {
		if err := apply(ctx, c, o); err != nil {
			return err
		}
	}
	probes, err := policyProbes(c, policyObj, witness)
	if err != nil {
		return err
	}
	if err := waitFinalizerPolicy(ctx, c, witness, finalizer, probes); err != nil {
		return err
	}
	if err := apply(ctx, c, binding); err != nil {
		return err
	}
	// The plugin reads bindings about once a second: wait for this one
	// before the probes' goes, so the policy never lapses.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		o, err := DryRunCreate(ctx, c, witness)
		return err == nil && slices.Contains(o.GetFinalizers(), finalizer), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for MutatingAdmissionPolicyBinding %s to take effect: %w", binding.GetName(), err)
	}
	if err := c.Delete(ctx, probeBinding); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting MutatingAdmissionPolicyBinding %s: %w", probeBindingName, err)
	}
	return nil
}

// UnbindFinalizerPolicy deletes the policy's binding, if there is one, so
// that a just-started API server refuses no create for it;
// EnableFinalizerPolicy binds it again once it works.
func UnbindFinalizerPolicy(ctx context.Context, c client.Client) error {
	_, binding, err := finalizerPolicyObjects()
	if err != nil {
		return err
	}
	if err := c.Delete(ctx, binding); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting MutatingAdmissionPolicyBinding %s: %w", binding.GetName(), err)
	}
	return nil
}

// finalizerPolicyObjects returns FinalizerPolicy's policy and binding.
func finalizerPolicyObjects() (policyObj, binding *unstructured.Unstructured, err error) {
	objs, err := FinalizerPolicy()
	if err != nil {
		return nil, nil, err
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "MutatingAdmissionPolicy":
			policyObj = o
		case "MutatingAdmissionPolicyBinding":
			binding = o
		}
	}
	if policyObj == nil || binding == nil {
		return nil, nil, fmt.Errorf("config/policy/finalizer.yaml: want a MutatingAdmissionPolicy and its binding")
	}
	return policyObj, binding, nil
}

func apply(ctx context.Context, c client.Client, o *unstructured.Unstructured) error {
	//nolint:staticcheck // client.Apply with an unstructured object is what we want here.
	if err := c.Patch(ctx, o, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("installing %s %s: %w", o.GetKind(), o.GetName(), err)
	}
	return nil
}

// policyProbes returns, for each API group and version the policy matches
// other than witness's, an object of one of its kinds, labelled as a
// probe, named and namespaced like witness. They need not be valid: only
// whether the admission plugin refuses them for want of a schema matters.
func policyProbes(c client.Client, policyObj *unstructured.Unstructured, witness client.Object) ([]*unstructured.Unstructured, error) {
	kinds, err := policyKinds(c, policyObj)
	if err != nil {
		return nil, err
	}
	witnessGVK, err := apiutil.GVKForObject(witness, c.Scheme())
	if err != nil {
		return nil, err
	}
	seen := map[schema.GroupVersion]bool{witnessGVK.GroupVersion(): true}
	var probes []*unstructured.Unstructured
	for _, gvk := range kinds {
		if seen[gvk.GroupVersion()] {
			continue
		}
		seen[gvk.GroupVersion()] = true
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace(witness.GetNamespace())
		u.SetName(witness.GetName())
		u.SetLabels(map[string]string{FinalizerProbeLabel: "true"})
		probes = append(probes, u)
	}
	return probes, nil
}

// waitFinalizerPolicy waits until a dry-run create of witness (labelled as
// a probe) comes back with the finalizer, which says the probe binding is
// in effect, and then until none of probes is refused for want of a
// schema.
func waitFinalizerPolicy(ctx context.Context, c client.Client, witness client.Object, finalizer string, probes []*unstructured.Unstructured) error {
	w := witness.DeepCopyObject().(client.Object)
	labels := map[string]string{FinalizerProbeLabel: "true"}
	for k, v := range w.GetLabels() {
		labels[k] = v
	}
	w.SetLabels(labels)
	witnessDone := false
	pending := probes
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if !witnessDone {
			o, err := DryRunCreate(ctx, c, w)
			switch {
			case err != nil:
				last = err
				return false, nil
			case !slices.Contains(o.GetFinalizers(), finalizer):
				last = fmt.Errorf("a dry-run create of %s %s came back without %s", o.GetKind(), o.GetName(), finalizer)
				return false, nil
			}
			witnessDone = true
		}
		var still []*unstructured.Unstructured
		for _, p := range pending {
			if _, err := DryRunCreate(ctx, c, p); apierrors.IsServiceUnavailable(err) {
				last = err
				still = append(still, p)
			}
		}
		pending = still
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the finalizer policy to take effect (last answer: %v): %w", last, err)
	}
	return nil
}

// policyKinds are the kinds the policy's resource rules match, in order.
func policyKinds(c client.Client, policyObj *unstructured.Unstructured) ([]schema.GroupVersionKind, error) {
	var kinds []schema.GroupVersionKind
	rules, _, _ := unstructured.NestedSlice(policyObj.Object, "spec", "matchConstraints", "resourceRules")
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(rule, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(rule, "resources")
		for _, g := range groups {
			for _, res := range resources {
				gvk, err := c.RESTMapper().KindFor(schema.GroupVersionResource{Group: g, Resource: res})
				if err != nil {
					return nil, fmt.Errorf("the finalizer policy's %s.%s: %w", res, g, err)
				}
				kinds = append(kinds, gvk)
			}
		}
	}
	return kinds, nil
}
