package controlplane

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/infraplane/infraplane/internal/crds"
)

// checkCRDsReinstalledWithoutWrites: installing infraplane's CRDs into an
// API server that already has them as they are (up's restart) writes none
// of them again, and still returns with every kind served; a CRD someone
// changed is applied again. (Part of TestStartBeforeRoles: one API server
// for both.)
func checkCRDsReinstalledWithoutWrites(t *testing.T, cp *ControlPlane) {
	t.Helper()
	if err := crds.Install(t.Context(), cp.RESTConfig()); err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int32
	cfg := cp.RESTConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/customresourcedefinitions") {
				writes.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	if err := crds.Install(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 0 {
		t.Errorf("the second install wrote CRDs %d times; want none", n)
	}

	c, err := apiextensionsclient.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	list, err := crds.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := list[0]
	got, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(t.Context(), want.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Names.ShortNames = []string{"changed"}
	if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Update(t.Context(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := crds.Install(t.Context(), cp.RESTConfig()); err != nil {
		t.Fatal(err)
	}
	got, err = c.ApiextensionsV1().CustomResourceDefinitions().Get(t.Context(), want.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Spec.Names.ShortNames, want.Spec.Names.ShortNames) {
		t.Errorf("CRD %s after a reinstall has short names %v; want %v again", want.Name, got.Spec.Names.ShortNames, want.Spec.Names.ShortNames)
	}
}

// TestCRDUnchanged: what counts as a change of a CRD in the cluster.
func TestCRDUnchanged(t *testing.T) {
	list, err := crds.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := list[0]
	stored := func() *apiextensionsv1.CustomResourceDefinition {
		got := want.DeepCopy()
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(got) // as the API server stores it
		return got
	}
	if !crds.Unchanged(want, stored()) {
		t.Error("the CRD as stored counts as changed")
	}
	other := stored()
	other.Labels = map[string]string{"someone.else/label": "x"}
	if !crds.Unchanged(want, other) {
		t.Error("a label of someone else's counts as a change")
	}
	spec := stored()
	spec.Spec.Versions[0].Schema.OpenAPIV3Schema.Description = "edited"
	if crds.Unchanged(want, spec) {
		t.Error("an edited schema does not count as a change")
	}
	for k := range want.Annotations {
		ann := stored()
		ann.Annotations[k] = "other"
		if crds.Unchanged(want, ann) {
			t.Errorf("a changed annotation %s does not count as a change", k)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
