package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/config"
)

// The chart is rendered here with text/template and the few functions of
// Helm's the generator uses (toYaml, nindent, default, quote): enough to
// check that with its default values it installs what config/default
// does, without Helm itself as a dependency.

func funcs() template.FuncMap {
	return template.FuncMap{
		"toYaml": func(v any) (string, error) {
			b, err := yaml.Marshal(v)
			return strings.TrimSuffix(string(b), "\n"), err
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"default": func(d, v any) any {
			if v == nil || reflect.ValueOf(v).IsZero() {
				return d
			}
			return v
		},
		"quote": func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
	}
}

// render renders the chart's templates with its values.yaml, changed by
// set, into namespace ns.
func render(t *testing.T, files map[string][]byte, ns string, set func(values map[string]any)) []*unstructured.Unstructured {
	t.Helper()
	var values, chart map[string]any
	if err := yaml.Unmarshal(files["values.yaml"], &values); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(files["Chart.yaml"], &chart); err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(values)
	}
	data := map[string]any{
		"Values":  values,
		"Release": map[string]any{"Namespace": ns, "Service": "Helm"},
		"Chart":   map[string]any{"AppVersion": chart["appVersion"], "Version": chart["version"]},
		// A cluster without MutatingAdmissionPolicy unless set adds it.
		"Capabilities": map[string]any{"APIVersions": apiVersions{}},
	}
	if v, ok := values["zzTestAPIVersions"]; ok {
		data["Capabilities"] = map[string]any{"APIVersions": v}
		delete(values, "zzTestAPIVersions")
	}
	var out []*unstructured.Unstructured
	for name, b := range files {
		if !strings.HasPrefix(name, "templates/") {
			continue
		}
		tmpl, err := template.New(name).Option("missingkey=error").Funcs(funcs()).Parse(string(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, decode(t, name, buf.Bytes())...)
	}
	return out
}

// apiVersions is Helm's .Capabilities.APIVersions: what the cluster serves.
type apiVersions []string

func (a apiVersions) Has(v string) bool { return slices.Contains(a, v) }

func decode(t *testing.T, name string, b []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("%s does not render to YAML: %v\n%s", name, err, b)
		}
		if obj != nil {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

func key(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// same fails the test unless got and want are the same objects.
func same(t *testing.T, got, want []*unstructured.Unstructured) {
	t.Helper()
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range got {
		byKey[key(o)] = o
	}
	for _, w := range want {
		g, ok := byKey[key(w)]
		if !ok {
			t.Errorf("the chart does not install %s", key(w))
			continue
		}
		delete(byKey, key(w))
		if !reflect.DeepEqual(roundTrip(t, g.Object), roundTrip(t, w.Object)) {
			gb, _ := yaml.Marshal(g.Object)
			wb, _ := yaml.Marshal(w.Object)
			t.Errorf("%s differs:\nchart:\n%s\nkustomize:\n%s", key(w), gb, wb)
		}
	}
	for k := range byKey {
		t.Errorf("the chart installs %s, kustomize does not", k)
	}
}

// roundTrip normalises numbers (int64 from one decoder, float64 from another).
func roundTrip(t *testing.T, v map[string]any) map[string]any {
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// build returns an overlay's objects the chart installs from templates/:
// no CRDs (crds/), no Namespace (the release's).
func build(t *testing.T, overlay string) (templates, crds []*unstructured.Unstructured) {
	t.Helper()
	objs, err := config.Build(overlay)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			crds = append(crds, o)
		case "Namespace":
		default:
			templates = append(templates, o)
		}
	}
	return templates, crds
}

func generated(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := chart()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestChartIsCurrent(t *testing.T) {
	dir := filepath.Join("..", "..", "charts", "infraplane")
	for name, want := range generated(t) {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("charts/infraplane/%s is not what config/default makes (%v): run ./hack/generate.sh", name, err)
		}
	}
	for _, sub := range []string{"templates", "crds"} {
		entries, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range entries {
			if _, ok := generated(t)[sub+"/"+e.Name()]; !ok {
				t.Errorf("charts/infraplane/%s/%s is not generated: run ./hack/generate.sh", sub, e.Name())
			}
		}
	}
}

func TestChartInstallsTheBase(t *testing.T) {
	files := generated(t)
	templates, crds := build(t, config.Default)
	same(t, render(t, files, namespace, nil), templates)
	var chartCRDs []*unstructured.Unstructured
	for name, b := range files {
		if strings.HasPrefix(name, "crds/") {
			chartCRDs = append(chartCRDs, decode(t, name, b)...)
		}
	}
	same(t, chartCRDs, crds)
}

func TestChartWithCertManagerInstallsTheOverlay(t *testing.T) {
	templates, _ := build(t, config.CertManager)
	same(t, render(t, generated(t), namespace, func(v map[string]any) {
		v["webhook"].(map[string]any)["certs"] = "cert-manager"
	}), templates)
}

// On a cluster that serves MutatingAdmissionPolicy the chart adds
// config/policy to the base, unless the values turn it off.
func TestChartFinalizerPolicy(t *testing.T) {
	base, _ := build(t, config.Default)
	pol, err := config.Build(config.Policy)
	if err != nil {
		t.Fatal(err)
	}
	serves := func(v map[string]any) { v["zzTestAPIVersions"] = apiVersions{policyAPI} }
	same(t, render(t, generated(t), namespace, serves), append(base, pol...))
	same(t, render(t, generated(t), namespace, func(v map[string]any) {
		serves(v)
		v["finalizerPolicy"] = false
	}), base)
}

func TestChartValues(t *testing.T) {
	objs := render(t, generated(t), "infra", func(v map[string]any) {
		v["replicas"] = 3
		v["image"].(map[string]any)["tag"] = "v1.2.3"
		v["leaderElection"] = false
		v["extraArgs"] = []any{"--ledger=postgres://infraplane@db/infraplane"}
	})
	var dep *unstructured.Unstructured
	for _, o := range objs {
		if o.GetNamespace() == namespace {
			t.Errorf("%s is in %s, not the release namespace", key(o), namespace)
		}
		if o.GetKind() == "Deployment" {
			dep = o
		}
	}
	if dep == nil {
		t.Fatal("no Deployment")
	}
	if n, _, _ := unstructured.NestedFieldNoCopy(dep.Object, "spec", "replicas"); fmt.Sprint(n) != "3" {
		t.Errorf("replicas = %v", n)
	}
	c := dep.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if c["image"] != "ghcr.io/infraplane/infraplane:v1.2.3" {
		t.Errorf("image = %v", c["image"])
	}
	args := fmt.Sprint(c["args"])
	for _, want := range []string{"--leader-elect=false", "--ledger=postgres://infraplane@db/infraplane"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %s lack %s", args, want)
		}
	}
	for _, o := range objs {
		if o.GetKind() == "ClusterRoleBinding" && strings.HasPrefix(o.GetName(), "infraplane-controller") {
			if ns, _, _ := unstructured.NestedString(o.Object["subjects"].([]any)[0].(map[string]any), "namespace"); ns != "infra" {
				t.Errorf("%s binds the ServiceAccount of namespace %q", o.GetName(), ns)
			}
		}
	}
}
