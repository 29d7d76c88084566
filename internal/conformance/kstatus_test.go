package conformance_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"
	"github.com/infraplane/infraplane/internal/argocd"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/testenv"
)

// liveCase is one kind in one state: bring puts a live object into that
// state (waiting on the object's own status, never on kstatus) and returns
// it as the API server serves it; want is what kstatus must say, and a
// Failed result's message must contain message (the cause). Another
// health model (e.g. Argo CD's Lua checks) can be judged on the same
// objects by adding a column here.
type liveCase struct {
	kind, state string
	bring       func(t *testing.T) *unstructured.Unstructured
	want        kstatus.Status
	message     string
	// argo is Argo CD's health with infraplane's Lua check
	// (internal/argocd), when it is not the one kstatus implies
	// (argoFor): a paused object is Suspended.
	argo string
}

// argoFor is the Argo CD health that matches a kstatus result.
func argoFor(s kstatus.Status) string {
	switch s {
	case kstatus.CurrentStatus:
		return argocd.Healthy
	case kstatus.FailedStatus:
		return argocd.Degraded
	default: // InProgress, Terminating
		return argocd.Progressing
	}
}

// hold is a finalizer of the test's own, to keep a deleted object in
// Terminating.
const hold = "conformance.infraplane.dev/hold"

var queueGVK = schema.GroupVersionKind{Group: "conformance.infraplane.dev", Version: "v1alpha1", Kind: "KQueue"}

