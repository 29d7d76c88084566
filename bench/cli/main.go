// Command cli times what a person runs against a large infraplane: `status
// -A` and `kubectl get topics -A` over N Topics that look Ready, and `plan`
// of a directory of manifests, for one or more infraplane binaries
// compared with each other (before and after a change).
//
// It starts the embedded control plane (no controllers: the objects are
// created with the status a controller would write, so status reads what
// it reads in real use) and a local cloud (pstest) for plan's cloud reads,
// then runs each command -rounds times per binary, in turn.
//
//	go build -o /tmp/ip-after ./cmd/infraplane
//	go run ./bench/cli -topics 20000 -plan 1000 /tmp/ip-before /tmp/ip-after
//
// -status-only times `status -A` alone (no plan, no kubectl), with the
// CPU time of each run's process and its median.
//
// -profile-dir DIR also runs status and plan in this process under a CPU
// profile (DIR/status.pprof, DIR/plan.pprof): the code of this checkout.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/cli"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/scheme"
)

const (
	statusNS = "bench"
	planNS   = "bench-plan"
	project  = "bench-cli"
)

func main() {
	topics := flag.Int("topics", 20000, "Topics created (Ready) for status and kubectl get")
	planObjs := flag.Int("plan", 1000, "objects in the planned directory (half Topics, half Subscriptions of them)")
	rounds := flag.Int("rounds", 3, "runs of each command per binary")
	workers := flag.Int("workers", 16, "parallel creates while setting up")
	profileDir := flag.String("profile-dir", "", "also profile status and plan in-process into this directory")
	kubectl := flag.String("kubectl", "kubectl", "kubectl binary")
	keep := flag.String("data-dir", "", "keep the control plane's data here; a second run on it reuses the objects (default: a temporary directory)")
	statusOnly := flag.Bool("status-only", false, "time status -A only (no plan, no kubectl)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *topics, *planObjs, *rounds, *workers, *profileDir, *kubectl, *keep, *statusOnly, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cli:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, topics, planObjs, rounds, workers int, profileDir, kubectl, dir string, statusOnly bool, bins []string) error {
	reuse := false
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "infraplane-bench-cli-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else {
		_, err := os.Stat(filepath.Join(dir, "cp"))
		reuse = err == nil
	}

	step("starting control plane")
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: filepath.Join(dir, "cp"), Logger: slog.Default()})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cp.Stop(sctx)
	}()
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = -1, 0
	admin, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	if err := crds.Install(ctx, cp.RESTConfig()); err != nil {
		return err
	}
	// pstest keeps nothing: a new one per run (the ProviderConfig points at it).
	cloud, err := localcloud.Start(ctx, localcloud.Options{Mode: localcloud.ModeFakes, Project: project})
	if err != nil {
		return err
	}
	defer func() { _ = cloud.Stop() }()
	pc := &corev1alpha1.ProviderConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: corev1alpha1.ProviderConfigSpec{
			ProjectID:   project,
			Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
			Endpoints:   corev1alpha1.Endpoints{PubSub: cloud.Endpoints().PubSub},
		},
	}
	pc.SetGroupVersionKind(corev1alpha1.GroupVersion.WithKind("ProviderConfig"))
	//nolint:staticcheck // typed server-side apply
	if err := admin.Patch(ctx, pc, client.Apply, client.FieldOwner("bench"), client.ForceOwnership); err != nil {
		return fmt.Errorf("ProviderConfig: %w", err)
	}
	if reuse {
		var l unstructured.UnstructuredList
		l.SetAPIVersion("pubsub.infraplane.dev/v1alpha1")
		l.SetKind("TopicList")
		// The watch cache of a large data dir takes a while to fill.
		if err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			return admin.List(ctx, &l, client.InNamespace(statusNS)) == nil, nil
		}); err != nil {
			return err
		}
		topics = len(l.Items)
		step("reusing the data directory", "topics", topics)
	}
	for _, ns := range []string{statusNS, planNS} {
		if reuse {
			break
		}
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Annotations: map[string]string{corev1alpha1.NamespaceAnnotation: "bench"},
		}}); err != nil {
			return fmt.Errorf("namespace: %w", err)
		}
	}

	if !reuse {
		step("creating Ready topics", "n", topics)
		t0 := time.Now()
		if err := createReady(ctx, admin, topics, workers); err != nil {
			return err
		}
		step("created", "took", time.Since(t0).Round(time.Millisecond))
	}
	planDir := filepath.Join(dir, "plan")
	if err := writeManifests(planDir, planObjs); err != nil {
		return err
	}
	kubeconfig := cp.KubeconfigPath()

	// Each command, as a person types it (output discarded).
	type command struct {
		name string
		argv func(bin string) []string // bin "" for kubectl
	}
	cmds := []command{
		{"status -A", func(b string) []string { return []string{b, "status", "-A", "--kubeconfig", kubeconfig} }},
		{"status -n " + statusNS, func(b string) []string { return []string{b, "status", "-n", statusNS, "--kubeconfig", kubeconfig} }},
		{fmt.Sprintf("plan (%d objects)", planObjs), func(b string) []string {
			return []string{b, "plan", planDir, "-n", planNS, "--kubeconfig", kubeconfig}
		}},
	}
	kcmds := []command{
		{"kubectl get topics -A", func(string) []string { return []string{kubectl, "--kubeconfig", kubeconfig, "get", "topics", "-A"} }},
		{"kubectl get topics -A --chunk-size=0", func(string) []string {
			return []string{kubectl, "--kubeconfig", kubeconfig, "get", "topics", "-A", "--chunk-size=0"}
		}},
		{"kubectl get --raw (JSON list)", func(string) []string {
			return []string{kubectl, "--kubeconfig", kubeconfig, "get", "--raw", "/apis/pubsub.infraplane.dev/v1alpha1/topics"}
		}},
		{"kubectl get topics -A -o name", func(string) []string {
			return []string{kubectl, "--kubeconfig", kubeconfig, "get", "topics", "-A", "-o", "name"}
		}},
	}

	if statusOnly {
		cmds, kcmds = cmds[:1], nil
	}
	if profileDir != "" {
		if err := profile(ctx, profileDir, kubeconfig, planDir); err != nil {
			return err
		}
	}

	fmt.Printf("# %d Ready topics, plan of %d objects, load %s\n", topics, planObjs, loadAvg())
	times, cpus := map[string][]time.Duration{}, map[string][]time.Duration{}
	var order []string
	record := func(key string, d, cpu time.Duration) {
		if _, ok := times[key]; !ok {
			order = append(order, key)
		}
		times[key] = append(times[key], d)
		cpus[key] = append(cpus[key], cpu)
	}
	for r := 1; r <= rounds; r++ {
		for _, c := range cmds {
			for _, b := range bins {
				d, cpu, err := timeRun(ctx, c.argv(b))
				if err != nil {
					return fmt.Errorf("%s %s: %w", b, c.name, err)
				}
				key := c.name + "  " + b
				record(key, d, cpu)
				fmt.Printf("round %d  %-40s %6.2f s  (load %s)\n", r, key, d.Seconds(), loadAvg())
			}
		}
		for _, c := range kcmds {
			d, cpu, err := timeRun(ctx, c.argv(""))
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			record(c.name, d, cpu)
			fmt.Printf("round %d  %-40s %6.2f s  (load %s)\n", r, c.name, d.Seconds(), loadAvg())
		}
	}
	for _, k := range order {
		ds := slices.Clone(times[k])
		slices.Sort(ds)
		cs := slices.Clone(cpus[k])
		slices.Sort(cs)
		fmt.Printf("median  %-40s %6.2f s  (min %.2f, max %.2f); cpu %.2f s (min %.2f, max %.2f)\n", k, ds[len(ds)/2].Seconds(), ds[0].Seconds(), ds[len(ds)-1].Seconds(),
			cs[len(cs)/2].Seconds(), cs[0].Seconds(), cs[len(cs)-1].Seconds())
	}
	return nil
}

