package plan_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/plan"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

var (
	env    *testenv.Env
	update = flag.Bool("update", false, "rewrite the golden files")
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, testenv.Options{})) }

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	ordersV1 = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: orders
spec:
  messageRetentionDuration: 1h
  labels: {team: checkout}
`
	ordersV2 = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: orders
spec:
  messageRetentionDuration: 2h
  labels: {team: checkout}
`
	payments = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: payments
spec:
  labels: {team: billing}
`
	legacy = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: legacy
`
	kept = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: kept
spec:
  deletionPolicy: Abandon
`
	worker = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: worker
spec:
  topicRef: {name: orders}
  ackDeadlineSeconds: 30
`
	audit = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: audit
`
	auditSub = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: audit-reader
spec:
  topicRef: {name: audit}
`
)

// The plan of a change with creates, updates, deletes (one destructive, one
// abandoned), cloud drift and no-ops, in every output format; it must make
// no write, neither to Kubernetes nor to the cloud.
func TestPlanScenario(t *testing.T) {
	ctx := context.Background()
	cloud := cloudtest.Fakes(t)
	ns := env.Namespace(t, env.ProviderConfig(t, "plan-fakes", cloud))

	// What is applied now: a repository synced by a GitSource.
	repoDir := t.TempDir()
	r, err := git.PlainInit(repoDir, false)
	if err != nil {
		t.Fatal(err)
	}
	write(t, repoDir, map[string]string{"orders.yaml": ordersV1, "payments.yaml": payments, "legacy.yaml": legacy, "kept.yaml": kept, "worker.yaml": worker})
	wt, _ := r.Worktree()
	if _, err := wt.Add("."); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("base", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@x", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	head, _ := r.Head()
	gs := &corev1alpha1.GitSource{ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: ns}, Spec: corev1alpha1.GitSourceSpec{
		URL: repoDir, Ref: corev1alpha1.GitRef{Branch: head.Name().Short()}, Interval: metav1.Duration{Duration: time.Hour}, MaxPrunePercent: 100,
	}}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		for _, n := range []string{"orders", "payments", "legacy", "kept"} {
			tp := &pubsubv1.Topic{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, tp); err != nil {
				cur := &corev1alpha1.GitSource{}
				_ = env.Client.Get(ctx, client.ObjectKeyFromObject(gs), cur)
				return errorf("%v; GitSource: %+v", err, cur.Status.Conditions)
			}
			if !meta.IsStatusConditionTrue(tp.Status.Conditions, "Ready") {
				return errorf("%s not Ready", n)
			}
		}
		sub := &pubsubv1.Subscription{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "worker"}, sub); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(sub.Status.Conditions, "Ready") {
			return errorf("worker not Ready")
		}
		return nil
	})

	// Someone changed the payments topic in the cloud.
	admin, err := pubsubapi.NewTopicAdminClient(ctx, cloud.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.UpdateTopic(ctx, &pubsubpb.UpdateTopicRequest{
		Topic:      &pubsubpb.Topic{Name: "projects/" + cloud.Project() + "/topics/payments", Labels: map[string]string{"team": "someone-else"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	}); err != nil {
		t.Fatal(err)
	}

	// The pull request: orders changes, legacy and kept leave, audit and
	// its subscription arrive, payments and worker stay as they are.
	prDir := t.TempDir()
	write(t, prDir, map[string]string{"orders.yaml": ordersV2, "payments.yaml": payments, "worker.yaml": worker, "audit.yaml": audit, "audit-sub.yaml": auditSub})

	writesBefore := cloudWrites()
	editsBefore := directEdits(t)
	kinds, closeClients := controllers.Planners()
	defer closeClients()
	p := &plan.Planner{Client: env.Client, Kinds: kinds}
	res, err := p.Plan(ctx, plan.Options{Dir: prDir, Namespace: ns, RefKinds: controllers.RefKinds})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	if !res.HasChanges() {
		t.Fatal("plan says no changes")
	}
	if n := cloudWrites() - writesBefore; n != 0 {
		t.Errorf("planning made %v cloud writes", n)
	}
	time.Sleep(500 * time.Millisecond) // the ledger appends off the request path
	if n := directEdits(t) - editsBefore; n != 0 {
		t.Errorf("the plan's dry runs were recorded as %d direct edits", n)
	}
	for _, format := range []string{"table", "markdown", "json"} {
		var buf bytes.Buffer
		if err := res.Write(&buf, format); err != nil {
			t.Fatal(err)
		}
		got := strings.ReplaceAll(buf.String(), ns, "NAMESPACE")
		golden := filepath.Join("testdata", "scenario."+format+".golden")
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s output differs from %s (run with -update after checking):\n%s", format, golden, got)
		}
	}

	// Nothing was written to Kubernetes either.
	tp := &pubsubv1.Topic{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, tp); err != nil || tp.Spec.MessageRetentionDuration.Duration != time.Hour {
		t.Errorf("plan changed orders: %v %v", err, tp.Spec.MessageRetentionDuration)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "audit"}, &pubsubv1.Topic{}); err == nil {
		t.Errorf("plan created audit")
	}
}

func cloudWrites() float64 {
	var n float64
	for _, m := range []string{"CreateTopic", "UpdateTopic", "DeleteTopic", "CreateSubscription", "UpdateSubscription", "DeleteSubscription"} {
		n += provider.CloudCalls("pubsub", m)
	}
	return n
}

func directEdits(t *testing.T) int {
	t.Helper()
	entries, err := ledger.Read(env.LedgerPath(), ledger.Filter{Type: ledger.TypeDirectEdit})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