func TestKStatus(t *testing.T) {
	ctx := context.Background()
	cloud := cloudtest.Fakes(t)
	pc := env.ProviderConfig(t, "conformance", cloud)
	ns := env.Namespace(t, pc)
	other := env.Namespace(t, pc)
	// A ProviderConfig that stops admitting its namespace after the
	// objects were created (admission refuses them before).
	env.ProviderConfig(t, "conformance-narrowing", cloud)
	narrowed := env.Namespace(t, "conformance-narrowing")
	missingPC := env.Namespace(t, "conformance-does-not-exist")
	// One Spanner emulator and instance for the Spanner rows.
	emu := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeEmulators, Services: []localcloud.Service{localcloud.ServiceSpanner}})
	spannerNamespace := env.Namespace(t, env.ProviderConfig(t, "conformance-spanner", emu))
	pu := int32(100)
	create(t, &spannerv1.SpannerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: spannerNamespace, Name: "kstatus"},
		Spec: spannerv1.SpannerInstanceSpec{Config: "regional-us-central1", DisplayName: "kstatus", ProcessingUnits: &pu}})
	spannerNS := func(*testing.T) string { return spannerNamespace }

	cases := []liveCase{
		{kind: "Topic", state: "just created, no status yet", want: kstatus.InProgressStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				tp := topic(ns, "fresh")
				create(t, tp)
				return toUnstructured(t, tp) // the API server's answer to the create
			}},
		{kind: "Topic", state: "ready", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				tp := topic(ns, "ready")
				create(t, tp)
				return waitFor(t, tp, "Ready", condIs("Ready", "True", ""))
			}},
		{kind: "Subscription", state: "waiting for a missing topic", want: kstatus.InProgressStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "waits"},
					Spec: pubsubv1.SubscriptionSpec{TopicRef: commonv1.ResourceRef{Name: "not-there"}}}
				create(t, sub)
				return waitFor(t, sub, "WaitingForReference", condIs("Ready", "False", commonv1.ReasonWaitingForRef))
			}},
		{kind: "Subscription", state: "ready", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				create(t, topic(ns, "sub-topic"))
				sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reads"},
					Spec: pubsubv1.SubscriptionSpec{TopicRef: commonv1.ResourceRef{Name: "sub-topic"}}}
				create(t, sub)
				return waitFor(t, sub, "Ready", condIs("Ready", "True", ""))
			}},
		{kind: "Topic", state: "exists, owned by another object", want: kstatus.FailedStatus, message: "belongs to another object",
			bring: func(t *testing.T) *unstructured.Unstructured {
				first := topic(other, "contested")
				create(t, first)
				waitFor(t, first, "Ready", condIs("Ready", "True", ""))
				second := topic(ns, "contested")
				create(t, second)
				return waitFor(t, second, "AlreadyExistsNotOwned", condIs("Synced", "False", commonv1.ReasonAlreadyExists))
			}},
		{kind: "Topic", state: "ProviderConfig missing", want: kstatus.FailedStatus, message: "does not exist",
			bring: func(t *testing.T) *unstructured.Unstructured {
				tp := topic(missingPC, "orphan")
				create(t, tp)
				return waitFor(t, tp, "ProviderConfigError", condIs("Synced", "False", commonv1.ReasonProviderError))
			}},
		{kind: "Topic", state: "namespace no longer permitted", want: kstatus.FailedStatus, message: "namespace",
			bring: func(t *testing.T) *unstructured.Unstructured {
				tp := topic(narrowed, "narrowed")
				create(t, tp)
				waitFor(t, tp, "Ready", condIs("Ready", "True", ""))
				narrowPC(t, "conformance-narrowing")
				return waitFor(t, tp, "NotPermitted", condIs("Synced", "False", commonv1.ReasonNotPermitted))
			}},
		{kind: "Topic", state: "paused, spec changed", want: kstatus.CurrentStatus, argo: argocd.Suspended,
			bring: func(t *testing.T) *unstructured.Unstructured {
				tp := topic(ns, "paused")
				create(t, tp)
				waitFor(t, tp, "Ready", condIs("Ready", "True", ""))
				testenv.Update(t, env, tp, func(tp *pubsubv1.Topic) {
					tp.Annotations = map[string]string{managed.PausedAnnotation: "true"}
				})
				waitFor(t, tp, "Paused", condIs("Paused", "True", ""))
				testenv.Update(t, env, tp, func(tp *pubsubv1.Topic) { tp.Spec.Labels = map[string]commonv1.LabelValue{"team": "b"} })
				return waitFor(t, tp, "PendingChanges", condIs("Drifted", "True", commonv1.ReasonPendingChanges))
			}},
		{kind: "Topic", state: "ObserveOnly, spec changed", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				tp := topic(ns, "observed")
				create(t, tp)
				waitFor(t, tp, "Ready", condIs("Ready", "True", ""))
				testenv.Update(t, env, tp, func(tp *pubsubv1.Topic) {
					tp.Spec.ManagementPolicy = commonv1.ManagementObserveOnly
					tp.Spec.Labels = map[string]commonv1.LabelValue{"team": "b"}
				})
				return waitFor(t, tp, "PendingChanges", condIs("Drifted", "True", commonv1.ReasonPendingChanges))
			}},
		{kind: "Topic", state: "deleting, finalizer held", want: kstatus.TerminatingStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				tp := topic(ns, "held")
				tp.Finalizers = []string{hold}
				create(t, tp)
				waitFor(t, tp, "Ready", condIs("Ready", "True", ""))
				t.Cleanup(func() { release(tp) })
				if err := env.Client.Delete(ctx, tp); err != nil {
					t.Fatal(err)
				}
				return waitFor(t, tp, "deleting", func(u *unstructured.Unstructured) bool { return u.GetDeletionTimestamp() != nil })
			}},
		{kind: "SpannerDatabase", state: "the cloud refuses it (DDL the emulator cannot parse)", want: kstatus.FailedStatus, message: "InvalidArgument",
			bring: func(t *testing.T) *unstructured.Unstructured {
				sns := spannerNS(t)
				db := &spannerv1.SpannerDatabase{ObjectMeta: metav1.ObjectMeta{Namespace: sns, Name: "kstatus-bad-ddl"},
					Spec: spannerv1.SpannerDatabaseSpec{InstanceRef: commonv1.ResourceRef{Name: "kstatus"},
						DDL: []string{"CREATE TABLE T (Id STRING(36) NOT NULL PRIMARY KEY (Id)"}}}
				create(t, db)
				return waitFor(t, db, "refused", condIs("Synced", "False", commonv1.ReasonCloudError))
			}},
		{kind: "SpannerDatabase", state: "an applied DDL statement changed (immutable)", want: kstatus.FailedStatus, message: "cannot be changed",
			bring: func(t *testing.T) *unstructured.Unstructured {
				sns := spannerNS(t)
				db := &spannerv1.SpannerDatabase{ObjectMeta: metav1.ObjectMeta{Namespace: sns, Name: "kstatus-db"},
					Spec: spannerv1.SpannerDatabaseSpec{InstanceRef: commonv1.ResourceRef{Name: "kstatus"},
						DDL: []string{"CREATE TABLE T (Id STRING(36) NOT NULL) PRIMARY KEY (Id)"}}}
				create(t, db)
				waitFor(t, db, "Ready", condIs("Ready", "True", ""))
				testenv.Update(t, env, db, func(db *spannerv1.SpannerDatabase) {
					db.Spec.DDL = []string{"CREATE TABLE T (Id STRING(64) NOT NULL) PRIMARY KEY (Id)"}
				})
				return waitFor(t, db, "UpdateNotSupported", condIs("Synced", "False", commonv1.ReasonUpdateNotSupported))
			}},
		{kind: "Bucket", state: "ready", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				b := &storagev1.Bucket{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kstatus-" + ns}}
				create(t, b)
				return waitFor(t, b, "Ready", condIs("Ready", "True", ""))
			}},
		{kind: "ProviderConfig", state: "usable", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				return waitFor(t, &corev1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: pc}}, "Ready", condIs("Ready", "True", ""))
			}},
		{kind: "ProviderConfig", state: "names a missing Secret", want: kstatus.FailedStatus, message: "does not exist",
			bring: func(t *testing.T) *unstructured.Unstructured {
				bad := &corev1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: "conformance-bad"},
					Spec: corev1alpha1.ProviderConfigSpec{ProjectID: "conformance-bad-project", Credentials: corev1alpha1.Credentials{
						Source: corev1alpha1.CredentialsSecretKey, SecretRef: &corev1alpha1.SecretReference{Namespace: ns, Name: "no-such-key"}}}}
				create(t, bad)
				t.Cleanup(func() { _ = env.Client.Delete(context.Background(), bad) })
				return waitFor(t, bad, "Ready=False", condIs("Ready", "False", ""))
			}},
		{kind: "GitSource", state: "just created, no status yet", want: kstatus.InProgressStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				gs := gitSource(ns, "fresh", newRepo(t, map[string]string{"topic.yaml": topicYAML("from-git-fresh")}))
				create(t, gs)
				return toUnstructured(t, gs)
			}},
		{kind: "GitSource", state: "applied", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				gs := gitSource(ns, "applied", newRepo(t, map[string]string{"topic.yaml": topicYAML("from-git")}))
				create(t, gs)
				return waitFor(t, gs, "Ready", condIs("Ready", "True", ""))
			}},
		{kind: "GitSource", state: "a commit that cannot be applied", want: kstatus.FailedStatus, message: "nothing applied",
			bring: func(t *testing.T) *unstructured.Unstructured {
				bad := "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: bad-labels\nspec:\n  labels:\n    team: NOT A VALID VALUE\n"
				gs := gitSource(ns, "broken", newRepo(t, map[string]string{"topic.yaml": bad}))
				create(t, gs)
				return waitFor(t, gs, "Ready=False", condIs("Ready", "False", ""))
			}},
		{kind: "GitSource", state: "the repository cannot be fetched (retried)", want: kstatus.InProgressStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				gs := gitSource(ns, "unreachable", filepath.Join(t.TempDir(), "no-such-repo"))
				create(t, gs)
				return waitFor(t, gs, "FetchFailed", condIs("Ready", "False", "FetchFailed"))
			}},
		{kind: "Blueprint", state: "serving", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				return waitFor(t, applyQueueBlueprint(t), "Ready", condIs("Ready", "True", ""))
			}},
		{kind: "BlueprintRevision", state: "recorded", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				applyQueueBlueprint(t)
				rev := &corev1alpha1.BlueprintRevision{ObjectMeta: metav1.ObjectMeta{Name: "kqueue-1"}}
				return waitFor(t, rev, "exists", func(*unstructured.Unstructured) bool { return true })
			}},
		{kind: "KQueue (instance)", state: "ready", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				applyQueueBlueprint(t)
				in := instance(t, ns, "q-ready")
				return waitFor(t, in, "Ready", condIs("Ready", "True", ""))
			}},
		{kind: "KQueue (instance)", state: "just created, no status yet", want: kstatus.InProgressStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				applyQueueBlueprint(t)
				return instance(t, ns, "q-fresh")
			}},
		{kind: "KQueue (instance)", state: "a child fails (its topic belongs to another object)", want: kstatus.FailedStatus, message: "belongs to another object",
			bring: func(t *testing.T) *unstructured.Unstructured {
				applyQueueBlueprint(t)
				first := topic(other, "q-clash")
				create(t, first)
				waitFor(t, first, "Ready", condIs("Ready", "True", ""))
				in := instance(t, ns, "q-clash")
				return waitFor(t, in, "ResourceFailed", condIs("Ready", "False", "ResourceFailed"))
			}},
		{kind: "BreakGlass", state: "open", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				bg := openBreakGlass(t, ns, "bg-open")
				return waitFor(t, bg, "Active", condIs("Active", "True", ""))
			}},
		{kind: "BreakGlass", state: "closed", want: kstatus.CurrentStatus,
			bring: func(t *testing.T) *unstructured.Unstructured {
				bg := openBreakGlass(t, ns, "bg-closed")
				waitFor(t, bg, "Active", condIs("Active", "True", ""))
				if _, err := breakglass.Close(ctx, env.Client, client.ObjectKeyFromObject(bg)); err != nil {
					t.Fatal(err)
				}
				return waitFor(t, bg, "closed", condIs("Active", "False", ""))
			}},
	}

	var table []string
	for _, tc := range cases {
		t.Run(tc.kind+"/"+tc.state, func(t *testing.T) {
			u := tc.bring(t)
			res, err := kstatus.Compute(u)
			if err != nil {
				t.Fatal(err)
			}
			health, err := argocd.Of(u)
			if err != nil {
				t.Fatalf("Argo CD health script: %v", err)
			}
			wantArgo := tc.argo
			if wantArgo == "" {
				wantArgo = argoFor(tc.want)
			}
			if health.Status != wantArgo {
				t.Errorf("Argo CD health %s (%s), want %s", health.Status, health.Message, wantArgo)
			}
			if tc.message != "" && !strings.Contains(health.Message, tc.message) {
				t.Errorf("Argo CD health message %q does not name the cause (%q)", health.Message, tc.message)
			}
			line := fmt.Sprintf("%-20s %-52s %-12s %-12s", tc.kind, tc.state, res.Status, health.Status)
			if res.Status == kstatus.FailedStatus {
				line += " " + res.Message
			}
			table = append(table, line)
			if res.Status != tc.want {
				t.Errorf("kstatus %s (%s), want %s; status: %v", res.Status, res.Message, tc.want, u.Object["status"])
			}
			if tc.message != "" && !strings.Contains(res.Message, tc.message) {
				t.Errorf("kstatus message %q does not name the cause (%q)", res.Message, tc.message)
			}
		})
	}
	t.Logf("kstatus and Argo CD health of live objects:\n%s", strings.Join(table, "\n"))
}

