package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics/legacyregistry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
)

// createParallelism is how many creates the admin client has in flight
// while applying the objects.
const createParallelism = 32

// readyTimeout bounds the wait for all objects of a kind to be Ready.
const readyTimeout = 5 * time.Minute

type result struct {
	kind, backend, skip string

	direct   time.Duration // n direct creates, -concurrency workers
	accepted time.Duration // n creates accepted by the API server
	ready    time.Duration // … and all n Ready

	reconciles      float64 // during the controllers' phase
	reconcileMean   float64 // seconds
	apiWrites       float64 // controllers' writes of the kind (POST/PUT/PATCH, status included) and Events
	cloudCalls      float64 // the controllers' calls to the kind's service
	cloudCallMean   float64 // seconds
	cloudWriteCalls float64 // creates the reconciler counted (infraplane_cloud_writes_total)
	apiWriteMean    float64 // seconds: the API server's mean for PATCH/PUT of the kind (status included)
}

// measure runs the direct baseline, then the controllers, for one kind.
func measure(ctx context.Context, admin client.Client, b *kindBench, n, workers int) (result, error) {
	r := result{kind: b.name, backend: b.backend}
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}}); err != nil {
		return r, err
	}
	if b.prepare != nil {
		step("%s: preparing (untimed)", b.name)
		if err := b.prepare(ctx, admin, n, workers); err != nil {
			return r, fmt.Errorf("prepare: %w", err)
		}
	}

	ids := func(prefix string, count int) []string {
		out := make([]string, count)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%04d", prefix, i)
		}
		return out
	}
	warm, direct := ids("w", workers), ids("d", n)
	step("%s: direct, warm-up of %d creates (untimed)", b.name, len(warm))
	if err := parallel(ctx, workers, warm, b.create); err != nil {
		return r, fmt.Errorf("direct warm-up: %w", err)
	}
	if err := parallel(ctx, workers, warm, b.remove); err != nil {
		return r, fmt.Errorf("deleting the warm-up's resources: %w", err)
	}
	step("%s: direct, %d creates with %d workers", b.name, n, workers)
	t0 := time.Now()
	if err := parallel(ctx, workers, direct, b.create); err != nil {
		return r, fmt.Errorf("direct: %w", err)
	}
	r.direct = time.Since(t0)
	step("%s: direct took %s; deleting its resources (untimed)", b.name, secs(r.direct))
	if err := parallel(ctx, workers, direct, b.remove); err != nil {
		return r, fmt.Errorf("deleting the direct resources: %w", err)
	}

	step("%s: controllers, %d objects (%d parallel creates) until all Ready", b.name, n, createParallelism)
	before := takeSnapshot()
	idx := make([]string, n)
	for i := range idx {
		idx[i] = objectName(i)
	}
	t0 = time.Now()
	if err := parallel(ctx, createParallelism, idx, func(ctx context.Context, _ int, name string) error {
		return admin.Create(ctx, b.object(name))
	}); err != nil {
		return r, fmt.Errorf("creating the objects: %w", err)
	}
	r.accepted = time.Since(t0)
	if err := waitReady(ctx, admin, b, n, t0); err != nil {
		return r, err
	}
	r.ready = time.Since(t0)
	d := delta(before, takeSnapshot())
	step("%s: all %d Ready after %s (direct %s)", b.name, n, secs(r.ready), secs(r.direct))

	r.reconciles = d.sum("infraplane_reconciles_total", "kind", b.name)
	r.reconcileMean = d.mean("infraplane_reconcile_duration_seconds", "kind", b.name)
	r.cloudCalls = d.sum("infraplane_cloud_calls_total", "service", b.service)
	r.cloudCallMean = d.mean("infraplane_cloud_call_duration_seconds", "service", b.service)
	r.cloudWriteCalls = d.sum("infraplane_cloud_writes_total", "kind", b.name, "operation", "create")
	const srv = "server:apiserver_request_duration_seconds_count"
	for _, verb := range []string{"POST", "PUT", "PATCH", "APPLY"} {
		r.apiWrites += d.sum(srv, "group", b.group, "resource", b.resource, "verb", verb)
		r.apiWrites += d.sum(srv, "resource", "events", "verb", verb)
	}
	r.apiWrites -= float64(n) // the admin's creates
	var cnt, sum float64
	for _, verb := range []string{"PUT", "PATCH", "APPLY"} {
		cnt += d.sum(srv, "group", b.group, "resource", b.resource, "verb", verb)
		sum += d.sum("server:apiserver_request_duration_seconds_sum", "group", b.group, "resource", b.resource, "verb", verb)
	}
	if cnt > 0 {
		r.apiWriteMean = sum / cnt
	}
	return r, nil
}