// timeRun runs argv with its output discarded; plan's exit code 2
// ("changes") is success. It returns the wall time and the process's CPU
// time (user + system).
func timeRun(ctx context.Context, argv []string) (wall, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	err = cmd.Run()
	wall = time.Since(t0)
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		fmt.Printf("#   %s: cpu %.2f s\n", filepath.Base(argv[0])+" "+argv[1], cpu.Seconds())
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
		err = nil
	}
	if err != nil {
		return wall, cpu, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return wall, cpu, nil
}

// profile runs status -A and plan in this process under CPU profiles.
func profile(ctx context.Context, dir, kubeconfig, planDir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range []struct {
		file string
		args []string
	}{
		{"status.pprof", []string{"status", "-A", "--kubeconfig", kubeconfig}},
		{"plan.pprof", []string{"plan", planDir, "-n", planNS, "--kubeconfig", kubeconfig}},
	} {
		f, err := os.Create(filepath.Join(dir, p.file))
		if err != nil {
			return err
		}
		stdout := os.Stdout
		os.Stdout, _ = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		t0 := time.Now()
		_ = pprof.StartCPUProfile(f)
		err = cli.Run(ctx, p.args)
		pprof.StopCPUProfile()
		os.Stdout = stdout
		f.Close()
		if err != nil && !strings.Contains(err.Error(), "exit code 2") {
			return fmt.Errorf("in-process %s: %w", p.args[0], err)
		}
		fmt.Printf("# in-process %s: %.2f s, profile %s\n", p.args[0], time.Since(t0).Seconds(), f.Name())
	}
	return nil
}