func topic(ns, name string) *pubsubv1.Topic {
	return &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %s: %v", obj.GetName(), err)
	}
}

// toUnstructured is a typed object as unstructured, with its kind.
func toUnstructured(t *testing.T, obj client.Object) *unstructured.Unstructured {
	t.Helper()
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u
	}
	gvk, err := apiutil.GVKForObject(obj, env.Client.Scheme())
	if err != nil {
		t.Fatal(err)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u
}

// waitFor waits until the live object is in the state ok describes, for
// the generation it has (status.observedGeneration, where the kind has
// one, is the generation), and returns it.
func waitFor(t *testing.T, obj client.Object, what string, ok func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	u := toUnstructured(t, obj).DeepCopy()
	testenv.Eventually(t, 2*testenv.WaitTimeout, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), u); err != nil {
			return err
		}
		if og, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); found && og != u.GetGeneration() && u.GetDeletionTimestamp() == nil {
			return fmt.Errorf("%s: status describes generation %d, not %d", u.GetName(), og, u.GetGeneration())
		}
		if !ok(u) {
			return fmt.Errorf("%s not %s yet: %v", u.GetName(), what, u.Object["status"])
		}
		return nil
	})
	return u
}

// condIs matches a condition of the current generation; reason "" matches
// any.
func condIs(typ, status, reason string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, x := range conds {
			m, _ := x.(map[string]any)
			if m["type"] != typ {
				continue
			}
			gen, _ := m["observedGeneration"].(int64)
			return m["status"] == status && (reason == "" || m["reason"] == reason) && gen == u.GetGeneration()
		}
		return false
	}
}

