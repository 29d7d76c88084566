package breakglass_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

var scenarios atomic.Int64

// maxDuration is the platform cap these tests run with.
const maxDuration = 2 * time.Hour

// No admin group: here even the admin needs a break-glass.
func TestMain(m *testing.M) {
	opts := testenv.Options{}
	opts.Controllers.BreakGlass.MaxDuration = maxDuration
	os.Exit(testenv.Main(m, &env, opts))
}

// people are the two users of the scenario: the on-call engineer and a
// colleague, both allowed by RBAC to edit Pub/Sub objects and open
// break-glasses, authenticated by client certificates like real users.
type people struct {
	oncall    client.Client // alice, group oncall
	colleague client.Client // bob, group developers
}

const (
	oncallUser    = "alice@example.com"
	colleagueUser = "bob@example.com"
)

func newPeople(t *testing.T) people {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "infraplane-test-editor"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"pubsub.infraplane.dev"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}},
			{APIGroups: []string{"infraplane.dev"}, Resources: []string{"breakglasses"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
			{APIGroups: []string{"infraplane.dev"}, Resources: []string{"gitsources"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	if err := env.Client.Create(ctx, role); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "infraplane-test-editors"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "oncall"},
			{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "developers"},
		},
	}
	if err := env.Client.Create(ctx, binding); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	return people{oncall: userClient(t, oncallUser, "oncall"), colleague: userClient(t, colleagueUser, "developers")}
}

func userClient(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg, err := env.ControlPlane().IdentityRESTConfig(user, groups)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// repo is a bare "remote" the GitSource reads and a clone the test pushes from.
type repo struct {
	t    *testing.T
	bare string
	work string
	wr   *git.Repository
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	bare := t.TempDir()
	if _, err := git.PlainInitWithOptions(bare, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}}); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	wr, err := git.PlainInitWithOptions(work, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wr.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		t.Fatal(err)
	}
	return &repo{t: t, bare: bare, work: work, wr: wr}
}

// push writes files, commits and pushes to main.
func (r *repo) push(msg string, files map[string]string) string {
	r.t.Helper()
	wt, err := r.wr.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(r.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			r.t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "Grace Hopper", Email: "grace@example.com", When: time.Now()}})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.wr.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
		r.t.Fatalf("push: %v", err)
	}
	return h.String()
}

// merge fast-forwards or merges branch into main on the remote, as merging
// a pull request would, with the git binary.
func (r *repo) merge(branch string) string {
	r.t.Helper()
	dir := r.t.TempDir()
	run := func(args ...string) string {
		r.t.Helper()
		out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
		if err != nil {
			r.t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("clone", "-q", r.bare, ".")
	run("-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com", "merge", "-q", "--no-ff", "-m", "Merge "+branch, "origin/"+branch)
	run("push", "-q", "origin", "main")
	return run("rev-parse", "HEAD")
}

// file reads a file at main on the remote, through a fresh clone.
func (r *repo) file(name string) string {
	r.t.Helper()
	dir := r.t.TempDir()
	if _, err := git.PlainClone(dir, false, &git.CloneOptions{URL: r.bare}); err != nil {
		r.t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// scenario is a namespace with a local cloud, a GitSource on a fresh repo
// holding a topic and the orders-worker subscription (ack deadline 10 s),
// synced and Ready.
type scenario struct {
	ns    string
	repo  *repo
	gs    *corev1alpha1.GitSource
	cloud *localcloud.Cloud
	subs  *pubsubapi.SubscriptionAdminClient
}

// The manifests abandon their cloud resources on deletion: each test's
// cloud stops when the test ends, and deleting into a stopped cloud would
// tie up the controllers' workers with retries while later tests run.
const subscriptionYAML = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: orders-worker
  # The worker acks after processing; keep this above its p99.
spec:
  topicRef:
    name: orders
  ackDeadlineSeconds: 10 # seconds
  deletionPolicy: Abandon
`

const topicYAML = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: orders
spec:
  deletionPolicy: Abandon
`

// scenarioNamespace is a namespace on cloud, with a ProviderConfig of its
// own: a namespace of an earlier run (-count) still being deleted must not
// reach this run's cloud. Its objects go before its cloud stops (cleanups
// run last-first): a reconcile against a stopped cloud retries for a
// minute and would tie up a worker the next tests need. (The namespace
// itself takes another ~10 s to go; nothing waits for that.)
func scenarioNamespace(t *testing.T, cloud *localcloud.Cloud) string {
	t.Helper()
	pc := fmt.Sprintf("bg-%d", scenarios.Add(1)) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	ns := env.Namespace(t, env.ProviderConfig(t, pc, cloud))
	t.Cleanup(func() {
		ctx := context.Background()
		_ = env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		testenv.Eventually(t, time.Minute, func() error {
			for _, l := range []client.ObjectList{&pubsubv1.SubscriptionList{}, &pubsubv1.TopicList{}, &corev1alpha1.BreakGlassList{}} {
				if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
					return err
				}
				if n := meta.LenList(l); n > 0 {
					return fmt.Errorf("%d %T left in %s", n, l, ns)
				}
			}
			return nil
		})
	})
	return ns
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	ctx := context.Background()
	cloud := cloudtest.Fakes(t)
	s := &scenario{cloud: cloud, ns: scenarioNamespace(t, cloud), repo: newRepo(t)}
	s.repo.push("orders pipeline", map[string]string{"pubsub/topic.yaml": topicYAML, "pubsub/subscription.yaml": subscriptionYAML})
	s.gs = &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: s.ns},
		Spec:       corev1alpha1.GitSourceSpec{URL: s.repo.bare, Interval: metav1.Duration{Duration: time.Hour}},
	}
	if err := env.Client.Create(ctx, s.gs); err != nil {
		t.Fatal(err)
	}
	subs, err := pubsubapi.NewSubscriptionAdminClient(ctx, cloud.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { subs.Close() })
	s.subs = subs
	s.waitReady(t, "orders-worker")
	return s
}

func (s *scenario) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: s.ns, Name: name}
}