// createReady creates n Topics and writes the status a controller writes
// once a topic exists in the cloud.
func createReady(ctx context.Context, c client.Client, n, workers int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := createOne(ctx, c, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func createOne(ctx context.Context, c client.Client, i int) error {
	name := fmt.Sprintf("topic-%05d", i)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "pubsub.infraplane.dev/v1alpha1",
		"kind":       "Topic",
		"metadata":   map[string]any{"name": name, "namespace": statusNS, "labels": map[string]any{"team": "bench"}},
		"spec":       map[string]any{"labels": map[string]any{"team": "bench", "tier": "standard"}},
	}}
	if err := c.Create(ctx, u); err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(t, reason, msg string) map[string]any {
		return map[string]any{"type": t, "status": "True", "reason": reason, "message": msg, "lastTransitionTime": now, "observedGeneration": int64(1)}
	}
	id := "projects/" + project + "/topics/" + name
	u.Object["status"] = map[string]any{
		"conditions": []any{
			cond("Ready", "Available", "the topic exists and matches its spec"),
			cond("Synced", "ReconcileSuccess", "in sync with "+id),
		},
		"observedGeneration": int64(1),
		"syncedGeneration":   int64(1),
		"resourceID":         id,
		"selfLink":           "https://pubsub.googleapis.com/v1/" + id,
		"lastSyncTime":       now,
	}
	return c.Status().Update(ctx, u)
}

// writeManifests writes n objects: topics plan-i and subscriptions of them.
func writeManifests(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var topics, subs strings.Builder
	for i := 0; i < n/2; i++ {
		fmt.Fprintf(&topics, "---\napiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: plan-%04d\nspec:\n  labels:\n    team: bench\n", i)
	}
	for i := 0; i < n-n/2; i++ {
		fmt.Fprintf(&subs, "---\napiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Subscription\nmetadata:\n  name: plan-%04d\nspec:\n  topicRef:\n    name: plan-%04d\n  ackDeadlineSeconds: 30\n", i, i%(n/2))
	}
	if err := os.WriteFile(filepath.Join(dir, "topics.yaml"), []byte(topics.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "subscriptions.yaml"), []byte(subs.String()), 0o644)
}

func step(msg string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s %v\n", time.Now().Format("15:04:05"), msg, args)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