// release removes the test's finalizer.
func release(obj client.Object) {
	ctx := context.Background()
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	if controllerutil.RemoveFinalizer(obj, hold) {
		_ = env.Client.Patch(ctx, obj, patch)
	}
}

// narrowPC makes a ProviderConfig admit no namespace any more.
func narrowPC(t *testing.T, name string) {
	t.Helper()
	pc := &corev1alpha1.ProviderConfig{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(pc), pc); err != nil {
		t.Fatal(err)
	}
	testenv.Update(t, env, pc, func(pc *corev1alpha1.ProviderConfig) {
		pc.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"conformance": "nobody"}}
	})
}

func topicYAML(name string) string {
	return fmt.Sprintf("apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Topic\nmetadata:\n  name: %s\n", name)
}

// newRepo is a git repository with one commit of files.
func newRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := wt.Commit("first", &git.CommitOptions{Author: &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func gitSource(ns, name, url string) *corev1alpha1.GitSource {
	return &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1alpha1.GitSourceSpec{URL: url, Interval: metav1.Duration{Duration: time.Hour}},
	}
}

const queueBlueprint = `apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata:
  name: kqueue
spec:
  group: conformance.infraplane.dev
  version: v1alpha1
  kind: KQueue
  schema:
    type: object
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata:
        name: ${metadata.name}
`

// applyQueueBlueprint creates the Blueprint of the KQueue kind once and
// waits until the kind is served.
func applyQueueBlueprint(t *testing.T) *corev1alpha1.Blueprint {
	t.Helper()
	bp := &corev1alpha1.Blueprint{}
	if err := yaml.UnmarshalStrict([]byte(queueBlueprint), bp); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(context.Background(), bp); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	waitFor(t, bp, "Ready", condIs("Ready", "True", ""))
	return bp
}

// instance creates a KQueue and returns the API server's answer.
func instance(t *testing.T, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(queueGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	u.Object["spec"] = map[string]any{}
	testenv.Eventually(t, testenv.WaitTimeout, func() error { // the new kind may not be served yet
		return env.Client.Create(context.Background(), u)
	})
	return u
}

func openBreakGlass(t *testing.T, ns, name string) *corev1alpha1.BreakGlass {
	t.Helper()
	create(t, topic(ns, name+"-target"))
	bg, err := breakglass.Open(context.Background(), env.Client, breakglass.OpenRequest{
		Namespace: ns, Name: name, Targets: []string{"topic/" + name + "-target"},
		Reason: "conformance test", Duration: time.Hour,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return bg
}
