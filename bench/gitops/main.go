// Command gitops is the GitOps benchmark. In one process it runs the
// embedded API server, the local cloud (pstest) and infraplane's
// controllers, and measures on a repository of N objects:
//
//  1. sync: commit → GitSource applied, against `kubectl apply
//     --server-side` of the same rendered files into another namespace of
//     the same server (only the syncer runs in this phase, so both sides
//     have the machine to themselves);
//  2. push-to-cloud: a one-line change (one subscription's ack deadline),
//     committed and announced with POST /hooks/git/<id> → the new value in the
//     cloud, with all controllers running;
//  3. plan: `infraplane plan` of the N objects with one change.
//
// It prints a Markdown table; see bench/README.md.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/plan"
	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/tenant"
)

func main() {
	n := flag.Int("objects", 1000, "objects in the repository (half topics, half subscriptions)")
	perFile := flag.Int("per-file", 20, "objects per YAML file")
	flag.Parse()
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	slog.SetDefault(slog.New(h))
	ctrl.SetLogger(logr.FromSlogHandler(h))
	klog.SetLogger(logr.FromSlogHandler(h).V(1))
	if err := run(context.Background(), *n, *perFile); err != nil {
		fmt.Fprintln(os.Stderr, "gitops bench:", err)
		os.Exit(1)
	}
}

func step(msg string, args ...any) { fmt.Fprintf(os.Stderr, "• "+msg+"\n", args...) }

type result struct {
	name, value, note string
}

