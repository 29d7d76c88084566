package controllers_test

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/crds"
)

// The finalizer policy (config/policy) matches exactly the managed kinds,
// on CREATE only: a new managed kind is not forgotten, and no other kind
// (Blueprint instances, infraplane's own kinds, anyone else's) gets a
// finalizer it has no controller for.
func TestFinalizerPolicyMatchesTheManagedKinds(t *testing.T) {
	defs, err := crds.Load()
	if err != nil {
		t.Fatal(err)
	}
	plural := map[string]string{} // group/Kind -> group/plural
	for _, d := range defs {
		plural[d.Spec.Group+"/"+d.Spec.Names.Kind] = d.Spec.Group + "/" + d.Spec.Names.Plural
	}
	var want []string
	for _, gvk := range controllers.ManagedKinds() {
		p, ok := plural[gvk.Group+"/"+gvk.Kind]
		if !ok {
			t.Fatalf("no CRD for %s", gvk)
		}
		want = append(want, p)
	}

	objs, err := crds.FinalizerPolicy()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		if o.GetKind() != "MutatingAdmissionPolicy" {
			continue
		}
		if fp, _, _ := unstructured.NestedString(o.Object, "spec", "failurePolicy"); fp != "Ignore" {
			t.Errorf("failurePolicy %q, want Ignore: the controller's PATCH is the fallback, a create never fails for want of the finalizer", fp)
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "matchConstraints", "resourceRules")
		for _, r := range rules {
			r := r.(map[string]any)
			if ops := r["operations"].([]any); len(ops) != 1 || ops[0] != "CREATE" {
				t.Errorf("rule %v: operations %v, want CREATE only", r, ops)
			}
			for _, g := range r["apiGroups"].([]any) {
				for _, res := range r["resources"].([]any) {
					got = append(got, g.(string)+"/"+res.(string))
				}
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the policy matches %v, the managed kinds are %v", got, want)
	}
}