func (s *scenario) subscription(t *testing.T) *pubsubv1.Subscription {
	t.Helper()
	sub := &pubsubv1.Subscription{}
	if err := env.Client.Get(context.Background(), s.key("orders-worker"), sub); err != nil {
		t.Fatal(err)
	}
	return sub
}

func (s *scenario) waitReady(t *testing.T, name string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		sub := &pubsubv1.Subscription{}
		if err := env.Client.Get(context.Background(), s.key(name), sub); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(sub.Status.Conditions, "Ready") {
			return fmt.Errorf("not Ready: %+v", sub.Status.Conditions)
		}
		return nil
	})
}

// cloudAckDeadline reads the subscription's ack deadline from the cloud.
func (s *scenario) cloudAckDeadline(t *testing.T) int32 {
	t.Helper()
	got, err := s.subs.GetSubscription(context.Background(), &pubsubpb.GetSubscriptionRequest{
		Subscription: fmt.Sprintf("projects/%s/subscriptions/orders-worker", s.cloud.Project()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return got.AckDeadlineSeconds
}

// waitCloudAckDeadline waits until the cloud has want and returns how long it took.
func (s *scenario) waitCloudAckDeadline(t *testing.T, want int32) time.Duration {
	t.Helper()
	start := time.Now()
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := s.cloudAckDeadline(t); got != want {
			return fmt.Errorf("cloud ack deadline %d, want %d", got, want)
		}
		return nil
	})
	return time.Since(start)
}

func (s *scenario) sync(t *testing.T) *corev1alpha1.GitSource {
	t.Helper()
	stamp, err := gitops.RequestSync(context.Background(), env.Client, client.ObjectKeyFromObject(s.gs), false)
	if err != nil {
		t.Fatal(err)
	}
	gs := &corev1alpha1.GitSource{}
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s.gs), gs); err != nil {
			return err
		}
		if gs.Status.LastHandledRequest != stamp {
			return fmt.Errorf("sync not handled yet")
		}
		return nil
	})
	return gs
}

// setAckDeadline patches the subscription's ack deadline as c.
func setAckDeadline(c client.Client, s *scenario, seconds int32) error {
	sub := &pubsubv1.Subscription{}
	sub.Namespace, sub.Name = s.ns, "orders-worker"
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"ackDeadlineSeconds":%d}}`, seconds))
	return breakglass.Explain(c.Patch(context.Background(), sub, patch))
}

func openFor(t *testing.T, c client.Client, s *scenario, d time.Duration, pause bool) *corev1alpha1.BreakGlass {
	t.Helper()
	bg, err := breakglass.Open(context.Background(), c, breakglass.OpenRequest{
		Namespace: s.ns, Targets: []string{"subscription/orders-worker"}, Reason: "INC-4211 backlog: orders pile up", Incident: "INC-4211",
		Duration: d, PauseActuation: pause,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return bg
}

func getBG(t *testing.T, key client.ObjectKey) *corev1alpha1.BreakGlass {
	t.Helper()
	bg := &corev1alpha1.BreakGlass{}
	if err := env.Client.Get(context.Background(), key, bg); err != nil {
		t.Fatal(err)
	}
	return bg
}

func waitBG(t *testing.T, key client.ObjectKey, check func(*corev1alpha1.BreakGlass) error) *corev1alpha1.BreakGlass {
	t.Helper()
	bg := &corev1alpha1.BreakGlass{}
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(context.Background(), key, bg); err != nil {
			return err
		}
		return check(bg)
	})
	return bg
}

func condition(conds []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conds, typ)
}

func keyOf(o client.Object) client.ObjectKey { return client.ObjectKeyFromObject(o) }
