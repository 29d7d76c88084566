package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/pubsub"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/scheme"
)

const (
	namespace     = "bench"
	providerName  = "bench"
	projectCtrl   = "bench-ctrl"
	projectSeq    = "bench-direct-seq"
	projectPipe   = "bench-direct-pipe"
	projectWarmup = "bench-warmup"
)

// Result is what one backend's run measured; the child process prints it
// as JSON for the parent to tabulate.
type Result struct {
	Backend   string
	CloudDesc string
	Error     string `json:",omitempty"`

	Topics, Subscriptions, Concurrency, CreateWorkers, Warmup int
	ControllerQPS                                             float32 // ManagerOptions.APIQPS: <0 no client-side limit, 0 NewManager's default
	ApplyResync, Resync, Window                               time.Duration
	Ledger                                                    bool // the audit ledger ran, as in infraplane up

	// Apply-to-Ready.
	CreatesTook      time.Duration // all API server creates returned
	TopicsReadyAfter time.Duration
	ApplyToReady     time.Duration
	ReadyCount       int // objects Ready at the end (== Topics+Subscriptions unless timed out)
	DirectSeq        time.Duration
	DirectSeqTopics  time.Duration // topic phase of DirectSeq
	DirectPipe       time.Duration
	// Apply phase breakdown (deltas of the metrics over the apply phase).
	ApplyReconciles    map[string]float64 // kind/result -> count
	ApplyReconcileMean map[string]float64 // kind -> seconds
	ApplyQueueWaitMean map[string]float64 // kind -> seconds (workqueue_queue_duration)
	ApplyAPIRequests   map[string]float64 // method/code -> count (all client-go clients in the process)
	ApplyAPILatency    map[string]float64 // verb -> mean seconds
	ApplyRateLimitWait map[string]float64 // verb -> total seconds waited in client-side rate limiters
	ApplyCloudCalls    map[string]float64 // method -> count
	ApplyCloudLatency  map[string]float64 // method -> mean seconds
	ApplyEvents        int                // Event objects in the namespace after the apply phase
	ApplySelfCPU       float64            // seconds of CPU used by this process during apply
	ApplyChildCPU      float64            // seconds of CPU used by the emulator during apply
	DirectSeqSelfCPU   float64
	DirectSeqChildCPU  float64
	ApplyServerLatency map[string]float64 // "VERB resource[/subresource]" -> mean seconds inside the API server
	ApplyServerCount   map[string]float64 // same keys -> requests
	ApplyEtcdWrites    float64            // create+update+delete requests from the API server to etcd
	ApplyEtcdLatency   float64            // mean seconds of those
	ApplyWALFsyncs     float64
	ApplyWALFsyncMean  float64 // seconds
	ApplyLedgerEntries uint64  // audit ledger entries appended during the apply phase
	CPUProfile         string  `json:",omitempty"`
	HeapProfile        string  `json:",omitempty"` // with all objects Ready
	LoadAvgStart       string  // /proc/loadavg when the backend's run began and ended
	LoadAvgEnd         string

	// Steady state.
	SteadyReady         bool // all objects reconciled once by the fresh manager before the window
	SteadySettle        time.Duration
	SteadyCloud         map[string]float64 // method -> calls in window
	SteadyAPI           map[string]float64 // method -> requests in window
	SteadyRecon         map[string]float64 // kind -> reconciles in window
	SteadySelfCPU       float64
	SteadyChildCPU      float64
	SteadyQueueWait     map[string]float64 // kind -> mean seconds
	SteadyCPUProfile    string             `json:",omitempty"`
	SteadyLedgerEntries uint64

	// Server-side re-applies of every object, as `kubectl apply
	// --server-side` of the same manifests: the first takes the fields
	// over from the creates (managedFields change), the second changes
	// nothing.
	ReapplyLedgerEntries [2]uint64
	ReapplyChanged       [2]int // responses with a new resourceVersion
	// Memory.
	HeapInuseBefore, HeapInuseAfter uint64
	HeapAllocBefore, HeapAllocAfter uint64
	RSSAfter, ChildRSSAfter         uint64
}

