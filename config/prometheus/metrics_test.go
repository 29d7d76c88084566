package prometheus_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	// What cmd/infraplane imports: every metric the binary registers is
	// registered in this test binary too.
	_ "github.com/infraplane/infraplane/internal/cli"
)

// promql parses like a stock Prometheus: no experimental features.
var promql = parser.NewParser(parser.Options{})

// targetLabels are the labels Prometheus (with a ServiceMonitor) adds to
// every scraped series; a query may use them on any metric.
var targetLabels = []string{"job", "instance", "namespace", "service", "pod", "container", "endpoint"}

// synthetic are series Prometheus makes itself, not the binary.
var synthetic = map[string][]string{"up": nil}

// metric is one metric family the binary registers.
type metric struct {
	name   string
	labels []string // variable and constant labels
}

var descRE = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: `)

// registered describes controller-runtime's registry: the metrics the
// manager's /metrics serves. Describe, not Gather: a vector with no
// series yet (no object has failed) gathers nothing but is described.
func registered(t *testing.T) map[string]metric {
	t.Helper()
	c, ok := ctrlmetrics.Registry.(prometheus.Collector)
	if !ok {
		t.Fatalf("controller-runtime's registry is a %T, which cannot describe its metrics: update registered()", ctrlmetrics.Registry)
	}
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	out := map[string]metric{}
	for d := range ch {
		m, err := parseDesc(d.String())
		if err != nil {
			t.Fatal(err)
		}
		out[m.name] = m
	}
	for _, want := range []string{"infraplane_reconciles_total", "controller_runtime_reconcile_total", "workqueue_depth"} {
		if _, ok := out[want]; !ok {
			t.Fatalf("the registry does not describe %s: registered() is broken (%d metrics)", want, len(out))
		}
	}
	return out
}

// parseDesc reads the name and label names from a Desc's String(), which
// client_golang does not otherwise expose.
func parseDesc(s string) (metric, error) {
	bad := fmt.Errorf("unexpected prometheus.Desc format (client_golang changed?): %s", s)
	m := descRE.FindStringSubmatch(s)
	if m == nil {
		return metric{}, bad
	}
	name, err := strconv.Unquote(m[1])
	if err != nil {
		return metric{}, bad
	}
	out := metric{name: name}
	vi := strings.LastIndex(s, "variableLabels: {")
	ci := strings.LastIndex(s, "constLabels: {")
	if vi < 0 || ci < 0 || ci > vi || !strings.HasSuffix(s, "}}") {
		return metric{}, bad
	}
	for _, l := range strings.Split(s[vi+len("variableLabels: {"):len(s)-2], ",") {
		if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
			out.labels = append(out.labels, l)
		}
	}
	for _, pair := range regexp.MustCompile(`(\w+)="`).FindAllStringSubmatch(s[ci:vi], -1) {
		out.labels = append(out.labels, pair[1])
	}
	return out, nil
}

// lookup finds the metric family a series name belongs to: itself, or a
// histogram's or summary's _bucket, _sum or _count series.
func lookup(reg map[string]metric, name string) (metric, bool) {
	if m, ok := reg[name]; ok {
		return m, true
	}
	if l, ok := synthetic[name]; ok {
		return metric{name: name, labels: l}, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if m, ok := reg[base]; ok {
				if suffix == "_bucket" {
					m.labels = append(slices.Clone(m.labels), "le")
				}
				m.name = name
				return m, true
			}
		}
	}
	return metric{}, false
}

// checkExpr parses a PromQL expression and checks every selector against
// the registry: the metric exists, and each label it matches on is one of
// the metric's or a target label. It returns the metric names used.
func checkExpr(reg map[string]metric, expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("does not parse: %w", err)
	}
	var names []string
	var errs []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			errs = append(errs, fmt.Sprintf("selector %s has no metric name", vs))
			return nil
		}
		m, ok := lookup(reg, vs.Name)
		if !ok {
			errs = append(errs, fmt.Sprintf("metric %s is not registered by the binary (nor a histogram series of one)", vs.Name))
			return nil
		}
		names = append(names, vs.Name)
		for _, lm := range vs.LabelMatchers {
			if lm.Name != labels.MetricName && !slices.Contains(m.labels, lm.Name) && !slices.Contains(targetLabels, lm.Name) {
				errs = append(errs, fmt.Sprintf("%s has no label %q (it has %v, and the target labels)", vs.Name, lm.Name, m.labels))
			}
		}
		return nil
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return names, nil
}

// outputLabels returns the labels the series of expr's result carry, as
// far as they can be told (known false: they cannot).
func outputLabels(reg map[string]metric, e parser.Expr) (set []string, known bool) {
	switch e := e.(type) {
	case *parser.ParenExpr:
		return outputLabels(reg, e.Expr)
	case *parser.UnaryExpr:
		return outputLabels(reg, e.Expr)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return nil, true
	case *parser.AggregateExpr:
		if e.Without {
			return nil, false
		}
		return e.Grouping, true
	case *parser.BinaryExpr:
		switch {
		case e.LHS.Type() == parser.ValueTypeScalar:
			return outputLabels(reg, e.RHS)
		case e.Op == parser.LOR:
			return nil, false
		case e.VectorMatching != nil && len(e.VectorMatching.Include) > 0:
			return nil, false
		}
		// One-to-one matching, and `and`/`unless`: the left side's labels.
		return outputLabels(reg, e.LHS)
	case *parser.Call:
		switch e.Func.Name {
		case "time", "vector", "scalar":
			return nil, true
		case "absent":
			vs, ok := e.Args[0].(*parser.VectorSelector)
			if !ok {
				return nil, false
			}
			for _, lm := range vs.LabelMatchers {
				if lm.Type == labels.MatchEqual && lm.Name != labels.MetricName {
					set = append(set, lm.Name)
				}
			}
			return set, true
		case "label_replace", "label_join":
			return nil, false
		case "histogram_quantile":
			s, ok := outputLabels(reg, e.Args[1])
			return slices.DeleteFunc(slices.Clone(s), func(l string) bool { return l == "le" }), ok
		}
		for _, a := range e.Args {
			if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
				return outputLabels(reg, a)
			}
		}
		return nil, false
	case *parser.MatrixSelector:
		return outputLabels(reg, e.VectorSelector)
	case *parser.SubqueryExpr:
		return outputLabels(reg, e.Expr)
	case *parser.VectorSelector:
		m, ok := lookup(reg, e.Name)
		if !ok {
			return nil, false
		}
		return append(slices.Clone(m.labels), targetLabels...), true
	}
	return nil, false
}
