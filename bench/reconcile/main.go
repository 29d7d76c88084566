// Command reconcile is infraplane's foundation benchmark: it runs the
// embedded API server, the local cloud and the controllers in this process
// and measures, per Pub/Sub backend (pstest, and the gcloud emulator when
// it is installed):
//
//  1. apply-to-Ready: N Topics + N Subscriptions created at once in the
//     API server until all are Ready, against the same creates issued
//     directly with the Google admin clients at the controllers'
//     concurrency;
//  2. steady-state cloud reads per object per resync interval, and cloud
//     writes, over a window of several intervals;
//  3. heap in use per managed object.
//
// Each backend runs in a child process of its own (so heap numbers do not
// mix); the parent prints one Markdown report on stdout. Progress goes to
// stderr. See bench/README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/infraplane/infraplane/internal/localcloud/emulator"
)

var backends = []string{"pstest", "emulator"}

// verbose passes the children's logs through to stderr (-log-level below warn).
var verbose bool

func main() {
	var (
		cfg      config
		child    bool
		logLevel string
	)
	flag.StringVar(&cfg.backend, "backend", "all", "pstest, emulator, or all (each in its own child process; the emulator only when installed)")
	flag.IntVar(&cfg.topics, "topics", 1000, "Topics to create")
	flag.IntVar(&cfg.subs, "subscriptions", 1000, "Subscriptions to create; subscription i references topic i mod -topics")
	flag.IntVar(&cfg.concurrency, "concurrency", 10, "controllers.Options.Concurrency (per kind), and the workers of the direct baseline (per kind)")
	flag.IntVar(&cfg.createWorkers, "create-workers", 32, "parallel creates into the API server")
	flag.IntVar(&cfg.warmup, "warmup", 200, "topic+subscription pairs created directly before measuring (JIT warm-up of the emulator)")
	flag.DurationVar(&cfg.applyResync, "apply-resync", 30*time.Second, "resync interval during apply-to-Ready (infraplane up's default)")
	flag.DurationVar(&cfg.resync, "resync", 10*time.Second, "resync interval for the steady-state window")
	flag.IntVar(&cfg.intervals, "intervals", 6, "length of the steady-state window, in resync intervals")
	flag.DurationVar(&cfg.readyTimeout, "ready-timeout", 3*time.Minute, "give up waiting for Ready after this long")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "directory for CPU profiles of the apply phase and the steady-state window, and heap profiles before creating the objects and with all Ready (cpu-apply-BACKEND.pprof, cpu-steady-BACKEND.pprof, heap-before-BACKEND.pprof, heap-ready-BACKEND.pprof)")
	flag.StringVar(&cfg.metricsDir, "metrics-dir", "", "directory for the non-zero metric deltas of each phase (metrics-PHASE-BACKEND.txt)")
	flag.Float64Var(&cfg.controllerQPS, "controller-qps", -1, "the controllers' API client QPS per resource (controllers.ManagerOptions.APIQPS, burst 2×): -1 no client-side limit, as infraplane up; 0 NewManager's default (200), as infraplane controller")
	flag.BoolVar(&cfg.ledger, "ledger", true, "run the audit ledger as infraplane up does (direct edits and cloud writes, fsynced); false measures without it")
	flag.StringVar(&logLevel, "log-level", "warn", "log level of the control plane and controllers")
	flag.BoolVar(&child, "child", false, "internal: run one backend and print its result as JSON")
	flag.Parse()

	setupLogging(logLevel)
	verbose = logLevel != "warn" && logLevel != "error"
	ctrlmetrics.RegisterRESTClientMetrics(ctrlmetrics.MetricRequestLatency, ctrlmetrics.MetricRateLimiterLatency)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	for _, d := range []string{cfg.profileDir, cfg.metricsDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				fatal(err)
			}
		}
	}
	if cfg.topics < 1 || cfg.subs < 0 || cfg.concurrency < 1 || cfg.createWorkers < 1 || cfg.intervals < 1 {
		fatal(errors.New("-topics, -concurrency, -create-workers and -intervals must be positive"))
	}

	if child {
		res, err := run(ctx, cfg)
		if err != nil {
			res.Error = err.Error()
		}
		if jerr := json.NewEncoder(os.Stdout).Encode(res); jerr != nil {
			fatal(jerr)
		}
		if err != nil {
			os.Exit(1)
		}
		return
	}

	var want []string
	switch cfg.backend {
	case "all":
		want = backends
	case "pstest", "emulator":
		want = []string{cfg.backend}
	default:
		fatal(fmt.Errorf("-backend: want pstest, emulator or all, not %q", cfg.backend))
	}
	var (
		results []*Result
		notes   []string
		failed  bool
	)
	for _, b := range want {
		if b == "emulator" {
			if _, err := emulator.LocatePubSub(); err != nil {
				if cfg.backend == "all" && errors.Is(err, emulator.ErrNotInstalled) {
					notes = append(notes, "emulator: skipped, "+err.Error())
					continue
				}
				fatal(err)
			}
		}
		res, err := runChild(ctx, b)
		if err != nil {
			failed = true
			notes = append(notes, fmt.Sprintf("%s: %v", b, err))
		}
		if res != nil {
			results = append(results, res)
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Print(render(results, notes, describeMachine(), commandLine()))
	if failed {
		os.Exit(1)
	}
}

// runChild runs one backend in a child process (this program with
// -child -backend b) and decodes its result.
func runChild(ctx context.Context, backend string) (*Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-child", "-backend", backend}
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "backend" && f.Name != "child" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	cmd := exec.CommandContext(ctx, exe, args...)
	// On Ctrl-C the child gets SIGINT too (same process group) and stops
	// everything it started; if it hangs, it is killed, and the kernel
	// kills its emulator (Pdeathsig).
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	var out bytes.Buffer
	cmd.Stdout = &out
	// Progress lines go through; everything else (the API server's, etcd's
	// and the controllers' logs, e.g. cancelled requests at shutdown) goes
	// to a log file, shown only when the run fails.
	logf, err := os.CreateTemp("", "infraplane-bench-"+backend+"-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = pw
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if strings.HasPrefix(line, "bench: ") || verbose {
				fmt.Fprintln(os.Stderr, line)
			}
		}
		_, _ = io.Copy(logf, pr)
	}()
	step("running backend in a child process", "backend", backend, "log", logf.Name())
	runErr := cmd.Start()
	if runErr == nil {
		runErr = cmd.Wait()
	}
	pw.Close()
	<-copied
	pr.Close()
	if runErr != nil {
		if tail, err := tailFile(logf.Name(), 40); err == nil {
			fmt.Fprintf(os.Stderr, "bench: last lines of %s:\n%s", logf.Name(), tail)
		}
	} else {
		os.Remove(logf.Name()) // kept only when the run failed
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("reading the child's result: %w", err))
	}
	if res.Error != "" {
		return &res, errors.New(res.Error)
	}
	return &res, runErr
}

func tailFile(path string, n int) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, ""), nil
}

func commandLine() string {
	return strings.TrimSpace("go run ./bench/reconcile " + strings.Join(os.Args[1:], " "))
}

// setupLogging routes slog, controller-runtime and klog (the API server,
// etcd via the control plane) through one handler at level on stderr.
func setupLogging(level string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		fatal(fmt.Errorf("-log-level: %w", err))
	}
	h := quietHandler{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})}
	slog.SetDefault(slog.New(h))
	ctrl.SetLogger(logr.FromSlogHandler(h))
	klog.SetLogger(logr.FromSlogHandler(h).V(1))
}

// quietHandler drops the event recorder's complaints when the namespace
// goes away during shutdown.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "Server rejected event") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(a)}
}
func (h quietHandler) WithGroup(n string) slog.Handler { return quietHandler{h.Handler.WithGroup(n)} }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(2)
}
