// Command kinds is the per-kind benchmark (issue 5). In one process it runs
// the embedded API server, the controllers and, per kind, its local
// backend: fake-gcs-server for Bucket, the Spanner emulator for
// SpannerDatabase (under one SpannerInstance, created first and not timed),
// the Bigtable emulator for BigtableTable (the instance is external: the
// emulator accepts any) and a throwaway PostgreSQL (internal/pgtest) for
// Database. For each kind it measures:
//
//  1. direct: -n creates issued with the official client (storage
//     BucketHandle.Create; database admin CreateDatabase + op.Wait;
//     bigtable AdminClient.CreateTable; pgx `CREATE DATABASE "id"`) by
//     -concurrency workers, timed, after an untimed warm-up of
//     -concurrency creates; those resources are then deleted (untimed) so
//     the controllers do not pay for them;
//  2. controllers: -n objects created through the API (admin client, 32
//     parallel creates), timed until all are Ready (the lists polled every
//     50 ms), the controllers running as `infraplane up` runs them
//     (-concurrency per kind, no client-side API rate limit, the audit
//     ledger).
//
// It prints a Markdown table for docs/benchmarks.md. A kind whose backend
// is not installed is reported as skipped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/scheme"
)

// allKinds are the kinds measured, in run order.
var allKinds = []string{"Bucket", "SpannerDatabase", "BigtableTable", "Database"}

func main() {
	n := flag.Int("n", 200, "objects per kind")
	kindList := flag.String("kinds", strings.Join(allKinds, ","), "comma-separated kinds to measure: "+strings.Join(allKinds, ", "))
	concurrency := flag.Int("concurrency", 10, "the controllers' concurrency per kind (controllers.Options.Concurrency) and the direct baseline's workers")
	flag.Parse()
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	slog.SetDefault(slog.New(quiet{h}))
	ctrl.SetLogger(logr.FromSlogHandler(quiet{h}))
	klog.SetLogger(logr.FromSlogHandler(quiet{h}).V(1))
	var kinds []string
	for _, k := range strings.Split(*kindList, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(allKinds, k) {
			fmt.Fprintf(os.Stderr, "kinds bench: unknown kind %q (want %s)\n", k, strings.Join(allKinds, ", "))
			os.Exit(2)
		}
		kinds = append(kinds, k)
	}
	if *n < 1 || *concurrency < 1 || len(kinds) == 0 {
		fmt.Fprintln(os.Stderr, "kinds bench: -n and -concurrency must be positive, -kinds not empty")
		os.Exit(2)
	}
	if err := run(context.Background(), *n, *concurrency, kinds); err != nil {
		fmt.Fprintln(os.Stderr, "kinds bench:", err)
		os.Exit(1)
	}
}

func step(msg string, args ...any) { fmt.Fprintf(os.Stderr, "• "+msg+"\n", args...) }

func run(ctx context.Context, n, concurrency int, kinds []string) error {
	began := time.Now()
	dir, err := os.MkdirTemp("", "infraplane-bench-kinds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("starting the control plane")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	// As infraplane up: the audit ledger records direct edits and the
	// controllers' cloud writes.
	audit, err := ledger.Open(ledger.DefaultPath(data))
	if err != nil {
		return err
	}
	defer audit.Close()
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: data, OnWrite: controllers.DirectEdits(audit, nil)})
	if err != nil {
		return err
	}
	defer cp.Stop(context.Background())
	if err := crds.Install(ctx, cp.RESTConfig()); err != nil {
		return err
	}
	adminCfg := cp.RESTConfig()
	adminCfg.QPS, adminCfg.Burst = -1, 0 // the creates arrive as fast as the server takes them
	admin, err := client.New(adminCfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}

	step("starting the backends of %s", strings.Join(kinds, ", "))
	var benches []*kindBench
	defer func() {
		for _, b := range benches {
			if b.close != nil {
				b.close()
			}
		}
	}()
	for _, k := range kinds {
		b, err := newKind(ctx, k)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		benches = append(benches, b)
		if b.skip != "" {
			step("%s skipped: %s", k, b.skip)
		}
	}
	if err := applyProvider(ctx, admin, benches); err != nil {
		return err
	}

	step("starting the controllers (concurrency %d per kind)", concurrency)
	opts := controllers.Options{Concurrency: concurrency, ResyncInterval: 5 * time.Minute, Auditor: audit}
	stop, err := startManager(ctx, cp, opts)
	if err != nil {
		return err
	}
	defer stop()

	var results []result
	for _, b := range benches {
		if b.skip != "" {
			results = append(results, result{kind: b.name, backend: b.backend, skip: b.skip})
			continue
		}
		r, err := measure(ctx, admin, b, n, concurrency)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		results = append(results, r)
	}
	report(results, n, concurrency, time.Since(began))
	return nil
}

func startManager(ctx context.Context, cp *controlplane.ControlPlane, opts controllers.Options) (func(), error) {
	cfg, err := cp.IdentityRESTConfig(controllers.ControllerUser, []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	mgr, cleanup, err := controllers.NewManager(cfg, controllers.ManagerOptions{Options: opts, APIQPS: -1})
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(mctx) }()
	stop := func() { cancel(); <-done; cleanup() }
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		stop()
		return nil, errors.New("controller cache did not sync")
	}
	return stop, nil
}

// quiet drops the event recorder's complaints at shutdown.
type quiet struct{ slog.Handler }

func (h quiet) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "Server rejected event") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quiet) WithAttrs(a []slog.Attr) slog.Handler { return quiet{h.Handler.WithAttrs(a)} }
func (h quiet) WithGroup(g string) slog.Handler      { return quiet{h.Handler.WithGroup(g)} }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			_, v, _ := strings.Cut(line, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func machine() string {
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