type config struct {
	backend       string
	topics, subs  int
	concurrency   int
	createWorkers int
	warmup        int
	applyResync   time.Duration
	resync        time.Duration
	intervals     int
	readyTimeout  time.Duration
	profileDir    string
	metricsDir    string
	controllerQPS float64
	ledger        bool
}

// run measures one backend. Everything it starts is stopped by the
// deferred cleanups, also on error and on SIGINT (ctx).
func run(ctx context.Context, cfg config) (res *Result, err error) {
	res = &Result{
		Backend: cfg.backend, Topics: cfg.topics, Subscriptions: cfg.subs,
		Concurrency: cfg.concurrency, CreateWorkers: cfg.createWorkers, Warmup: cfg.warmup,
		ApplyResync: cfg.applyResync, Resync: cfg.resync, Window: time.Duration(cfg.intervals) * cfg.resync,
	}
	res.LoadAvgStart = loadAvg()
	defer func() { res.LoadAvgEnd = loadAvg() }()
	mode := localcloud.ModeFakes
	if cfg.backend == "emulator" {
		mode = localcloud.ModeEmulators
	}

	dir, err := os.MkdirTemp("", "infraplane-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	cpOpts := controlplane.Options{DataDir: filepath.Join(dir, "cp"), Logger: slog.Default()}
	var audit *ledger.Ledger
	if cfg.ledger {
		// As infraplane up: the audit ledger records direct edits (every
		// write by someone other than the controllers) and cloud writes.
		if audit, err = ledger.Open(ledger.DefaultPath(dir)); err != nil {
			return res, err
		}
		defer audit.Close()
		cpOpts.OnWrite = controllers.DirectEdits(audit, nil)
	}
	res.Ledger = cfg.ledger

	step("starting control plane")
	cp, err := controlplane.Start(ctx, cpOpts)
	if err != nil {
		return res, fmt.Errorf("control plane: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := cp.Stop(sctx); serr != nil {
			slog.Warn("stopping control plane", "err", serr)
		}
	}()
	admin, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme.New()})
	if err != nil {
		return res, err
	}
	if err := crds.Install(ctx, cp.RESTConfig()); err != nil {
		return res, err
	}

	step("starting local cloud", "mode", mode)
	cloud, err := localcloud.Start(ctx, localcloud.Options{Mode: mode, LogDir: filepath.Join(dir, "logs"), Project: projectCtrl})
	if err != nil {
		return res, fmt.Errorf("local cloud: %w", err)
	}
	defer func() {
		if serr := cloud.Stop(); serr != nil {
			slog.Warn("stopping local cloud", "err", serr)
		}
	}()
	res.CloudDesc = cloud.Describe()

	pc := &corev1alpha1.ProviderConfig{
		TypeMeta:   metav1.TypeMeta{APIVersion: corev1alpha1.GroupVersion.String(), Kind: "ProviderConfig"},
		ObjectMeta: metav1.ObjectMeta{Name: providerName},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   projectCtrl,
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: cloud.Endpoints().PubSub},
		},
	}
	//nolint:staticcheck // typed server-side apply
	if err := admin.Patch(ctx, pc, client.Apply, client.FieldOwner("bench"), client.ForceOwnership); err != nil {
		return res, fmt.Errorf("ProviderConfig: %w", err)
	}
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: namespace, Annotations: map[string]string{corev1alpha1.NamespaceAnnotation: providerName},
	}}); err != nil {
		return res, fmt.Errorf("namespace: %w", err)
	}
	// As infraplane up: the cleanup finalizer at create (waited for here,
	// so every measured object gets it).
	probe := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "finalizer-policy-probe"}}
	if err := crds.EnableFinalizerPolicy(ctx, admin, probe, managed.Finalizer); err != nil {
		return res, err
	}

	// The direct baseline, with the same client options the controllers'
	// clients get minus the metrics interceptor.
	copts := cloud.PubSubClientOptions()
	topicsClient, err := pubsubapi.NewTopicAdminClient(ctx, copts...)
	if err != nil {
		return res, err
	}
	defer topicsClient.Close()
	subsClient, err := pubsubapi.NewSubscriptionAdminClient(ctx, copts...)
	if err != nil {
		return res, err
	}
	defer subsClient.Close()
	d := direct{topics: topicsClient, subs: subsClient, workers: cfg.concurrency}

	if cfg.warmup > 0 {
		step("warm-up: direct creates", "pairs", cfg.warmup)
		if _, _, err := d.sequential(ctx, projectWarmup, cfg.warmup, cfg.warmup); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
		if err := d.cleanup(ctx, projectWarmup, cfg.warmup, cfg.warmup); err != nil {
			return res, err
		}
	}
	step("baseline: direct creates, topics then subscriptions", "workers", cfg.concurrency)
	cpu0, ccpu0 := selfCPU(), childCPU()
	res.DirectSeq, res.DirectSeqTopics, err = d.sequential(ctx, projectSeq, cfg.topics, cfg.subs)
	if err != nil {
		return res, fmt.Errorf("direct baseline: %w", err)
	}
	res.DirectSeqSelfCPU, res.DirectSeqChildCPU = selfCPU()-cpu0, childCPU()-ccpu0
	// Delete what the baselines created (untimed): idle pstest
	// subscriptions cost CPU (a delivery goroutine each, ticking every
	// 10 ms) that the controllers' phase should not pay for.
	if err := d.cleanup(ctx, projectSeq, cfg.topics, cfg.subs); err != nil {
		return res, err
	}
	step("baseline: direct creates, pipelined", "workers", 2*cfg.concurrency)
	res.DirectPipe, err = d.pipelined(ctx, projectPipe, cfg.topics, cfg.subs)
	if err != nil {
		return res, fmt.Errorf("pipelined baseline: %w", err)
	}
	if err := d.cleanup(ctx, projectPipe, cfg.topics, cfg.subs); err != nil {
		return res, err
	}

	// Phase 1: apply-to-Ready, with the controllers of `infraplane up`.
	step("starting controllers", "resync", cfg.applyResync, "concurrency", cfg.concurrency)
	// The controllers' own identity, as infraplane up gives them (the
	// ledger tells their writes from people's by it).
	mcfg, err := cp.IdentityRESTConfig(controllers.ControllerUser, []string{"system:masters"})
	if err != nil {
		return res, err
	}
	res.ControllerQPS = float32(cfg.controllerQPS)
	ctrlOpts := controllers.Options{Concurrency: cfg.concurrency, ResyncInterval: cfg.applyResync}
	if audit != nil {
		ctrlOpts.Auditor = audit
	}
	m1, err := startManager(ctx, mcfg, ctrlOpts, res.ControllerQPS)
	if err != nil {
		return res, err
	}
	defer m1.stop() // idempotent; stopped early below

	tracker := newReadyTracker(cfg.topics, cfg.subs)
	if err := tracker.attach(ctx, m1.mgr); err != nil {
		return res, err
	}
	res.HeapInuseBefore, res.HeapAllocBefore = heapAfterGC()
	if cfg.profileDir != "" {
		// The base for `go tool pprof -base heap-before-… heap-ready-…`.
		if err := writeHeapProfile(filepath.Join(cfg.profileDir, "heap-before-"+cfg.backend+".pprof")); err != nil {
			return res, err
		}
	}

	creator, err := client.New(unthrottled(cp.RESTConfig()), client.Options{Scheme: scheme.New()})
	if err != nil {
		return res, err
	}
	var prof *os.File
	if cfg.profileDir != "" {
		res.CPUProfile = filepath.Join(cfg.profileDir, "cpu-apply-"+cfg.backend+".pprof")
		if prof, err = os.Create(res.CPUProfile); err != nil {
			return res, err
		}
		defer prof.Close()
	}

	step("apply: creating objects", "topics", cfg.topics, "subscriptions", cfg.subs, "workers", cfg.createWorkers)
	before := takeSnapshot()
	seq0 := ledgerSeq(audit)
	cpu0, ccpu0 = selfCPU(), childCPU()
	if prof != nil {
		if err := pprof.StartCPUProfile(prof); err != nil {
			return res, err
		}
	}
	start := time.Now()
	tracker.begin(start)
	err = parallel(ctx, max(cfg.topics, cfg.subs), cfg.createWorkers, func(ctx context.Context, i int) error {
		if i < cfg.topics {
			if err := creator.Create(ctx, newTopic(i)); err != nil {
				return err
			}
		}
		if i < cfg.subs {
			return creator.Create(ctx, newSubscription(i, i%cfg.topics))
		}
		return nil
	})
	res.CreatesTook = time.Since(start)
	if err != nil {
		pprof.StopCPUProfile()
		return res, fmt.Errorf("creating objects: %w", err)
	}
	step("apply: waiting for Ready", "creates took", res.CreatesTook.Round(time.Millisecond))
	waitErr := tracker.wait(ctx, cfg.readyTimeout)
	if prof != nil {
		pprof.StopCPUProfile()
	}
	res.ApplySelfCPU, res.ApplyChildCPU = selfCPU()-cpu0, childCPU()-ccpu0
	res.ApplyToReady, res.TopicsReadyAfter, res.ReadyCount = tracker.result()
	applyDelta := delta(before, takeSnapshot())
	res.ApplyLedgerEntries = ledgerSeq(audit) - seq0
	dumpMetrics(cfg, "apply", applyDelta)
	res.HeapInuseAfter, res.HeapAllocAfter = heapAfterGC()
	if cfg.profileDir != "" {
		res.HeapProfile = filepath.Join(cfg.profileDir, "heap-ready-"+cfg.backend+".pprof")
		if err := writeHeapProfile(res.HeapProfile); err != nil {
			return res, err
		}
	}
	res.RSSAfter, res.ChildRSSAfter = vmRSS(os.Getpid()), childRSS()
	fillApply(res, applyDelta)
	var events corev1.EventList
	if err := admin.List(ctx, &events, client.InNamespace(namespace)); err == nil {
		res.ApplyEvents = len(events.Items)
	}
	if waitErr != nil {
		return res, waitErr
	}
	step("apply: all Ready", "took", res.ApplyToReady.Round(time.Millisecond))

	// Phase 2: steady state, with a fresh manager at the short resync.
	m1.stop()
	step("steady state: restarting controllers", "resync", cfg.resync)
	s0 := takeSnapshot()
	t0 := time.Now()
	ctrlOpts.ResyncInterval = cfg.resync
	m2, err := startManager(ctx, mcfg, ctrlOpts, res.ControllerQPS)
	if err != nil {
		return res, err
	}
	defer m2.stop()
	// The new manager reconciles every object once (its informers list
	// them all); the window starts after that burst has drained.
	res.SteadyReady = waitSettled(ctx, s0, cfg.topics, cfg.subs, 3*time.Minute)
	res.SteadySettle = time.Since(t0)
	step("steady state: counting", "window", res.Window, "settled after", res.SteadySettle.Round(time.Millisecond))
	var sprof *os.File
	if cfg.profileDir != "" {
		res.SteadyCPUProfile = filepath.Join(cfg.profileDir, "cpu-steady-"+cfg.backend+".pprof")
		if sprof, err = os.Create(res.SteadyCPUProfile); err != nil {
			return res, err
		}
		defer sprof.Close()
		if err := pprof.StartCPUProfile(sprof); err != nil {
			return res, err
		}
	}
	w0 := takeSnapshot()
	wseq0 := ledgerSeq(audit)
	calls0 := cloudCalls()
	cpu0, ccpu0 = selfCPU(), childCPU()
	select {
	case <-time.After(res.Window):
	case <-ctx.Done():
		pprof.StopCPUProfile()
		return res, ctx.Err()
	}
	if sprof != nil {
		pprof.StopCPUProfile()
	}
	res.SteadySelfCPU, res.SteadyChildCPU = selfCPU()-cpu0, childCPU()-ccpu0
	wd := delta(w0, takeSnapshot())
	res.SteadyLedgerEntries = ledgerSeq(audit) - wseq0
	dumpMetrics(cfg, "steady", wd)
	res.SteadyCloud = map[string]float64{}
	for m, n := range cloudCalls() {
		res.SteadyCloud[m] = n - calls0[m]
	}
	res.SteadyAPI = wd.byLabel("rest_client_requests_total", "method")
	res.SteadyRecon = wd.byLabel("infraplane_reconciles_total", "kind")
	res.SteadyQueueWait = map[string]float64{
		"Topic":        wd.mean("workqueue_queue_duration_seconds", "name", "Topic"),
		"Subscription": wd.mean("workqueue_queue_duration_seconds", "name", "Subscription"),
	}
	for pass := range 2 {
		step("re-apply: server-side apply of every object", "pass", pass+1)
		seq := ledgerSeq(audit)
		changed, err := reapply(ctx, creator, cfg)
		if err != nil {
			return res, fmt.Errorf("re-applying: %w", err)
		}
		res.ReapplyChanged[pass] = changed
		// The ledger appends direct edits off the request path: wait
		// until it has been still for a second.
		for last := ledgerSeq(audit); ; {
			time.Sleep(time.Second)
			now := ledgerSeq(audit)
			if now == last {
				break
			}
			last = now
		}
		res.ReapplyLedgerEntries[pass] = ledgerSeq(audit) - seq
	}
	step("done")
	return res, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ledgerSeq is the sequence number of the ledger's last entry (0 without