// parallel calls fn for every id with the given number of workers; fn
// learns its worker's index. The first error stops the rest.
func parallel(ctx context.Context, workers int, ids []string, fn func(ctx context.Context, w int, id string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan string)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ch {
				if err := fn(ctx, w, id); err != nil {
					once.Do(func() { first = fmt.Errorf("%s: %w", id, err); cancel() })
				}
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case ch <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	return first
}

type managedObject interface {
	ManagedStatus() *commonv1.ManagedStatus
}

// waitReady lists the kind every 50 ms until n objects are Ready.
func waitReady(ctx context.Context, admin client.Client, b *kindBench, n int, since time.Time) error {
	deadline := since.Add(readyTimeout)
	for {
		l := b.newList()
		if err := admin.List(ctx, l, client.InNamespace(b.ns)); err != nil {
			return err
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return err
		}
		ready := 0
		var notReady string
		for _, it := range items {
			if o, ok := it.(managedObject); ok && meta.IsStatusConditionTrue(o.ManagedStatus().Conditions, commonv1.TypeReady) {
				ready++
			} else if ok && notReady == "" {
				if c := meta.FindStatusCondition(o.ManagedStatus().Conditions, commonv1.TypeReady); c != nil {
					notReady = fmt.Sprintf("%s: %s", c.Reason, c.Message)
				}
			}
		}
		if ready >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d objects Ready after %s (one not Ready: %s)", ready, n, readyTimeout, notReady)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// snapshot holds counters and histograms (as _sum and _count) of the
// controllers' registry and, prefixed "server:", of the API server's.
type snapshot map[string]float64

func takeSnapshot() snapshot {
	s := snapshot{}
	s.add("", ctrlmetrics.Registry)
	s.add("server:", legacyregistry.DefaultGatherer)
	return s
}

func (s snapshot) add(prefix string, g prometheus.Gatherer) {
	fams, _ := g.Gather() // partial on error: only detail is lost
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			name := prefix + f.GetName()
			labels := labelString(m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s[name+labels] = m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				s[name+"_sum"+labels] = m.GetHistogram().GetSampleSum()
				s[name+"_count"+labels] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
}

// labelString is {a="x",b="y",} in the registry's (sorted) order.
func labelString(ls []*dto.LabelPair) string {
	var b strings.Builder
	b.WriteByte('{')
	for _, l := range ls {
		fmt.Fprintf(&b, "%s=%q,", l.GetName(), l.GetValue())
	}
	b.WriteByte('}')
	return b.String()
}

func delta(before, after snapshot) snapshot {
	d := snapshot{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// sum adds the series of metric name having every label=value of match.
func (s snapshot) sum(name string, match ...string) float64 {
	var total float64
	for k, v := range s {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(match); i += 2 {
			if !strings.Contains(k, fmt.Sprintf("{%s=%q,", match[i], match[i+1])) && !strings.Contains(k, fmt.Sprintf(",%s=%q,", match[i], match[i+1])) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

func (s snapshot) mean(name string, match ...string) float64 {
	n := s.sum(name+"_count", match...)
	if n == 0 {
		return 0
	}
	return s.sum(name+"_sum", match...) / n
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func report(results []result, n, workers int, took time.Duration) {
	fmt.Printf("\nCommand: `%s`\n\n", command())
	fmt.Printf("Machine: %s, load average %s; run took %s.\n\n", machine(), loadAvg(), took.Round(time.Second))
	fmt.Printf("| kind | backend | %d through the controllers (accepted by the API after) | %d direct, %d workers | ratio |\n", n, n, workers)
	fmt.Println("|---|---|---:|---:|---:|")
	for _, r := range results {
		if r.skip != "" {
			fmt.Printf("| %s | %s | skipped: %s | | |\n", r.kind, r.backend, oneLine(r.skip))
			continue
		}
		fmt.Printf("| %s | %s | %s (%s) | %s | **%.1f×** |\n", r.kind, r.backend, secs(r.ready), secs(r.accepted), secs(r.direct), r.ready.Seconds()/r.direct.Seconds())
	}
	fmt.Printf("\nDuring the controllers' phase, per object:\n\n")
	fmt.Println("| kind | reconciles | mean reconcile | cloud calls | mean cloud call | cloud creates | API writes (kind + Events) | mean PATCH of the kind (server) | direct: one create, mean |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		if r.skip != "" {
			continue
		}
		per := func(v float64) string { return fmt.Sprintf("%.2f", v/float64(n)) }
		fmt.Printf("| %s | %s | %.0f ms | %s | %.1f ms | %s | %s | %.1f ms | %.1f ms |\n", r.kind, per(r.reconciles), r.reconcileMean*1000,
			per(r.cloudCalls), r.cloudCallMean*1000, per(r.cloudWriteCalls), per(r.apiWrites), r.apiWriteMean*1000,
			r.direct.Seconds()*1000*float64(workers)/float64(n))
	}
}

func command() string {
	args := []string{"go run ./bench/kinds"}
	for _, a := range os.Args[1:] {
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
