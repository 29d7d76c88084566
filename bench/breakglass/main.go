// Command breakglass is the break-glass benchmark. In one process it runs
// the embedded API server with infraplane's admission webhook (loopback
// TLS), the local cloud (pstest) and the controllers, with a GitSource
// applying one subscription plus -objects topics, and measures:
//
//  1. open → first direct edit visible in the cloud: `breakglass open` (as
//     an on-call user with a client certificate, through the webhook),
//     then `kubectl patch`-equivalent of the subscription's ack deadline,
//     until the cloud reports the new value; repeated -rounds times (each
//     round reverts to git first);
//  2. expiry precision: -expiries break-glasses with a 3 s window opened at
//     once on different topics; for each, how long after its expiry time
//     its phase was observed Expired (polled every 10 ms).
//
// It prints a Markdown table for docs/benchmarks.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/tenant"
)

func main() {
	objects := flag.Int("objects", 200, "topics in the repository besides the subscription")
	rounds := flag.Int("rounds", 10, "open → edit → cloud rounds")
	expiries := flag.Int("expiries", 10, "break-glasses expiring at once")
	flag.Parse()
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	slog.SetDefault(slog.New(h))
	ctrl.SetLogger(logr.FromSlogHandler(h))
	klog.SetLogger(logr.FromSlogHandler(h).V(1))
	if err := run(context.Background(), *objects, *rounds, *expiries); err != nil {
		fmt.Fprintln(os.Stderr, "breakglass bench:", err)
		os.Exit(1)
	}
}

func step(msg string, args ...any) { fmt.Fprintf(os.Stderr, "• "+msg+"\n", args...) }

const ns = "default"