// a ledger).
func ledgerSeq(l *ledger.Ledger) uint64 {
	if l == nil {
		return 0
	}
	seq, _ := l.Head()
	return seq
}

// dumpMetrics writes the non-zero deltas of a phase, one per line, for
// digging into where the time went.
func dumpMetrics(cfg config, phase string, d snapshot) {
	if cfg.metricsDir == "" {
		return
	}
	var lines []string
	for k, v := range d {
		if v != 0 {
			lines = append(lines, fmt.Sprintf("%s %g", k, v))
		}
	}
	sort.Strings(lines)
	path := filepath.Join(cfg.metricsDir, "metrics-"+phase+"-"+cfg.backend+".txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		slog.Warn("writing metrics", "err", err)
	}
}

// cloudCalls counts the controllers' Pub/Sub calls so far by method, as
// the gRPC interceptor recorded them.
func cloudCalls() map[string]float64 {
	out := map[string]float64{}
	for _, m := range cloudMethods {
		out[m] = provider.CloudCalls(pubsub.Service, m)
	}
	return out
}

var cloudMethods = []string{
	"GetTopic", "GetSubscription", "ListTopics", "ListSubscriptions",
	"CreateTopic", "CreateSubscription", "UpdateTopic", "UpdateSubscription", "DeleteTopic", "DeleteSubscription",
}

