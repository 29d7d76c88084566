package prometheus_test

import (
	"os"
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The metrics Service this assumes; config/default (branch install) must
// make one like it (docs/observability.md).
const (
	metricsNamespace = "infraplane-system"
	metricsService   = "infraplane-metrics" // also the Prometheus job
	metricsPort      = "metrics"
	appLabel         = "app.kubernetes.io/name"
	appName          = "infraplane"
)

// `kubectl apply -k config/prometheus` gets a ServiceMonitor for the
// metrics Service, the rules and the dashboard's ConfigMap.
func TestKustomization(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), ".")
	if err != nil {
		t.Fatalf("kustomize build config/prometheus: %v", err)
	}
	byKind := map[string]map[string]any{}
	for _, r := range res.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetNamespace() != metricsNamespace {
			t.Errorf("%s/%s is in namespace %q, want %s", r.GetKind(), r.GetName(), r.GetNamespace(), metricsNamespace)
		}
		byKind[r.GetKind()] = m
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "ConfigMap"} {
		if byKind[kind] == nil {
			t.Fatalf("no %s in the build (got %d resources)", kind, len(byKind))
		}
	}

	// The ServiceMonitor, decoded strictly.
	var sm struct {
		APIVersion string     `json:"apiVersion"`
		Kind       string     `json:"kind"`
		Metadata   objectMeta `json:"metadata"`
		Spec       struct {
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port            string `json:"port"`
				Path            string `json:"path"`
				Scheme          string `json:"scheme"`
				BearerTokenFile string `json:"bearerTokenFile"`
				TLSConfig       struct {
					InsecureSkipVerify bool `json:"insecureSkipVerify"`
				} `json:"tlsConfig"`
				Interval    string `json:"interval"`
				HonorLabels bool   `json:"honorLabels"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	data, err := yaml.Marshal(byKind["ServiceMonitor"])
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &sm); err != nil {
		t.Fatalf("ServiceMonitor: %v", err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %s", sm.APIVersion)
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{metricsNamespace}) || sm.Spec.Selector.MatchLabels[appLabel] != appName {
		t.Errorf("the ServiceMonitor selects %v in %v, want %s=%s in %s", sm.Spec.Selector.MatchLabels, sm.Spec.NamespaceSelector.MatchNames, appLabel, appName, metricsNamespace)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != metricsPort || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Fatalf("ServiceMonitor endpoints %+v, want port %s, path /metrics", sm.Spec.Endpoints, metricsPort)
	}
	// The controller serves metrics over HTTPS to callers with a token
	// the API server authorizes for GET /metrics (--metrics-secure).
	if ep := sm.Spec.Endpoints[0]; ep.Scheme != "https" || ep.BearerTokenFile == "" {
		t.Errorf("ServiceMonitor endpoint scheme %q, bearer token file %q: the controller's metrics need HTTPS and Prometheus's token", ep.Scheme, ep.BearerTokenFile)
	}
	// infraplane's labels that a target label of the same name would
	// rename to exported_<name> unless the scrape honours them.
	var clashes []string
	for _, m := range registered(t) {
		for _, l := range m.labels {
			if slices.Contains(targetLabels, l) && !slices.Contains(clashes, l) {
				clashes = append(clashes, l)
			}
		}
	}
	if len(clashes) > 0 && !sm.Spec.Endpoints[0].HonorLabels {
		t.Errorf("metrics have labels %v that Prometheus also sets on the target: the endpoint needs honorLabels: true, or the alerts see exported_%s", clashes, clashes[0])
	}

	// The dashboard's ConfigMap carries the file as it is, for Grafana's
	// sidecar.
	cm := byKind["ConfigMap"]
	meta := cm["metadata"].(map[string]any)
	if meta["name"] != "infraplane-grafana-dashboard" {
		t.Errorf("dashboard ConfigMap named %v: the name has no hash suffix, so updates replace it", meta["name"])
	}
	if l, _ := meta["labels"].(map[string]any); l["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v: Grafana's sidecar looks for grafana_dashboard=1", l)
	}
	want, err := os.ReadFile("dashboards/infraplane.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := cm["data"].(map[string]any)["infraplane.json"]; got != string(want) {
		t.Errorf("the ConfigMap's infraplane.json differs from dashboards/infraplane.json")
	}
}
