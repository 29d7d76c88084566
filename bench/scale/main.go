// Command scale measures memory per object at scale: it runs the embedded
// API server, pstest (as `infraplane up --cloud fakes`) and the controllers
// in this process, creates N Topics with a long resync interval and
// reports, on stdout as Markdown:
//
//   - the time until all N are Ready, and the process's CPU during it;
//   - RSS (VmRSS, and the peak VmHWM) from /proc/self/status, and the heap
//     in use and live heap (after a forced GC) per object;
//   - the size of etcd's db file;
//   - the server's latency of one raw JSON list of all topics;
//   - the same memory figures after a steady-state window.
//
// Subscriptions are left out: topics are enough for memory per object.
// See bench/README.md, "Scale".
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/scheme"
)

const (
	namespace = "scale"
	project   = "scale-bench"
)

type config struct {
	topics        int
	concurrency   int
	createWorkers int
	resync        time.Duration
	steady        time.Duration
	readyTimeout  time.Duration
	lists         int
	profileDir    string
	watchCache    bool
	memLimit      bool
	label         string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.topics, "topics", 2000, "Topics to create")
	flag.IntVar(&cfg.concurrency, "concurrency", 10, "controllers.Options.Concurrency (per kind), as infraplane up's --concurrency")
	flag.IntVar(&cfg.createWorkers, "create-workers", 32, "parallel creates into the API server")
	flag.DurationVar(&cfg.resync, "resync", time.Hour, "resync interval (long: the run measures memory, not drift detection)")
	flag.DurationVar(&cfg.steady, "steady", time.Minute, "steady-state window after all are Ready, before memory is read again")
	flag.DurationVar(&cfg.readyTimeout, "ready-timeout", time.Hour, "stop creating and waiting this long after the first create, then report what was reached")
	flag.IntVar(&cfg.lists, "lists", 3, "raw JSON lists of all topics to time (the report gives the fastest and the slowest)")
	flag.StringVar(&cfg.profileDir, "profile-dir", "", "directory for heap profiles before creating, with all Ready and after the window (heap-before.pprof, heap-ready.pprof, heap-steady.pprof), and a CPU profile from the first create until all are Ready (cpu-apply.pprof)")
	flag.BoolVar(&cfg.watchCache, "watch-cache", true, "the API server's watch cache for infraplane's kinds (false: -watch-cache-sizes KIND#0 for them)")
	flag.BoolVar(&cfg.memLimit, "memory-limit", true, "set the soft memory limit as infraplane up does (GOMEMLIMIT, when set, wins)")
	flag.StringVar(&cfg.label, "label", "", "name of this run in the report (e.g. before, after)")
	logLevel := flag.String("log-level", "warn", "log level of the control plane and controllers")
	flag.Parse()

	var l slog.Level
	if err := l.UnmarshalText([]byte(*logLevel)); err != nil {
		fatal(err)
	}
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})
	slog.SetDefault(slog.New(h))
	ctrl.SetLogger(logr.FromSlogHandler(h))
	klog.SetLogger(logr.FromSlogHandler(h).V(1))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			fatal(err)
		}
	}
	res, err := run(ctx, cfg)
	fmt.Print(res.markdown(cfg))
	if err != nil {
		fatal(err)
	}
}

// result is what one run measured; zero values were not reached.
type result struct {
	memLimit               string
	loadStart, loadEnd     string
	createsTook, readyTook time.Duration
	ready                  int
	applyCPU               float64
	heapBefore, liveBefore uint64
	rssBefore              uint64
	atReady, atSteady      mem
	classesBefore          memClasses
	classesReady           memClasses
	classesSteady          memClasses
	etcdDB, etcdDBSteady   int64
	listMin, listMax       time.Duration
	listBytes              int
}

type mem struct {
	rss, hwm, heapInuse, heapLive uint64
}