func fillApply(res *Result, d snapshot) {
	res.ApplyReconciles = map[string]float64{}
	for _, kind := range []string{"Topic", "Subscription"} {
		for r, n := range d.byLabel("infraplane_reconciles_total", "result", "kind", kind) {
			if n > 0 {
				res.ApplyReconciles[kind+"/"+r] = n
			}
		}
	}
	res.ApplyReconcileMean = map[string]float64{
		"Topic":        d.mean("infraplane_reconcile_duration_seconds", "kind", "Topic"),
		"Subscription": d.mean("infraplane_reconcile_duration_seconds", "kind", "Subscription"),
	}
	res.ApplyQueueWaitMean = map[string]float64{
		"Topic":        d.mean("workqueue_queue_duration_seconds", "name", "Topic"),
		"Subscription": d.mean("workqueue_queue_duration_seconds", "name", "Subscription"),
	}
	res.ApplyAPIRequests = map[string]float64{}
	for method := range d.byLabel("rest_client_requests_total", "method") {
		for code, n := range d.byLabel("rest_client_requests_total", "code", "method", method) {
			if n > 0 {
				res.ApplyAPIRequests[method+"/"+code] = n
			}
		}
	}
	res.ApplyAPILatency = map[string]float64{}
	res.ApplyRateLimitWait = map[string]float64{}
	for verb := range d.byLabel("rest_client_request_duration_seconds_count", "verb") {
		res.ApplyAPILatency[verb] = d.mean("rest_client_request_duration_seconds", "verb", verb)
		res.ApplyRateLimitWait[verb] = d.sum("rest_client_rate_limiter_duration_seconds_sum", "verb", verb)
	}
	res.ApplyServerLatency = map[string]float64{}
	res.ApplyServerCount = map[string]float64{}
	const srv = "server:apiserver_request_duration_seconds"
	for _, resource := range []string{"topics", "subscriptions", "events"} {
		for _, verb := range []string{"POST", "PATCH", "PUT"} {
			for _, sub := range []string{"", "status"} {
				n := d.sum(srv+"_count", "resource", resource, "verb", verb, "subresource", sub)
				if n == 0 {
					continue
				}
				k := verb + " " + resource
				if sub != "" {
					k += "/" + sub
				}
				res.ApplyServerCount[k] = n
				res.ApplyServerLatency[k] = d.sum(srv+"_sum", "resource", resource, "verb", verb, "subresource", sub) / n
			}
		}
	}
	const etcdReq = "server:etcd_request_duration_seconds"
	var etcdN, etcdSum float64
	for _, op := range []string{"create", "update", "delete", "guaranteedUpdate"} {
		etcdN += d.sum(etcdReq+"_count", "operation", op)
		etcdSum += d.sum(etcdReq+"_sum", "operation", op)
	}
	res.ApplyEtcdWrites = etcdN
	if etcdN > 0 {
		res.ApplyEtcdLatency = etcdSum / etcdN
	}
	res.ApplyWALFsyncs = d.sum("etcd:etcd_disk_wal_fsync_duration_seconds_count")
	res.ApplyWALFsyncMean = d.mean("etcd:etcd_disk_wal_fsync_duration_seconds")

	res.ApplyCloudCalls = map[string]float64{}
	res.ApplyCloudLatency = map[string]float64{}
	for _, m := range cloudMethods {
		if n := d.sum("infraplane_cloud_calls_total", "service", "pubsub", "method", m); n > 0 {
			res.ApplyCloudCalls[m] = n
			res.ApplyCloudLatency[m] = d.mean("infraplane_cloud_call_duration_seconds", "service", "pubsub", "method", m)
		}
	}
}

