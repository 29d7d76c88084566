// Command apiwrites measures the embedded API server's write latency,
// which is mostly etcd's: it starts the control plane on a fresh data
// directory and creates -n ConfigMaps one after another, then -n more with
// -parallel writers, and prints the latency percentiles of each phase.
// Built at two commits, it compares etcd transports (plain HTTP before
// issue 13, mutual TLS after).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/infraplane/infraplane/internal/controlplane"
)

func main() {
	n := flag.Int("n", 200, "ConfigMaps per phase")
	parallel := flag.Int("parallel", 8, "writers in the parallel phase")
	flag.Parse()
	if err := run(*n, *parallel); err != nil {
		fmt.Fprintln(os.Stderr, "apiwrites:", err)
		os.Exit(1)
	}
}

func run(n, parallel int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "apiwrites-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: dir, Logger: logger})
	if err != nil {
		return err
	}
	defer cp.Stop(ctx) //nolint:errcheck // the measurement is done
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cms := cs.CoreV1().ConfigMaps(metav1.NamespaceDefault)
	create := func(name string) (time.Duration, error) {
		began := time.Now()
		_, err := cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Data:       map[string]string{"k": "v"},
		}, metav1.CreateOptions{})
		return time.Since(began), err
	}
	// Warm-up: connections, caches.
	for i := range 20 {
		if _, err := create(fmt.Sprintf("warm-%d", i)); err != nil {
			return err
		}
	}

	seq := make([]time.Duration, n)
	began := time.Now()
	for i := range n {
		if seq[i], err = create(fmt.Sprintf("seq-%d", i)); err != nil {
			return err
		}
	}
	report("sequential", began, seq)

	par := make([]time.Duration, n)
	errs := make(chan error, parallel)
	var wg sync.WaitGroup
	began = time.Now()
	for w := range parallel {
		wg.Go(func() {
			for i := w; i < n; i += parallel {
				d, err := create(fmt.Sprintf("par-%d", i))
				if err != nil {
					errs <- err
					return
				}
				par[i] = d
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	report(fmt.Sprintf("%d writers", parallel), began, par)
	return nil
}

func report(phase string, began time.Time, d []time.Duration) {
	total := time.Since(began)
	slices.Sort(d)
	pct := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))].Round(10 * time.Microsecond) }
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("%-11s %d creates in %v (%.0f/s): p50 %v, p90 %v, p99 %v  (load %s)\n",
		phase, len(d), total.Round(time.Millisecond), float64(len(d))/total.Seconds(), pct(0.5), pct(0.9), pct(0.99), firstField(string(load)))
}

func firstField(s string) string {
	for i, r := range s {
		if r == ' ' {
			return s[:i]
		}
	}
	return s
}