func run(ctx context.Context, cfg config) (res *result, err error) {
	res = &result{loadStart: loadAvg()}
	defer func() { res.loadEnd = loadAvg() }()
	if cfg.memLimit {
		res.memLimit = setMemoryLimit()
	} else {
		res.memLimit = "none"
	}
	dir, err := os.MkdirTemp("", "infraplane-scale-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	// As infraplane up: the audit ledger records direct edits and cloud writes.
	audit, err := ledger.Open(ledger.DefaultPath(dir))
	if err != nil {
		return res, err
	}
	defer audit.Close()
	cpDir := filepath.Join(dir, "cp")
	cpOpts := controlplane.Options{DataDir: cpDir, Logger: slog.Default(), OnWrite: controllers.DirectEdits(audit, nil)}
	if !cfg.watchCache {
		noWatchCache(&cpOpts)
	}
	step("starting control plane", "watchCache", cfg.watchCache, "memoryLimit", res.memLimit)
	cp, err := controlplane.Start(ctx, cpOpts)
	if err != nil {
		return res, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cp.Stop(sctx)
	}()
	admin, err := client.New(unthrottled(cp.RESTConfig()), client.Options{Scheme: scheme.New()})
	if err != nil {
		return res, err
	}
	if err := crds.Install(ctx, cp.RESTConfig()); err != nil {
		return res, err
	}
	cloud, err := localcloud.Start(ctx, localcloud.Options{Mode: localcloud.ModeFakes, LogDir: filepath.Join(dir, "logs"), Project: project})
	if err != nil {
		return res, err
	}
	defer func() { _ = cloud.Stop() }()
	pc := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: project},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   project,
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: cloud.Endpoints().PubSub},
		},
	}
	if err := admin.Create(ctx, pc); err != nil {
		return res, err
	}
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: namespace, Annotations: map[string]string{corev1alpha1.NamespaceAnnotation: project},
	}}); err != nil {
		return res, err
	}
	probe := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "finalizer-policy-probe"}}
	if err := crds.EnableFinalizerPolicy(ctx, admin, probe, managed.Finalizer); err != nil {
		return res, err
	}

	mcfg, err := cp.IdentityRESTConfig(controllers.ControllerUser, []string{"system:masters"})
	if err != nil {
		return res, err
	}
	mgr, cleanup, err := controllers.NewManager(mcfg, controllers.ManagerOptions{
		Options:            controllers.Options{Concurrency: cfg.concurrency, ResyncInterval: cfg.resync, Auditor: audit},
		AllowSecondManager: true,
		APIQPS:             -1, // as infraplane up
	})
	if err != nil {
		return res, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(mctx); err != nil {
			slog.Warn("manager stopped", "err", err)
		}
	}()
	defer func() { cancel(); <-done; cleanup() }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return res, fmt.Errorf("controller cache did not sync")
	}
	tracker := &readyTracker{want: cfg.topics, done: make(chan struct{}), seen: map[string]bool{}}
	inf, err := mgr.GetCache().GetInformer(ctx, &pubsubv1.Topic{})
	if err != nil {
		return res, err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { tracker.observe(o) },
		UpdateFunc: func(_, o any) { tracker.observe(o) },
	}); err != nil {
		return res, err
	}

	res.heapBefore, res.liveBefore = heapAfterGC()
	res.rssBefore, _ = procMem()
	res.classesBefore = readMemClasses()
	writeHeap(cfg, "heap-before.pprof")
	stopCPU := startCPUProfile(cfg, "cpu-apply.pprof")

	step("creating topics", "topics", cfg.topics, "workers", cfg.createWorkers)
	cpu0 := selfCPU()
	start := time.Now()
	tracker.begin()
	// -ready-timeout bounds creates and waiting together: a run that
	// cannot finish (100,000 on a busy machine) still reports what it
	// reached.
	deadline := start.Add(cfg.readyTimeout)
	cctx, ccancel := context.WithDeadline(ctx, deadline)
	defer ccancel()
	var next, created atomic.Int64
	go progress(cctx, tracker, &created, start)
	var wg sync.WaitGroup
	var createErr atomic.Value
	for range cfg.createWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cctx.Err() == nil && createErr.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.topics {
					return
				}
				t := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("t-%06d", i)}}
				err := admin.Create(cctx, t)
				switch {
				case err == nil:
					created.Add(1)
				case cctx.Err() == nil:
					createErr.Store(err)
				}
			}
		}()
	}
	wg.Wait()
	res.createsTook = time.Since(start)
	if e := createErr.Load(); e != nil {
		return res, fmt.Errorf("creating topics: %v", e)
	}
	step("waiting for Ready", "created", created.Load(), "creates took", res.createsTook.Round(time.Millisecond))
	waitErr := tracker.wait(ctx, max(time.Until(deadline), time.Second))
	if n := int(created.Load()); n < cfg.topics {
		waitErr = fmt.Errorf("only %d of %d topics created within -ready-timeout %s", n, cfg.topics, cfg.readyTimeout)
	}
	res.readyTook, res.ready = tracker.result()
	res.applyCPU = selfCPU() - cpu0
	stopCPU()
	res.atReady = readMem()
	res.classesReady = readMemClasses()
	writeHeap(cfg, "heap-ready.pprof")
	res.etcdDB = fileSize(filepath.Join(cpDir, "etcd", "member", "snap", "db"))
	step("memory with all Ready", "ready", res.ready, "rss MiB", res.atReady.rss>>20, "live heap MiB", res.atReady.heapLive>>20)
	if waitErr != nil {
		return res, waitErr
	}

	// One raw JSON list of all topics, as kubectl get --chunk-size=0 -o json
	// would fetch it, minus kubectl.
	cs, err := kubernetes.NewForConfig(unthrottled(cp.RESTConfig()))
	if err != nil {
		return res, err
	}
	for range cfg.lists {
		t0 := time.Now()
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis", pubsubv1.GroupVersion.Group, pubsubv1.GroupVersion.Version, "topics").
			SetHeader("Accept", "application/json").Do(ctx).Raw()
		d := time.Since(t0)
		if err != nil {
			return res, fmt.Errorf("listing topics: %w", err)
		}
		res.listBytes = len(raw)
		if res.listMin == 0 || d < res.listMin {
			res.listMin = d
		}
		res.listMax = max(res.listMax, d)
	}
	step("listed", "fastest", res.listMin.Round(time.Millisecond), "slowest", res.listMax.Round(time.Millisecond))

	step("steady state", "window", cfg.steady)
	select {
	case <-time.After(cfg.steady):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.atSteady = readMem()
	res.classesSteady = readMemClasses()
	res.etcdDBSteady = fileSize(filepath.Join(cpDir, "etcd", "member", "snap", "db"))
	writeHeap(cfg, "heap-steady.pprof")
	return res, nil
}