// waitSettled waits until, since snapshot s0, every object has been
// reconciled at least once and both work queues are empty.
func waitSettled(ctx context.Context, s0 snapshot, topics, subs int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		d := delta(s0, takeSnapshot())
		now := takeSnapshot()
		if d.sum("infraplane_reconciles_total", "kind", "Topic") >= float64(topics) &&
			d.sum("infraplane_reconciles_total", "kind", "Subscription") >= float64(subs) &&
			now.sum("workqueue_depth", "name", "Topic") == 0 &&
			now.sum("workqueue_depth", "name", "Subscription") == 0 {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

type runningManager struct {
	mgr  ctrl.Manager
	once sync.Once
	stop func()
}

func startManager(ctx context.Context, cfg *rest.Config, opts controllers.Options, apiQPS float32) (*runningManager, error) {
	mgr, cleanup, err := controllers.NewManager(cfg, controllers.ManagerOptions{Options: opts, AllowSecondManager: true, APIQPS: apiQPS})
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	rm := &runningManager{mgr: mgr}
	rm.stop = func() {
		rm.once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				slog.Warn("manager stopped", "err", err)
			}
			cleanup()
		})
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		rm.stop()
		return nil, errors.New("controller cache did not sync")
	}
	return rm, nil
}

// unthrottled copies cfg without a client-side rate limit: the objects are
// meant to arrive "at once", as fast as the API server takes them.
func unthrottled(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	return c
}

