package prometheus_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
			Query      any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr         string      `json:"expr"`
		LegendFormat string      `json:"legendFormat"`
		Datasource   *datasource `json:"datasource"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// What issue #14 asks the dashboard to show, by a metric each panel of it
// reads.
var requiredPanelMetrics = []string{
	"infraplane_reconciles_total",                   // reconcile rate per kind
	"infraplane_reconcile_duration_seconds_bucket",  // reconcile latency
	"controller_runtime_reconcile_errors_total",     // reconcile errors
	"infraplane_cloud_calls_total",                  // cloud calls by code
	"infraplane_cloud_call_duration_seconds_bucket", // cloud call latency
	"infraplane_managed_objects",                    // objects by condition
	"infraplane_drift_repairs_total",                // drift repairs
	"infraplane_breakglass_held_objects",            // break-glass
	"infraplane_ledger_entries_total",               // ledger entries
	"infraplane_ledger_append_errors_total",         // ledger errors
	"workqueue_depth",                               // work-queue depth
	"infraplane_managed_oldest_not_ready_timestamp_seconds",
}

// Grafana's variables, replaced by a value that keeps the query valid.
var builtinVars = map[string]string{"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

var varRE = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// The dashboard is valid JSON for Grafana; every panel query parses and
// reads metrics and labels the binary has; legends name labels the query
// keeps; every infraplane metric is on it.
func TestDashboard(t *testing.T) {
	reg := registered(t)
	data, err := os.ReadFile("dashboards/infraplane.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboards/infraplane.json is not valid JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Fatalf("dashboard uid %q, title %q, schemaVersion %d, %d panels: Grafana needs all four", d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}

	vars := map[string]string{}
	for k, v := range builtinVars {
		vars[k] = v
	}
	for _, v := range d.Templating.List {
		vars[v.Name] = "x"
		if v.Name == "job" && v.Query != metricsService {
			t.Errorf("variable job defaults to %v, want the metrics Service's name %s", v.Query, metricsService)
		}
		if v.Type == "query" {
			// label_values(metric, label): the metric has the label.
			m := regexp.MustCompile(`^label_values\((\w+), *(\w+)\)$`).FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, v.Definition)
				continue
			}
			if _, err := checkExpr(reg, m[1]+"{"+m[2]+`!=""}`); err != nil {
				t.Errorf("variable %s: %v", v.Name, err)
			}
		}
	}
	if vars["datasource"] == "" {
		t.Errorf("no datasource variable: the dashboard would be bound to one Grafana's data source")
	}

	ids := map[int]bool{}
	var used []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d is used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside Grafana's 24 columns", p.Title, g)
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: a panel needs a title and a query", p.ID, p.Title)
		}
		for _, ds := range []*datasource{p.Datasource} {
			if ds == nil || ds.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, ds)
			}
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a query's datasource is %+v, want uid ${datasource}", p.Title, tg.Datasource)
			}
			expr := varRE.ReplaceAllStringFunc(tg.Expr, func(s string) string {
				name := strings.Trim(s, "${}")
				if v, ok := vars[name]; ok {
					return v
				}
				t.Errorf("panel %q: %s is not a variable of the dashboard", p.Title, s)
				return s
			})
			names, err := checkExpr(reg, expr)
			if err != nil {
				t.Errorf("panel %q: query %q: %v", p.Title, tg.Expr, err)
				continue
			}
			used = append(used, names...)
			e, _ := promql.ParseExpr(expr)
			if out, known := outputLabels(reg, e); known {
				for _, m := range regexp.MustCompile(`\{\{ *(\w+) *\}\}`).FindAllStringSubmatch(tg.LegendFormat, -1) {
					if !slices.Contains(out, m[1]) {
						t.Errorf("panel %q: legend %q names %s, which the query's result does not have (%v)", p.Title, tg.LegendFormat, m[1], out)
					}
				}
			}
		}
	}
	for _, m := range requiredPanelMetrics {
		if !slices.Contains(used, m) {
			t.Errorf("no panel shows %s (issue #14 asks for it)", m)
		}
	}
	// A metric added to the binary shows up on the dashboard too.
	for name := range reg {
		if !strings.HasPrefix(name, "infraplane_") {
			continue
		}
		onPanel := func(u string) bool {
			return u == name || u == name+"_bucket" || u == name+"_sum" || u == name+"_count"
		}
		if !slices.ContainsFunc(used, onPanel) {
			t.Errorf("%s is on no panel of dashboards/infraplane.json: add one (docs/observability.md lists the metrics)", name)
		}
	}
}