// readyTracker counts Topics that show Ready=True, from the controllers'
// own informer (no extra load).
type readyTracker struct {
	want  int
	mu    sync.Mutex
	start time.Time
	seen  map[string]bool
	took  time.Duration
	done  chan struct{}
}

func (r *readyTracker) begin() {
	r.mu.Lock()
	r.start = time.Now()
	r.mu.Unlock()
}

func (r *readyTracker) observe(o any) {
	t, ok := o.(*pubsubv1.Topic)
	if !ok || t.Namespace != namespace || !meta.IsStatusConditionTrue(t.Status.Conditions, commonv1.TypeReady) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() || r.seen[t.Name] {
		return
	}
	r.seen[t.Name] = true
	if len(r.seen) == r.want {
		r.took = time.Since(r.start)
		close(r.done)
	}
}

func (r *readyTracker) wait(ctx context.Context, timeout time.Duration) error {
	select {
	case <-r.done:
		return nil
	case <-time.After(timeout):
		_, n := r.result()
		return fmt.Errorf("only %d of %d topics Ready within -ready-timeout", n, r.want)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// progress reports every 30 s how far the run got, until ctx ends or all
// are Ready.
func progress(ctx context.Context, r *readyTracker, created *atomic.Int64, start time.Time) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			_, n := r.result()
			rss, _ := procMem()
			step("progress", "created", created.Load(), "ready", n, "of", r.want, "after", time.Since(start).Round(time.Second), "rss MiB", rss>>20)
		case <-r.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (r *readyTracker) result() (time.Duration, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.took, len(r.seen)
}

func readMem() mem {
	var m mem
	m.heapInuse, m.heapLive = heapAfterGC()
	m.rss, m.hwm = procMem()
	return m
}

// heapAfterGC returns HeapInuse and HeapAlloc (the live heap) after a full
// collection.
func heapAfterGC() (inuse, live uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.HeapAlloc
}

// procMem reads VmRSS and VmHWM (peak RSS) of this process, in bytes.
func procMem() (rss, hwm uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseUint(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func writeHeap(cfg config, name string) {
	if cfg.profileDir == "" {
		return
	}
	f, err := os.Create(filepath.Join(cfg.profileDir, name))
	if err != nil {
		fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fatal(err)
	}
}

// startCPUProfile profiles the process's CPU into the profile directory
// until the returned function is called (a no-op without -profile-dir).
func startCPUProfile(cfg config, name string) func() {
	if cfg.profileDir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(cfg.profileDir, name))
	if err != nil {
		fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func unthrottled(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	return c
}

func (r *result) markdown(cfg config) string {
	var b strings.Builder
	mib := func(v uint64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) }
	per := func(v, base uint64) string {
		if v < base {
			return "–"
		}
		return fmt.Sprintf("%.1f KiB", float64(v-base)/1024/float64(cfg.topics))
	}
	perAbs := func(v uint64) string { return fmt.Sprintf("%.1f KiB", float64(v)/1024/float64(cfg.topics)) }
	fmt.Fprintf(&b, "### scale run %s: %d topics\n\n", cfg.label, cfg.topics)
	fmt.Fprintf(&b, "`go run ./bench/scale %s` — %d CPUs, Go %s, GOMAXPROCS %d, load %s → %s, soft memory limit: %s, watch cache for infraplane's kinds: %v\n\n",
		strings.Join(os.Args[1:], " "), runtime.NumCPU(), runtime.Version(), runtime.GOMAXPROCS(0), r.loadStart, r.loadEnd, r.memLimit, cfg.watchCache)
	rows := [][2]string{
		{"creates took", r.createsTook.Round(time.Millisecond).String()},
		{"all Ready after (from the first create)", fmt.Sprintf("%s (%d Ready)", r.readyTook.Round(time.Millisecond), r.ready)},
		{"CPU during apply", fmt.Sprintf("%.0f s (%.1f ms per object)", r.applyCPU, 1000*r.applyCPU/float64(cfg.topics))},
		{"RSS before creating", mib(r.rssBefore)},
		{"RSS, all Ready (peak VmHWM)", fmt.Sprintf("%s (%s)", mib(r.atReady.rss), mib(r.atReady.hwm))},
		{"RSS per object, all Ready (whole process / minus before)", fmt.Sprintf("%s / %s", perAbs(r.atReady.rss), per(r.atReady.rss, r.rssBefore))},
		{"heap in use per object, all Ready", per(r.atReady.heapInuse, r.heapBefore)},
		{"live heap per object, all Ready", per(r.atReady.heapLive, r.liveBefore)},
		{"etcd db file, all Ready / after the window", fmt.Sprintf("%s / %s", mib(uint64(r.etcdDB)), mib(uint64(r.etcdDBSteady)))},
		{"raw JSON list of all topics (fastest, slowest)", fmt.Sprintf("%s, %s (%s)", r.listMin.Round(time.Millisecond), r.listMax.Round(time.Millisecond), mib(uint64(r.listBytes)))},
		{fmt.Sprintf("RSS after %s steady state (peak)", cfg.steady), fmt.Sprintf("%s (%s)", mib(r.atSteady.rss), mib(r.atSteady.hwm))},
		{"RSS per object after the window (whole process)", perAbs(r.atSteady.rss)},
		{"live heap per object after the window", per(r.atSteady.heapLive, r.liveBefore)},
	}
	rows = append(rows, r.classesReady.rows("all Ready", r.classesBefore, cfg.topics)...)
	rows = append(rows, r.classesSteady.rows("after the window", r.classesBefore, cfg.topics)...)
	b.WriteString("| measure | value |\n|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
	}
	b.WriteString("\n")
	return b.String()
}

func step(msg string, kv ...any) {
	var b strings.Builder
	fmt.Fprintf(&b, "scale: %s %s", time.Now().Format("15:04:05"), msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	fmt.Fprintln(os.Stderr, b.String())
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(2)
}
