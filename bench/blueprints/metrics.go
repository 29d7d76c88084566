package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/component-base/metrics/legacyregistry"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// series is one counter of a registry.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// snapshot holds the counters (and histograms, as _sum and _count) of
// the controllers' registry and of the embedded API server's, keyed by
// name and labels, with the process's CPU time.
type snapshot struct {
	counters map[string]series
	cpu      time.Duration
}

func takeSnapshot() snapshot {
	s := snapshot{counters: map[string]series{}, cpu: processCPU()}
	s.add(ctrlmetrics.Registry)
	s.add(legacyregistry.DefaultGatherer)
	return s
}

func (s snapshot) add(g prometheus.Gatherer) {
	fams, _ := g.Gather() // partial on error: only detail is lost
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			var key strings.Builder
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
				fmt.Fprintf(&key, ",%s=%q", l.GetName(), l.GetValue())
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.counters[f.GetName()+key.String()] = series{name: f.GetName(), labels: labels, value: m.GetCounter().GetValue()}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				s.counters[f.GetName()+"_sum"+key.String()] = series{name: f.GetName() + "_sum", labels: labels, value: h.GetSampleSum()}
				s.counters[f.GetName()+"_count"+key.String()] = series{name: f.GetName() + "_count", labels: labels, value: float64(h.GetSampleCount())}
			}
		}
	}
}

// counts is what one phase cost, from two snapshots.
type counts struct {
	// apiWrites are the API server's write requests (create, update,
	// patch, apply, delete) by resource and verb ("topics APPLY",
	// "queues/status PATCH", …);
	// the benchmark's own creates and deletes are included.
	apiWrites map[string]float64
	// apiReads are the API server's GET and LIST requests by resource:
	// what the informers do not answer.
	apiReads map[string]float64
	// reconciles by controller, with their mean time and mean wait in
	// the work queue (seconds).
	reconciles, reconcileMean, queueWaitMean map[string]float64
	// cloudWrites by kind and operation ("Topic create").
	cloudWrites map[string]float64
	cpu         time.Duration
}

var writeVerbs = []string{"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}

func since(before snapshot) counts {
	after := takeSnapshot()
	c := counts{apiWrites: map[string]float64{}, apiReads: map[string]float64{}, reconciles: map[string]float64{},
		reconcileMean: map[string]float64{}, queueWaitMean: map[string]float64{}, cloudWrites: map[string]float64{}, cpu: after.cpu - before.cpu}
	sums := map[string]float64{} // histogram sums by what they are a mean of
	for k, a := range after.counters {
		d := a.value - before.counters[k].value
		if d == 0 {
			continue
		}
		l := a.labels
		switch a.name {
		case "apiserver_request_total":
			res := l["resource"]
			if l["subresource"] != "" {
				res += "/" + l["subresource"]
			}
			switch {
			case l["dry_run"] != "":
			case slices.Contains(writeVerbs, l["verb"]):
				c.apiWrites[res+" "+l["verb"]] += d
			case l["verb"] == "GET" || l["verb"] == "LIST":
				c.apiReads[res+" "+l["verb"]] += d
			}
		case "controller_runtime_reconcile_time_seconds_sum":
			sums["reconcile "+l["controller"]] += d
		case "controller_runtime_reconcile_time_seconds_count":
			c.reconcileMean[l["controller"]] += d
		case "workqueue_queue_duration_seconds_sum":
			sums["queue "+l["name"]] += d
		case "workqueue_queue_duration_seconds_count":
			c.queueWaitMean[l["name"]] += d
		case "controller_runtime_reconcile_total":
			c.reconciles[l["controller"]] += d
		case "infraplane_cloud_writes_total":
			c.cloudWrites[l["kind"]+" "+l["operation"]] += d
		}
	}
	for k, n := range c.reconcileMean {
		c.reconcileMean[k] = sums["reconcile "+k] / n
	}
	for k, n := range c.queueWaitMean {
		c.queueWaitMean[k] = sums["queue "+k] / n
	}
	return c
}

func total(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return t
}

// breakdown lists a map's entries, largest first: "topics 1,200, events 600".
func breakdown(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.0f", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// reconcilesOf is how many reconciles a controller has done so far.
func reconcilesOf(controller string) float64 {
	fams, _ := ctrlmetrics.Registry.Gather()
	var n float64
	for _, f := range fams {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