func run(ctx context.Context, n, perFile int) error {
	dir, err := os.MkdirTemp("", "infraplane-bench-gitops-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("starting the control plane and the local cloud")
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		return err
	}
	defer cp.Stop(context.Background())
	if err := crds.Install(ctx, cp.RESTConfig()); err != nil {
		return err
	}
	cloud, err := localcloud.Start(ctx, localcloud.Options{Mode: localcloud.ModeFakes})
	if err != nil {
		return err
	}
	defer cloud.Stop()
	admin := cp.RESTConfig()
	admin.QPS, admin.Burst = -1, 0 // as the CLI (plan) does
	c, err := client.New(admin, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	pc := &corev1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: corev1alpha1.ProviderConfigSpec{
		ProjectID: cloud.Project(), Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
		Endpoints: corev1alpha1.Endpoints{PubSub: cloud.Endpoints().PubSub},
	}}
	if err := c.Create(ctx, pc); err != nil {
		return err
	}
	// kubectl's copy goes to another project: the same names in one project
	// would be two objects claiming one resource (and be refused).
	other := pc.DeepCopy()
	other.ObjectMeta = metav1.ObjectMeta{Name: "kubectl-copy"}
	other.Spec.ProjectID = "bench-kubectl-copy"
	if err := c.Create(ctx, other); err != nil {
		return err
	}
	// The roles a team's syncer applies as (what up installs).
	if err := tenant.InstallRoles(ctx, c); err != nil {
		return err
	}
	for ns, provider := range map[string]string{"gitops": "default", "kubectl": "kubectl-copy"} {
		// Onboarded as up does: the GitSource applies as the namespace's
		// syncer ServiceAccount.
		objs, err := tenant.Objects(tenant.Team{Namespace: ns, ProviderConfig: provider})
		if err != nil {
			return err
		}
		if err := tenant.Apply(ctx, c, objs); err != nil {
			return err
		}
	}

	step("writing a repository with %d objects", n)
	repoDir := filepath.Join(dir, "repo")
	files := manifests(n, perFile, 30)
	repo, hash, err := commitFiles(repoDir, files, "initial")
	if err != nil {
		return err
	}
	var results []result

	// Phase 1: only the syncer runs.
	_, stopSyncer, err := startManager(cp, controllers.Options{GitOps: gitops.Options{CacheDir: filepath.Join(dir, "git")}}, true)
	if err != nil {
		return err
	}
	step("sync: GitSource until applied")
	t0 := time.Now()
	const hookToken = "bench-hook-token"
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bench-hook", Namespace: "gitops"},
		Data: map[string][]byte{gitops.HookTokenKey: []byte(hookToken)}}); err != nil {
		return err
	}
	gs := &corev1alpha1.GitSource{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "gitops"},
		Spec: corev1alpha1.GitSourceSpec{URL: repoDir, Interval: metav1.Duration{Duration: time.Hour},
			WebhookSecretRef: &corev1alpha1.LocalObjectReference{Name: "bench-hook"}}}
	if err := c.Create(ctx, gs); err != nil {
		return err
	}
	if err := waitApplied(ctx, c, gs, hash, 5*time.Minute); err != nil {
		return err
	}
	syncTime := time.Since(t0)

	step("kubectl apply --server-side of the same files")
	kubectl, err := exec.LookPath("kubectl")
	var kubectlTime time.Duration
	if err == nil {
		t0 = time.Now()
		cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", cp.KubeconfigPath(), "apply", "--server-side", "-n", "kubectl", "-f", repoDir, "--field-manager", "bench")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("kubectl apply: %v\n%s", err, out.String())
		}
		kubectlTime = time.Since(t0)
	}
	stopSyncer()
	results = append(results,
		result{"sync, commit → applied (syncer)", secs(syncTime), fmt.Sprintf("%d objects, fetch + render + check + dry-run + apply", n)},
		result{"kubectl apply --server-side, same files", secs(kubectlTime), "kubectl " + kubectlVersion(kubectl)},
		result{"ratio syncer ÷ kubectl", ratio(syncTime, kubectlTime), "goal ≤ 1.0×"},
	)

	// Phase 2: all controllers; objects become Ready in the cloud first.
	step("all controllers: waiting for %d objects to be Ready", n)
	all, stopAll, err := startManager(cp, controllers.Options{Concurrency: 10, GitOps: gitops.Options{CacheDir: filepath.Join(dir, "git2")}}, false)
	if err != nil {
		return err
	}
	defer stopAll()
	// Both namespaces (kubectl's copy too), so the pushes are measured at
	// steady state, not while 2,000 creates are still going on.
	for _, ns := range []string{"gitops", "kubectl"} {
		if err := waitAllReady(ctx, c, ns, n, 5*time.Minute); err != nil {
			return err
		}
	}
	subs, err := pubsubapi.NewSubscriptionAdminClient(ctx, cloud.PubSubClientOptions()...)
	if err != nil {
		return err
	}
	defer subs.Close()
	hook := httptest.NewServer(gitops.WebhookHandler(all.GetClient(), gitops.HookOptions{}))
	defer hook.Close()

	step("push-to-cloud: one-line change, webhook, until the cloud has it")
	changed := manifests(n, perFile, 30)
	target := "sub-00000"
	var pushLatencies, syncLatencies []time.Duration
	for i, ack := range []int32{45, 60, 75} {
		changed["subscriptions-0000.yaml"] = replaceFirstAck(changed["subscriptions-0000.yaml"], ack)
		t0 = time.Now()
		if _, err := commitTo(repo, repoDir, changed, fmt.Sprintf("ack %d", ack)); err != nil {
			return err
		}
		// The GitSource's own path (status.webhookPath), as a git host is
		// told to post to it.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL+gitops.HookPath(gs.Namespace, gs.Name, []byte(hookToken)), strings.NewReader(`{"url":"`+repoDir+`"}`))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+hookToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: %s", req.URL.Path, resp.Status)
		}
		name := "projects/" + cloud.Project() + "/subscriptions/" + target
		h, _ := repo.Head()
		if err := waitApplied(ctx, c, gs, h.Hash().String(), time.Minute); err != nil {
			return err
		}
		syncLatencies = append(syncLatencies, time.Since(t0))
		for {
			got, err := subs.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
			if err == nil && got.AckDeadlineSeconds == ack {
				break
			}
			if time.Since(t0) > time.Minute {
				return fmt.Errorf("change %d did not reach the cloud in a minute", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		pushLatencies = append(pushLatencies, time.Since(t0))
	}
	results = append(results,
		result{"push → cloud updated (webhook), 3 runs", joinSecs(pushLatencies), "goal ≤ 2 s; commit + POST /hooks/git/<id> + fetch + sync of all objects + reconcile"},
		result{"… of which push → GitSource applied", joinSecs(syncLatencies), "fetch + render + check + one List per kind + dry-run and apply of the one object that changed"})

	step("plan of %d objects with one change", n)
	planDir := filepath.Join(dir, "plan")
	if err := os.MkdirAll(planDir, 0o755); err != nil {
		return err
	}
	for name, body := range changed {
		if err := os.WriteFile(filepath.Join(planDir, name), []byte(strings.Replace(body, "ackDeadlineSeconds: 75", "ackDeadlineSeconds: 90", 1)), 0o644); err != nil {
			return err
		}
	}
	kinds, closeKinds := controllers.Planners()
	defer closeKinds()
	p := &plan.Planner{Client: c, Kinds: kinds}
	var planTimes []time.Duration
	for range 2 {
		t0 = time.Now()
		res, err := p.Plan(ctx, plan.Options{Dir: planDir, Namespace: "gitops", RefKinds: controllers.RefKinds})
		if err != nil {
			return err
		}
		planTimes = append(planTimes, time.Since(t0))
		if s := res.Summarize(); s.Update != 1 {
			return fmt.Errorf("plan: want 1 change, got %s", s)
		}
	}
	results = append(results, result{"plan, 1 change among all objects, 2 runs", joinSecs(planTimes), "goal ≤ 5 s; dry run + cloud read per object"})

	host, _ := os.Hostname()
	fmt.Printf("### GitOps benchmark (%d objects: %d topics, %d subscriptions, %d per file)\n\n", n, n/2, n/2, perFile)
	fmt.Printf("Command: `go run ./bench/gitops -objects %d`; machine: %s, %d CPUs, %s, %s; cloud: pstest.\n\n", n, cpuModel(), runtime.NumCPU(), runtime.Version(), host)
	fmt.Println("| measure | value | note |")
	fmt.Println("|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %s | %s |\n", r.name, r.value, r.note)
	}
	return nil
}