func run(ctx context.Context, objects, rounds, expiries int) error {
	dir, err := os.MkdirTemp("", "infraplane-bench-breakglass-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("starting the control plane, the local cloud and the controllers")
	data := filepath.Join(dir, "data")
	cp, err := controlplane.Start(ctx, controlplane.Options{DataDir: data})
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
	admin, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	if err := applyRoles(ctx, admin); err != nil {
		return err
	}
	if err := admin.Create(ctx, &corev1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: corev1alpha1.ProviderConfigSpec{
		ProjectID: cloud.Project(), Credentials: corev1alpha1.Credentials{Source: corev1alpha1.CredentialsNone},
		Endpoints: corev1alpha1.Endpoints{PubSub: cloud.Endpoints().PubSub},
	}}); err != nil {
		return err
	}
	opts := controllers.Options{GitOps: gitops.Options{CacheDir: filepath.Join(dir, "git")}, ResyncInterval: 5 * time.Minute}
	if err := controllers.LoopbackWebhook(data, 0, &opts.BreakGlass); err != nil {
		return err
	}
	stop, err := startManager(cp, opts)
	if err != nil {
		return err
	}
	defer stop()
	if err := controllers.WaitWebhook(ctx, admin, ns); err != nil {
		return err
	}

	step("a repository with 1 subscription and %d topics, synced", objects)
	repo := filepath.Join(dir, "repo")
	if err := writeRepo(repo, objects); err != nil {
		return err
	}
	gs := &corev1alpha1.GitSource{ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: ns},
		Spec: corev1alpha1.GitSourceSpec{URL: repo, Interval: metav1.Duration{Duration: time.Hour}}}
	if err := admin.Create(ctx, gs); err != nil {
		return err
	}
	if err := waitReady(ctx, admin, objects+2, 2*time.Minute); err != nil {
		return err
	}

	oncallCfg, err := cp.IdentityRESTConfig("alice@example.com", []string{"infraplane:oncall"})
	if err != nil {
		return err
	}
	oncallCfg.QPS, oncallCfg.Burst = -1, 0
	oncall, err := client.New(oncallCfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	subs, err := pubsubapi.NewSubscriptionAdminClient(ctx, cloud.PubSubClientOptions()...)
	if err != nil {
		return err
	}
	defer subs.Close()
	cloudName := fmt.Sprintf("projects/%s/subscriptions/orders-worker", cloud.Project())

	step("open → edit → cloud, %d rounds", rounds)
	var total, opening, edit []time.Duration
	for i := range rounds {
		want := int32(60 + i)
		t0 := time.Now()
		bg, err := breakglass.Open(ctx, oncall, breakglass.OpenRequest{Namespace: ns, Targets: []string{"subscription/orders-worker"},
			Reason: "bench: raise the ack deadline", Duration: time.Hour})
		if err != nil {
			return err
		}
		t1 := time.Now()
		sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders-worker"}}
		if err := oncall.Patch(ctx, sub, client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"ackDeadlineSeconds":%d}}`, want))); err != nil {
			return breakglass.Explain(err)
		}
		for {
			got, err := subs.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: cloudName})
			if err != nil {
				return err
			}
			if got.AckDeadlineSeconds == want {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		t2 := time.Now()
		total, opening, edit = append(total, t2.Sub(t0)), append(opening, t1.Sub(t0)), append(edit, t2.Sub(t1))
		if _, err := breakglass.Revert(ctx, oncall, client.ObjectKeyFromObject(bg)); err != nil {
			return err
		}
		if err := waitAck(ctx, subs, cloudName, 10, time.Minute); err != nil {
			return err
		}
	}

	step("expiry precision: %d break-glasses of 3 s at once", expiries)
	keys := make([]client.ObjectKey, 0, expiries)
	for i := range min(expiries, objects) {
		bg, err := breakglass.Open(ctx, oncall, breakglass.OpenRequest{Namespace: ns, Targets: []string{fmt.Sprintf("topic/t-%04d", i)},
			Reason: "bench: expiry precision", Duration: 3 * time.Second})
		if err != nil {
			return err
		}
		keys = append(keys, client.ObjectKeyFromObject(bg))
	}
	late := map[client.ObjectKey]time.Duration{}
	deadline := time.Now().Add(time.Minute)
	for len(late) < len(keys) && time.Now().Before(deadline) {
		var list corev1alpha1.BreakGlassList
		if err := admin.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		now := time.Now()
		for _, bg := range list.Items {
			k := client.ObjectKeyFromObject(&bg)
			if _, seen := late[k]; !seen && slices.Contains(keys, k) && bg.Status.Phase == corev1alpha1.BreakGlassExpired {
				late[k] = now.Sub(breakglass.ExpiresAt(&bg))
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	var lateness []time.Duration
	for _, d := range late {
		lateness = append(lateness, d)
	}

	fmt.Printf("\nMachine: %d CPUs, %s, %s/%s\n\n", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH)
	fmt.Println("| measure | min | median | max | goal |")
	fmt.Println("|---|---|---|---|---|")
	row := func(name string, ds []time.Duration, goal string) {
		slices.Sort(ds)
		if len(ds) == 0 {
			fmt.Printf("| %s | – | – | – | %s |\n", name, goal)
			return
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", name, ms(ds[0]), ms(ds[len(ds)/2]), ms(ds[len(ds)-1]), goal)
	}
	row(fmt.Sprintf("open → first direct edit in the cloud (%d rounds)", len(total)), total, "≤ 2 s")
	row("  of which: open (created, stamped, opened by the controller)", opening, "")
	row("  of which: edit (webhook-checked patch) → cloud", edit, "")
	row(fmt.Sprintf("expiry: Expired observed after expiresAt (%d of %d)", len(lateness), len(keys)), lateness, "≤ 1–2 s")
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func startManager(cp *controlplane.ControlPlane, opts controllers.Options) (func(), error) {
	cfg, err := cp.IdentityRESTConfig(controllers.ControllerUser, []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	mgr, cleanup, err := controllers.NewManager(cfg, controllers.ManagerOptions{Options: opts, APIQPS: -1})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	return func() { cancel(); <-done; cleanup() }, nil
}

// applyRoles installs the roles and onboards the namespace as up does:
// infraplane:oncall may break the glass there, and the GitSource applies
// as the namespace's syncer ServiceAccount.
func applyRoles(ctx context.Context, c client.Client) error {
	if err := tenant.InstallRoles(ctx, c); err != nil {
		return err
	}
	objs, err := tenant.Objects(tenant.Team{Namespace: ns, OncallGroups: []string{"infraplane:oncall"}})
	if err != nil {
		return err
	}
	return tenant.Apply(ctx, c, objs)
}

func writeRepo(dir string, topics int) error {
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: orders\nspec: {}\n---\n")
	b.WriteString("apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Subscription\nmetadata:\n  name: orders-worker\nspec:\n  topicRef:\n    name: orders\n  ackDeadlineSeconds: 10\n")
	for i := range topics {
		fmt.Fprintf(&b, "---\napiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: t-%04d\nspec: {}\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "infra.yaml"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	wt, err := r.Worktree()
	if err != nil {
		return err
	}
	if _, err := wt.Add("infra.yaml"); err != nil {
		return err
	}
	_, err = wt.Commit("infra", &git.CommitOptions{Author: &object.Signature{Name: "bench", Email: "bench@example.com", When: time.Now()}})
	return err
}

func waitReady(ctx context.Context, c client.Client, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ready := 0
		for _, l := range []client.ObjectList{&pubsubv1.TopicList{}, &pubsubv1.SubscriptionList{}} {
			if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
				return err
			}
			items, _ := meta.ExtractList(l)
			for _, it := range items {
				if o, ok := it.(interface {
					ManagedStatus() *commonv1.ManagedStatus
				}); ok && meta.IsStatusConditionTrue(o.ManagedStatus().Conditions, "Ready") {
					ready++
				}
			}
		}
		if ready >= n {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("fewer than %d objects Ready after %s", n, timeout)
}

func waitAck(ctx context.Context, subs *pubsubapi.SubscriptionAdminClient, name string, want int32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		got, err := subs.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name})
		if err == nil && got.AckDeadlineSeconds == want {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("cloud ack deadline not back to %d", want)
}

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
