// Command blueprints is the Blueprint benchmark (issue 6). In one process
// it runs the embedded API server, the controllers as `infraplane up` runs
// them and the local Pub/Sub (pstest, or the gcloud emulator with -cloud
// emulators), applies the example Queue Blueprint
// (examples/blueprints/queue.yaml) and measures:
//
//  1. apply-to-Ready of -queues Queues (three children each: a dead-letter
//     topic, a topic and a subscription), against the same children
//     rendered from the same Blueprint and applied directly, twice: all at
//     once (subscriptions wait for their topics through their references,
//     as `kubectl apply -f dir` would leave them) and in dependency order
//     (every topic, until all are Ready, then every subscription);
//  2. the rollout of a new Blueprint revision (-change: a cloud label on
//     every child, or the subscription's retention) across the Queues, from the Blueprint update until the
//     rollout is Complete on the new revision and every Queue is Ready on
//     it: once with the default rollout settings (canary 1, batches of
//     25%), once with batchSize 100%. Each starts once the Queue
//     controller has been idle for -settle (default 5 s), so that the
//     previous phase's last reconciles do not count.
//
// Each phase counts the API server's writes, the reconciles and the cloud
// writes from the process's metrics. It prints a Markdown report for
// docs/benchmarks.md on stdout; progress goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/infraplane/infraplane/internal/localcloud"
)

type config struct {
	queues        int
	cloud         localcloud.Mode
	concurrency   int
	createWorkers int
	warmup        int
	blueprintFile string
	timeout       time.Duration
	profileDir    string
	settle        time.Duration
	change        change
}

func main() {
	var (
		cfg      config
		cloud    string
		what     string
		logLevel string
	)
	flag.IntVar(&cfg.queues, "queues", 200, "Queue instances (three children each)")
	flag.StringVar(&cloud, "cloud", "fakes", "Pub/Sub backend: fakes (pstest, in process) or emulators (the gcloud Pub/Sub emulator)")
	flag.IntVar(&cfg.concurrency, "concurrency", 10, "the controllers' concurrency per kind, the Queue controller's included (controllers.Options.Concurrency)")
	flag.IntVar(&cfg.createWorkers, "create-workers", 32, "parallel creates into the API server")
	flag.IntVar(&cfg.warmup, "warmup", 10, "Queues created, made Ready and deleted before measuring (untimed)")
	flag.StringVar(&cfg.blueprintFile, "blueprint", "examples/blueprints/queue.yaml", "the Queue Blueprint (run from the repository root)")
	flag.DurationVar(&cfg.timeout, "timeout", 3*time.Minute, "give up on a phase after this long")
	flag.DurationVar(&cfg.settle, "settle", 5*time.Second, "before each rollout, wait until the Queue controller has been idle this long (it goes on reconciling for a few seconds after the last Queue is Ready); 0 starts each rollout at once")
	flag.StringVar(&what, "change", "", "what each rollout changes: labels (a cloud label on every child) or retention (the subscription's retention; the emulator refuses topic label updates); default labels with -cloud fakes, retention with -cloud emulators")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "write a CPU profile of each measured phase here (cpu-PHASE.pprof)")
	flag.StringVar(&logLevel, "log-level", "warn", "log level of the control plane and controllers (debug, info, warn, error)")
	flag.Parse()

	setupLogging(logLevel)
	mode, err := localcloud.ParseMode(cloud)
	if err == nil && mode != localcloud.ModeFakes && mode != localcloud.ModeEmulators {
		err = fmt.Errorf("want fakes or emulators, not %q", cloud)
	}
	if err != nil {
		fatal(fmt.Errorf("-cloud: %w", err))
	}
	cfg.cloud = mode
	if what == "" {
		what = "labels"
		if mode == localcloud.ModeEmulators {
			what = "retention"
		}
	}
	var ok bool
	if cfg.change, ok = changes[what]; !ok {
		fatal(fmt.Errorf("-change: want labels or retention, not %q", what))
	}
	if cfg.queues < 2 || cfg.concurrency < 1 || cfg.createWorkers < 1 || cfg.warmup < 0 {
		fatal(errors.New("-queues must be at least 2 (a canary and a batch), -concurrency and -create-workers positive, -warmup not negative"))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if err != nil {
		fatal(err)
	}
	rep.print(os.Stdout)
}

func step(msg string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s • %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(msg, args...))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "blueprints bench:", err)
	os.Exit(1)
}

func setupLogging(level string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		fatal(fmt.Errorf("-log-level: %w", err))
	}
	h := quiet{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})}
	slog.SetDefault(slog.New(h))
	ctrl.SetLogger(logr.FromSlogHandler(h))
	klog.SetLogger(logr.FromSlogHandler(h).V(1))
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