// startManager runs the controllers on the controller identity; with
// syncerOnly, only the GitSource syncer.
func startManager(cp *controlplane.ControlPlane, opts controllers.Options, syncerOnly bool) (ctrl.Manager, func(), error) {
	cfg, err := cp.IdentityRESTConfig(controllers.ControllerUser, []string{"system:masters"})
	if err != nil {
		return nil, nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // as infraplane up: no client-side throttling of its own server
	var mgr ctrl.Manager
	cleanup := func() {}
	if syncerOnly {
		mgr, err = ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.New(), Metrics: metricsOff()})
		if err == nil {
			opts.GitOps.RefKinds = controllers.RefKinds
			_, err = gitops.SetupSyncer(mgr, opts.GitOps)
		}
	} else {
		mgr, cleanup, err = controllers.NewManager(cfg, controllers.ManagerOptions{Options: opts, AllowSecondManager: true, APIQPS: -1})
		if err == nil {
			// The push hook finds a GitSource's path through this index
			// of the manager's cache, as up's hooks server does.
			err = gitops.IndexHookPaths(context.Background(), mgr.GetFieldIndexer())
		}
	}
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	return mgr, func() { cancel(); <-done; cleanup() }, nil
}

func waitApplied(ctx context.Context, c client.Client, gs *corev1alpha1.GitSource, hash string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		cur := &corev1alpha1.GitSource{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(gs), cur); err == nil {
			if strings.HasSuffix(cur.Status.LastAppliedRevision, hash) {
				return nil
			}
			if r := meta.FindStatusCondition(cur.Status.Conditions, gitops.TypeReady); r != nil && r.Status == "False" && r.Reason != gitops.ReasonFetchFailed {
				return fmt.Errorf("sync failed: %s", r.Message)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not applied after %s", timeout)
}

func waitAllReady(ctx context.Context, c client.Client, ns string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ready := 0
		for _, gvk := range []string{"TopicList", "SubscriptionList"} {
			var l unstructuredList
			l.init(gvk)
			if err := c.List(ctx, l.u, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, it := range l.u.Items {
				conds, _, _ := unstructuredConditions(it.Object)
				if conds["Ready"] == "True" {
					ready++
				}
			}
		}
		if ready >= n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not all %d objects Ready after %s", n, timeout)
}

func secs(d time.Duration) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func joinSecs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	return strings.Join(parts, " / ") + " s"
}

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds())
}

func kubectlVersion(path string) string {
	if path == "" {
		return "(not installed)"
	}
	out, _ := exec.Command(path, "version", "--client", "-o", "yaml").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "gitVersion: "); ok {
			return v
		}
	}
	return ""
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "model name\t: "); ok {
			return v
		}
	}
	return runtime.GOARCH
}

func commitFiles(dir string, files map[string]string, msg string) (*git.Repository, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		return nil, "", err
	}
	h, err := commitTo(r, dir, files, msg)
	return r, h, err
}

func commitTo(r *git.Repository, dir string, files map[string]string, msg string) (string, error) {
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	wt, err := r.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.AddGlob("*.yaml"); err != nil {
		return "", err
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "bench", Email: "bench@example.com", When: time.Now()}})
	if err != nil {
		return "", err
	}
	return h.String(), nil
}