// reapply server-side applies every object's manifest (what newTopic and
// newSubscription create) as kubectl would, and counts the responses whose
// resourceVersion differs from the object's before.
func reapply(ctx context.Context, c client.Client, cfg config) (int, error) {
	var changed atomic.Int64
	err := parallel(ctx, max(cfg.topics, cfg.subs), cfg.createWorkers, func(ctx context.Context, i int) error {
		var objs []client.Object
		if i < cfg.topics {
			objs = append(objs, newTopic(i))
		}
		if i < cfg.subs {
			objs = append(objs, newSubscription(i, i%cfg.topics))
		}
		for _, o := range objs {
			cur := o.DeepCopyObject().(client.Object)
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), cur); err != nil {
				return err
			}
			u, err := toApplyManifest(o)
			if err != nil {
				return err
			}
			if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership); err != nil { //nolint:staticcheck // as kubectl apply --server-side
				return err
			}
			if u.GetResourceVersion() != cur.GetResourceVersion() {
				changed.Add(1)
			}
		}
		return nil
	})
	return int(changed.Load()), err
}

// toApplyManifest is obj as a manifest: apiVersion, kind, name, namespace
// and spec.
func toApplyManifest(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	gvk, err := apiutil.GVKForObject(obj, scheme.New())
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": m["spec"]}}
	u.SetGroupVersionKind(gvk)
	u.SetName(obj.GetName())
	u.SetNamespace(obj.GetNamespace())
	return u, nil
}

