package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/scheme"
)

// Namespaces, one per phase; each has a ProviderConfig of its own, whose
// project is "bench-<namespace>", so no two phases claim the same cloud
// resource names.
const (
	nsWarmup        = "warmup"
	nsDirectAll     = "direct-all"
	nsDirectOrdered = "direct-ordered"
	nsQueues        = "queues"
)

// bench is the running process: control plane, cloud, controllers.
type bench struct {
	cfg      config
	admin    client.Client // the benchmark's own writes and live reads
	cache    client.Reader // the controllers' informers: polled without API load
	cloud    *localcloud.Cloud
	bp       *corev1alpha1.Blueprint
	compiled *blueprint.Compiled
	rec      *rolloutRecorder
}

func run(ctx context.Context, cfg config) (*report, error) {
	rep := &report{cfg: cfg, began: time.Now(), loadStart: loadAvg(),
		machine: fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version())}
	b := &bench{cfg: cfg}
	var err error
	if b.bp, err = loadBlueprint(cfg.blueprintFile); err != nil {
		return nil, err
	}
	if b.compiled, err = blueprint.Compile(b.bp); err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "infraplane-bench-blueprints-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	step("starting the control plane")
	// As infraplane up: the audit ledger records direct edits and the
	// controllers' cloud writes.
	audit, err := ledger.Open(ledger.DefaultPath(dir))
	if err != nil {
		return nil, err
	}
	defer audit.Close()
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: filepath.Join(dir, "cp"), OnWrite: controllers.DirectEdits(audit, nil)})
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cp.Stop(sctx)
	}()
	if err := crds.Install(ctx, cp.RESTConfig()); err != nil {
		return nil, err
	}
	adminCfg := cp.RESTConfig()
	adminCfg.QPS, adminCfg.Burst = -1, 0 // the creates arrive as fast as the server takes them
	if b.admin, err = client.New(adminCfg, client.Options{Scheme: scheme.New()}); err != nil {
		return nil, err
	}

	step("starting the local Pub/Sub (%s)", cfg.cloud)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	b.cloud, err = localcloud.Start(sctx, localcloud.Options{Mode: cfg.cloud, Services: []localcloud.Service{localcloud.ServicePubSub}, LogDir: filepath.Join(dir, "logs")})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("local cloud (-cloud %s): %w", cfg.cloud, err)
	}
	defer b.cloud.Stop()
	rep.cloud = b.cloud.Describe()
	for _, ns := range []string{nsWarmup, nsDirectAll, nsDirectOrdered, nsQueues} {
		if err := b.namespace(ctx, ns); err != nil {
			return nil, err
		}
	}

	step("starting the controllers (concurrency %d per kind)", cfg.concurrency)
	mcfg, err := cp.IdentityRESTConfig(controllers.ControllerUser, []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	// Resync every 5 minutes: no drift checks inside the phases (up's
	// 30 s would add a pass over every object to the longer ones).
	opts := controllers.Options{Concurrency: cfg.concurrency, ResyncInterval: 5 * time.Minute, Auditor: audit}
	mgr, stop, err := startManager(ctx, mcfg, opts)
	if err != nil {
		return nil, err
	}
	defer stop()
	b.cache = mgr.GetCache()
	if b.rec, err = recordRollouts(ctx, mgr, b.bp.Name); err != nil {
		return nil, err
	}

	step("applying Blueprint %s (kind %s)", b.bp.Name, b.compiled.GVK.Kind)
	if err := b.admin.Create(ctx, b.bp.DeepCopy()); err != nil {
		return nil, fmt.Errorf("creating Blueprint %s: %w", b.bp.Name, err)
	}
	if _, err := b.waitFor(ctx, "Blueprint "+b.bp.Name+" Ready", b.blueprintServing); err != nil {
		return nil, err
	}
	if err := b.rec.watchQueues(ctx, mgr, b.compiled.GVK); err != nil {
		return nil, err
	}
	if cfg.warmup > 0 {
		step("warm-up: %d Queues until Ready, then deleted (untimed)", cfg.warmup)
		if _, _, err := b.applyQueues(ctx, nsWarmup, cfg.warmup); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if err := b.deleteAll(ctx, nsWarmup); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}

	if rep.directAll, err = b.directAllAtOnce(ctx); err != nil {
		return nil, err
	}
	if rep.directOrdered, err = b.directInOrder(ctx); err != nil {
		return nil, err
	}

	step("Blueprint: %d Queues (%d parallel creates) until all Ready", cfg.queues, cfg.createWorkers)
	before := takeSnapshot()
	stopProfile := b.profile("queues")
	accepted, ready, err := b.applyQueues(ctx, nsQueues, cfg.queues)
	stopProfile()
	if err != nil {
		return nil, err
	}
	rep.queues = phaseResult{accepted: accepted, ready: ready, counts: since(before)}
	step("Blueprint: all %d Queues Ready after %s", cfg.queues, secs(ready))

	rollouts := []struct {
		label    string
		settings *corev1alpha1.BlueprintRollout
	}{
		{"default settings (canary 1, batchSize 25%)", nil},
		{"batchSize 100% (canary 1, then all at once)", &corev1alpha1.BlueprintRollout{BatchSize: ptrTo(intOrPercent("100%"))}},
	}
	for i, r := range rollouts {
		res, err := b.rollout(ctx, r.label, i+1, r.settings)
		if err != nil {
			return nil, err
		}
		rep.rollouts = append(rep.rollouts, res)
	}
	rep.took = time.Since(rep.began)
	rep.loadEnd = loadAvg()
	return rep, nil
}

// instanceController is the name of the Queue controller (its metrics'
// label).
func (b *bench) instanceController() string {
	return "blueprint-" + strings.ReplaceAll(b.compiled.CRDName(), ".", "-")
}

// namespace makes ns with its own ProviderConfig and project.
func (b *bench) namespace(ctx context.Context, ns string) error {
	pc := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   project(ns),
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: b.cloud.Endpoints().PubSub},
		},
	}
	if err := b.admin.Create(ctx, pc); err != nil {
		return fmt.Errorf("ProviderConfig %s: %w", ns, err)
	}
	return b.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Annotations: map[string]string{corev1alpha1.NamespaceAnnotation: ns},
	}})
}

func project(ns string) string { return "bench-" + ns }

// startManager runs the controllers as infraplane up does: their own
// identity, no client-side API limit.
func startManager(ctx context.Context, cfg *rest.Config, opts controllers.Options) (ctrl.Manager, func(), error) {
	mgr, cleanup, err := controllers.NewManager(cfg, controllers.ManagerOptions{Options: opts, APIQPS: -1})
	if err != nil {
		return nil, nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(mctx) }()
	stop := func() { cancel(); <-done; cleanup() }
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		stop()
		return nil, nil, errors.New("the controllers' cache did not sync")
	}
	return mgr, stop, nil
}

// parallel calls fn for 0..n-1 with the given number of workers; the
// first error stops the rest.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
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
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
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
