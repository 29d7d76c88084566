package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

type report struct {
	cfg                config
	began              time.Time
	took               time.Duration
	machine, cloud     string
	loadStart, loadEnd string
	queues             phaseResult
	directAll          phaseResult
	directOrdered      phaseResult
	rollouts           []rolloutResult
}

// phaseResult is one apply-to-Ready.
type phaseResult struct {
	accepted  time.Duration // every create returned
	firstStep time.Duration // in order: every topic Ready
	ready     time.Duration // everything Ready
	counts    counts
}

// rolloutResult is one rollout: its times are from the Blueprint update.
type rolloutResult struct {
	label        string
	revision     int64
	settled      time.Duration // waited before the update for the Queue controller to be idle
	complete     time.Duration // status.rollout Complete, revision stable
	allReady     time.Duration // every Queue Ready on the revision (as the 50 ms poll saw it)
	stages       []stage
	queueChanges map[string]float64 // Queue updates by what they changed
	counts       counts
	cloud        string
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func (r *report) print(w io.Writer) {
	n := r.cfg.queues
	fmt.Fprintf(w, "\nCommand: `%s`\n\n", command())
	fmt.Fprintf(w, "Machine: %s; load average %s at the start, %s at the end; run took %s.\n", r.machine, r.loadStart, r.loadEnd, r.took.Round(time.Second))
	fmt.Fprintf(w, "Cloud: %s.\n\n", r.cloud)

	fmt.Fprintf(w, "### Apply-to-Ready: %d Queues against their %d children applied directly\n\n", n, 3*n)
	fmt.Fprintln(w, "| | creates accepted | all Ready | Queues ÷ this | API writes | reconciles | cloud writes | CPU (process) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	row := func(name string, p phaseResult) {
		ratio := fmt.Sprintf("%.2f×", r.queues.ready.Seconds()/p.ready.Seconds())
		if p.ready == r.queues.ready {
			ratio = "–"
		}
		fmt.Fprintf(w, "| %s | %s | **%s** | %s | %.0f | %.0f | %.0f | %.1f s |\n", name, secs(p.accepted), secs(p.ready), ratio,
			total(p.counts.apiWrites), total(p.counts.reconciles), total(p.counts.cloudWrites), p.counts.cpu.Seconds())
	}
	row(fmt.Sprintf("%d Queues (Blueprint)", n), r.queues)
	row(fmt.Sprintf("%d children directly, all at once", 3*n), r.directAll)
	row(fmt.Sprintf("%d children directly, topics (Ready after %s) then subscriptions", 3*n, secs(r.directOrdered.firstStep)), r.directOrdered)
	fmt.Fprintf(w, "\n**Queues ÷ direct: %.2f× (all at once), %.2f× (in order).**\n\n", r.queues.ready.Seconds()/r.directAll.ready.Seconds(), r.queues.ready.Seconds()/r.directOrdered.ready.Seconds())
	fmt.Fprintln(w, "API writes and reads by resource and verb (the benchmark's own creates included), reconciles by controller (mean time, mean wait in the work queue), cloud writes:")
	fmt.Fprintln(w)
	for _, p := range []struct {
		name string
		r    phaseResult
	}{{"Queues", r.queues}, {"direct, all at once", r.directAll}, {"direct, in order", r.directOrdered}} {
		p.r.counts.detail(w, "- "+p.name+": ")
	}

	fmt.Fprintf(w, "\n### Rollout of a new revision across the %d Queues\n\nEach revision %s.\n\n", n, r.cfg.change.describe)
	fmt.Fprintln(w, "| settings | revision | stages | last stage began | phase Complete | all Queues Ready on it | **both** | API writes | reconciles | cloud writes | CPU (process) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, ro := range r.rollouts {
		last := "-"
		if len(ro.stages) > 0 {
			last = secs(ro.stages[len(ro.stages)-1].first)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | **%s** | %.0f | %.0f | %.0f | %.1f s |\n", ro.label, ro.revision, len(ro.stages), last, secs(ro.complete), secs(ro.allReady), secs(max(ro.complete, ro.allReady)),
			total(ro.counts.apiWrites), total(ro.counts.reconciles), total(ro.counts.cloudWrites), ro.counts.cpu.Seconds())
	}
	fmt.Fprintln(w)
	for _, ro := range r.rollouts {
		var st []string
		for _, s := range ro.stages {
			st = append(st, fmt.Sprintf("%s %d at +%s–%s", s.phase, s.moved, secs(s.first), secs(s.last)))
		}
		settled := "started at once (-settle 0)"
		if r.cfg.settle > 0 {
			settled = fmt.Sprintf("started after the Queue controller had been idle for %s (waited %s)", r.cfg.settle, secs(ro.settled))
		}
		fmt.Fprintf(w, "- revision %d (%s), %s: stages %s; cloud after: %s\n", ro.revision, ro.label, settled, strings.Join(st, ", "), ro.cloud)
		ro.counts.detail(w, "  ")
		fmt.Fprintf(w, "  Queue updates by what they changed: %s\n", breakdown(ro.queueChanges))
	}
}

// detail prints where a phase's requests and reconciles went.
func (c counts) detail(w io.Writer, prefix string) {
	var recs []string
	for _, name := range slices.Sorted(maps.Keys(c.reconciles)) {
		recs = append(recs, fmt.Sprintf("%s %.0f (%.0f ms, wait %.0f ms)", name, c.reconciles[name], 1000*c.reconcileMean[name], 1000*c.queueWaitMean[name]))
	}
	fmt.Fprintf(w, "%swrites %s; reads %s; reconciles %s; cloud %s\n", prefix, breakdown(c.apiWrites), breakdown(c.apiReads),
		strings.Join(recs, ", "), breakdown(c.cloudWrites))
}

func command() string {
	return strings.Join(append([]string{"go run ./bench/blueprints"}, os.Args[1:]...), " ")
}

func ptrTo[T any](v T) *T { return &v }

func intOrPercent(s string) intstr.IntOrString { return intstr.FromString(s) }