func newTopic(i int) *pubsubv1.Topic {
	return &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: topicID(i), Namespace: namespace}}
}

func newSubscription(i, topic int) *pubsubv1.Subscription {
	return &pubsubv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Name: subID(i), Namespace: namespace},
		Spec:       pubsubv1.SubscriptionSpec{TopicRef: commonv1.ResourceRef{Name: topicID(topic)}},
	}
}

func topicID(i int) string { return fmt.Sprintf("t-%05d", i) }
func subID(i int) string   { return fmt.Sprintf("s-%05d", i) }

// readyTracker records when each object first shows Ready=True, from the
// controllers' own informers (no extra watch or polling load).
type readyTracker struct {
	wantTopics, wantSubs int

	mu         sync.Mutex
	start      time.Time
	seen       map[string]bool
	topics     int
	subs       int
	topicsDone time.Duration
	allDone    time.Duration
	done       chan struct{}
}

func newReadyTracker(topics, subs int) *readyTracker {
	return &readyTracker{wantTopics: topics, wantSubs: subs, seen: map[string]bool{}, done: make(chan struct{})}
}

func (r *readyTracker) attach(ctx context.Context, mgr ctrl.Manager) error {
	for _, obj := range []client.Object{&pubsubv1.Topic{}, &pubsubv1.Subscription{}} {
		inf, err := mgr.GetCache().GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { r.observe(o) },
			UpdateFunc: func(_, o any) { r.observe(o) },
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *readyTracker) begin(t time.Time) {
	r.mu.Lock()
	r.start = t
	r.mu.Unlock()
}

func (r *readyTracker) observe(o any) {
	var (
		kind  string
		meta1 metav1.Object
		st    *commonv1.ManagedStatus
	)
	switch v := o.(type) {
	case *pubsubv1.Topic:
		kind, meta1, st = "t", v, v.ManagedStatus()
	case *pubsubv1.Subscription:
		kind, meta1, st = "s", v, v.ManagedStatus()
	default:
		return
	}
	if meta1.GetNamespace() != namespace || !meta.IsStatusConditionTrue(st.Conditions, commonv1.TypeReady) {
		return
	}
	key := kind + "/" + meta1.GetName()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] || r.start.IsZero() {
		return
	}
	r.seen[key] = true
	now := time.Since(r.start)
	if kind == "t" {
		r.topics++
		if r.topics == r.wantTopics {
			r.topicsDone = now
		}
	} else {
		r.subs++
	}
	if r.topics == r.wantTopics && r.subs == r.wantSubs {
		r.allDone = now
		close(r.done)
	}
}

func (r *readyTracker) wait(ctx context.Context, timeout time.Duration) error {
	select {
	case <-r.done:
		return nil
	case <-time.After(timeout):
		_, _, n := r.result()
		return fmt.Errorf("only %d of %d objects Ready after %s", n, r.wantTopics+r.wantSubs, timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *readyTracker) result() (all, topics time.Duration, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.allDone, r.topicsDone, r.topics + r.subs
}

// direct issues the same creates with the Google admin clients.
type direct struct {
	topics  *pubsubapi.TopicAdminClient
	subs    *pubsubapi.SubscriptionAdminClient
	workers int
}

func (d direct) createTopic(ctx context.Context, project string, i int) error {
	_, err := d.topics.CreateTopic(ctx, &pubsubpb.Topic{Name: fmt.Sprintf("projects/%s/topics/%s", project, topicID(i))})
	return err
}

func (d direct) createSub(ctx context.Context, project string, i, topic int) error {
	_, err := d.subs.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:  fmt.Sprintf("projects/%s/subscriptions/%s", project, subID(i)),
		Topic: fmt.Sprintf("projects/%s/topics/%s", project, topicID(topic)),
	})
	return err
}

// cleanup deletes the subscriptions, then the topics, of a baseline run.
func (d direct) cleanup(ctx context.Context, project string, topics, subs int) error {
	if err := parallel(ctx, subs, d.workers, func(ctx context.Context, i int) error {
		return d.subs.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{
			Subscription: fmt.Sprintf("projects/%s/subscriptions/%s", project, subID(i)),
		})
	}); err != nil {
		return fmt.Errorf("deleting baseline subscriptions: %w", err)
	}
	if err := parallel(ctx, topics, d.workers, func(ctx context.Context, i int) error {
		return d.topics.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: fmt.Sprintf("projects/%s/topics/%s", project, topicID(i))})
	}); err != nil {
		return fmt.Errorf("deleting baseline topics: %w", err)
	}
	return nil
}

// sequential creates all topics with d.workers workers, then all
// subscriptions with d.workers workers.
func (d direct) sequential(ctx context.Context, project string, topics, subs int) (total, topicPhase time.Duration, err error) {
	start := time.Now()
	if err := parallel(ctx, topics, d.workers, func(ctx context.Context, i int) error {
		return d.createTopic(ctx, project, i)
	}); err != nil {
		return 0, 0, err
	}
	topicPhase = time.Since(start)
	if err := parallel(ctx, subs, d.workers, func(ctx context.Context, i int) error {
		return d.createSub(ctx, project, i, i%topics)
	}); err != nil {
		return 0, 0, err
	}
	return time.Since(start), topicPhase, nil
}

// pipelined runs d.workers topic workers and d.workers subscription
// workers at once; subscription i is created as soon as its topic exists
// (like the two controllers, each with its own workers).
func (d direct) pipelined(ctx context.Context, project string, topics, subs int) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	created := make([]chan struct{}, topics)
	for i := range created {
		created[i] = make(chan struct{})
	}
	var terr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		terr = parallel(ctx, topics, d.workers, func(ctx context.Context, i int) error {
			if err := d.createTopic(ctx, project, i); err != nil {
				return err
			}
			close(created[i])
			return nil
		})
		if terr != nil {
			cancel()
		}
	}()
	serr := parallel(ctx, subs, d.workers, func(ctx context.Context, i int) error {
		select {
		case <-created[i%topics]:
		case <-ctx.Done():
			return ctx.Err()
		}
		return d.createSub(ctx, project, i, i%topics)
	})
	wg.Wait()
	if err := errors.Join(terr, serr); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// parallel calls fn(i) for i in [0, n) on workers goroutines, handing out
// indexes in order; it stops handing out work at the first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				cctx, ccancel := context.WithTimeout(ctx, time.Minute)
				err := fn(cctx, i)
				ccancel()
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("item %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// step prints progress to stderr (stdout carries the results).
func step(msg string, kv ...any) {
	var b strings.Builder
	fmt.Fprintf(&b, "bench: %s %s", time.Now().Format("15:04:05.000"), msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	fmt.Fprintln(os.Stderr, b.String())
}
