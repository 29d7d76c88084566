package gitops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/tenant"
	"github.com/infraplane/infraplane/internal/testenv"
)

// Two teams share one infraplane: team-a and team-b, each with a
// namespace, a GitSource and a git credentials Secret, and a team-a editor
// bound in team-a only. Each test is an attack a hostile member of team-a
// tried; each asserts the refusal, its message, and that nothing was
// created, read or changed.

// teams is the scenario: two onboarded namespaces and team-a's editor.
type teams struct {
	a, b    string        // namespaces
	editorA client.Client // alice, group team-a-devs (editor in a only)
	secretB string        // team-b's git credentials Secret
	sourceB *corev1alpha1.GitSource
	repoB   *repo
}

func twoTeams(t *testing.T) teams {
	t.Helper()
	ctx := context.Background()
	pc := env.ProviderConfig(t, "gitops-tenancy", cloudtest.Fakes(t))
	a, b := env.Namespace(t, pc), env.Namespace(t, pc)
	env.Onboard(t, tenant.Team{Namespace: a, EditorGroups: []string{"team-a-devs"}})
	env.Onboard(t, tenant.Team{Namespace: b, EditorGroups: []string{"team-b-devs"}})
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-credentials", Namespace: b},
		StringData: map[string]string{"username": "team-b-bot", "password": "team-b-secret-token"}}
	if err := env.Client.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	rb := newRepo(t)
	rb.push("team-b's infra", map[string]*string{"topics.yaml": str(topicYAML("payments", "billing"))})
	gsB := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: b},
		Spec:       corev1alpha1.GitSourceSpec{URL: rb.bare, Interval: metav1.Duration{Duration: time.Hour}},
	}
	env.Create(t, gsB)
	waitSource(t, gsB, appliedRevision(rb.hashes[0]))
	return teams{a: a, b: b, editorA: env.Person(t, "alice@example.com", "team-a-devs"), secretB: sec.Name, sourceB: gsB, repoB: rb}
}

// unchangedB checks that nothing of team-b changed: its GitSource's spec
// and its objects are as they were, and nothing new is in its namespace.
func (tm teams) unchangedB(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	gs := &corev1alpha1.GitSource{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tm.sourceB), gs); err != nil {
		t.Fatal(err)
	}
	if gs.Spec.URL != tm.repoB.bare || gs.Spec.TargetNamespace != "" || gs.Spec.MaxPrunePercent != 25 {
		t.Errorf("team-b's GitSource changed: %+v", gs.Spec)
	}
	var rbs rbacv1.RoleBindingList
	if err := env.Client.List(ctx, &rbs, client.InNamespace(tm.b)); err != nil {
		t.Fatal(err)
	}
	for _, b := range rbs.Items {
		if b.Labels[tenant.TenantLabel] != tm.b {
			t.Errorf("a RoleBinding appeared in team-b: %s -> %s", b.Name, b.RoleRef.Name)
		}
	}
	topic := &pubsubv1.Topic{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: tm.b, Name: "payments"}, topic); err != nil {
		t.Errorf("team-b's topic: %v", err)
	}
}

// noMentionOf fails if the GitSource's status or events name team-b or
// its secret.
func noMentionOf(t *testing.T, gs *corev1alpha1.GitSource, secrets ...string) {
	t.Helper()
	b, _ := json.Marshal(gs.Status)
	var events corev1.EventList
	_ = env.Client.List(context.Background(), &events, client.InNamespace(gs.Namespace))
	eb, _ := json.Marshal(events.Items)
	for _, s := range secrets {
		if strings.Contains(string(b), s) || strings.Contains(string(eb), s) {
			t.Errorf("team-a's GitSource status or events mention %q: %s", s, b)
		}
	}
}

const clusterAdminBindingYAML = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: take-over
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- kind: Group
  apiGroup: rbac.authorization.k8s.io
  name: team-a-devs
`

// A repository holding a RoleBinding to cluster-admin: the syncer applies
// as team-a's ServiceAccount, whose role has no RBAC objects, so the
// commit is refused as a whole and nothing of it is applied.
func TestTenancyRepositoryRoleBindingRefused(t *testing.T) {
	tm := twoTeams(t)
	ctx := context.Background()
	r, gs, _ := setupIn(t, tm.a, map[string]*string{
		"rbac.yaml":   str(clusterAdminBindingYAML),
		"topics.yaml": str(topicYAML("orders", "checkout")),
	})
	got := waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if c := readyCondition(g); c.Reason != gitops.ReasonApplyFailed {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	c := readyCondition(got)
	for _, want := range []string{"nothing applied", "rbac.yaml", "RoleBinding/take-over", "forbidden",
		"system:serviceaccount:" + tm.a + ":infraplane-gitops", "applies as ServiceAccount " + tm.a + "/infraplane-gitops"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Ready message does not mention %q: %s", want, c.Message)
		}
	}
	if got.Status.LastAppliedRevision != "" || len(r.hashes) != 1 {
		t.Errorf("applied: %q", got.Status.LastAppliedRevision)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: tm.a, Name: "take-over"}, &rbacv1.RoleBinding{}); !apierrors.IsNotFound(err) {
		t.Errorf("the RoleBinding exists (err %v)", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: tm.a, Name: "orders"}, &pubsubv1.Topic{}); !apierrors.IsNotFound(err) {
		t.Errorf("the commit's topic was applied although the commit was refused (err %v)", err)
	}
	tm.unchangedB(t)
	noMentionOf(t, got, tm.b, "team-b-secret-token")
}

// A repository holding a GitSource that targets team-b (and would read
// team-b's credentials Secret): the syncer's role has no GitSources, and
// no GitSource outside the platform namespace may target another
// namespace anyway.
func TestTenancyNestedGitSourceTargetingAnotherTeamRefused(t *testing.T) {
	tm := twoTeams(t)
	ctx := context.Background()
	nested := fmt.Sprintf(`apiVersion: infraplane.dev/v1alpha1
kind: GitSource
metadata:
  name: into-b
spec:
  url: %s
  targetNamespace: %s
  secretRef: {name: %s}
`, tm.repoB.bare, tm.b, tm.secretB)
	_, gs, _ := setupIn(t, tm.a, map[string]*string{"nested.yaml": str(nested)})
	got := waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if c := readyCondition(g); c.Reason != gitops.ReasonApplyFailed {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	if c := readyCondition(got); !strings.Contains(c.Message, "nested.yaml") || !strings.Contains(c.Message, "forbidden") {
		t.Errorf("Ready: %s", c.Message)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: tm.a, Name: "into-b"}, &corev1alpha1.GitSource{}); !apierrors.IsNotFound(err) {
		t.Errorf("the nested GitSource exists (err %v)", err)
	}

	// Even the platform team cannot make a team's GitSource target another
	// namespace: only the platform namespace's may.
	direct := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "into-b", Namespace: tm.a},
		Spec:       corev1alpha1.GitSourceSpec{URL: tm.repoB.bare, TargetNamespace: tm.b},
	}
	env.CreateRefused(t, direct, fmt.Sprintf(`spec.targetNamespace %q: a GitSource applies only to its own namespace %q`, tm.b, tm.a), "platform namespace")
	tm.unchangedB(t)
	noMentionOf(t, got, "team-b-secret-token")
}

// team-a's editor may ask for a sync of team-a's GitSource, and nothing
// more: repointing it at their own server (which would receive the
// credentials), retargeting it, or lifting the prune guard to wipe the
// team's resources are the platform team's.
func TestTenancyEditorCannotRepointGitSource(t *testing.T) {
	tm := twoTeams(t)
	ctx := context.Background()
	_, gs, _ := setupIn(t, tm.a, map[string]*string{"topics.yaml": str(topicYAML("orders", "checkout"))})
	waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if g.Status.LastAppliedRevision == "" {
			return fmt.Errorf("not applied yet")
		}
		return nil
	})
	for name, mutate := range map[string]func(*corev1alpha1.GitSource){
		"spec.url":             func(g *corev1alpha1.GitSource) { g.Spec.URL = "https://evil.example.com/steal.git" },
		"spec.targetNamespace": func(g *corev1alpha1.GitSource) { g.Spec.TargetNamespace = tm.a },
		"spec.maxPrunePercent": func(g *corev1alpha1.GitSource) { g.Spec.MaxPrunePercent = 100 },
		"spec.secretRef":       func(g *corev1alpha1.GitSource) { g.Spec.SecretRef = &corev1alpha1.LocalObjectReference{Name: "other"} },
		"spec.serviceAccountName": func(g *corev1alpha1.GitSource) {
			g.Spec.ServiceAccountName = "default"
		},
		"metadata.labels": func(g *corev1alpha1.GitSource) { g.Labels = map[string]string{"x": "y"} },
	} {
		cur := &corev1alpha1.GitSource{}
		if err := tm.editorA.Get(ctx, client.ObjectKeyFromObject(gs), cur); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(cur.DeepCopy())
		mutate(cur)
		err := tm.editorA.Patch(ctx, cur, patch)
		if err == nil {
			t.Errorf("%s: the editor's change was accepted", name)
			continue
		}
		for _, want := range []string{"you may request a sync", "infraplane sync infra", "platform team's", "refused change of " + name} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: refusal does not mention %q: %v", name, want, err)
			}
		}
	}
	after := &corev1alpha1.GitSource{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(gs), after); err != nil {
		t.Fatal(err)
	}
	if after.Spec.URL != gs.Spec.URL || after.Spec.MaxPrunePercent != 25 || after.Spec.SecretRef != nil || after.Spec.ServiceAccountName != "" {
		t.Errorf("the GitSource changed: %+v", after.Spec)
	}

	// What the editor may do: request a sync (and it runs).
	stamp, err := gitops.RequestSync(ctx, tm.editorA, client.ObjectKeyFromObject(gs), false)
	if err != nil {
		t.Fatalf("the editor's sync request was refused: %v", err)
	}
	waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if g.Status.LastHandledRequest != stamp {
			return fmt.Errorf("sync request not handled")
		}
		return nil
	})
	tm.unchangedB(t)
}

// team-a's editor is bound in team-a only: team-b's Secret, GitSource and
// objects are out of reach, and so is opening a break-glass (on-call's).
func TestTenancyEditorStaysInOwnNamespace(t *testing.T) {
	tm := twoTeams(t)
	ctx := context.Background()
	denied := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: want forbidden, got %v", what, err)
		}
	}
	denied("read team-b's credentials Secret", tm.editorA.Get(ctx, client.ObjectKey{Namespace: tm.b, Name: tm.secretB}, &corev1.Secret{}))
	denied("list team-b's topics", tm.editorA.List(ctx, &pubsubv1.TopicList{}, client.InNamespace(tm.b)))
	_, err := gitops.RequestSync(ctx, tm.editorA, client.ObjectKeyFromObject(tm.sourceB), false)
	denied("request a sync of team-b's GitSource", err)
	denied("create a topic in team-b", tm.editorA.Create(ctx, &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: tm.b}}))
	denied("read Secrets of its own namespace", tm.editorA.Get(ctx, client.ObjectKey{Namespace: tm.a, Name: "anything"}, &corev1.Secret{}))
	bg := &corev1alpha1.BreakGlass{
		ObjectMeta: metav1.ObjectMeta{Name: "inc", Namespace: tm.a},
		Spec: corev1alpha1.BreakGlassSpec{Targets: []corev1alpha1.BreakGlassTarget{{Kind: "Topic", Name: "orders"}},
			Reason: "not on call", Duration: metav1.Duration{Duration: time.Hour}},
	}
	denied("open a break-glass as an editor", tm.editorA.Create(ctx, bg))
	// What the editor may do in its own namespace: write managed objects.
	topic := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "scratch", Namespace: tm.a}}
	if err := tm.editorA.Create(ctx, topic); err != nil {
		t.Errorf("the editor cannot create a topic in its own namespace: %v", err)
	}
	tm.unchangedB(t)
}

// A GitSource applies as a ServiceAccount that must exist in its own
// namespace; without one nothing is fetched or applied.
func TestTenancyGitSourceWithoutServiceAccountRefused(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-bare-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
	r := newRepo(t)
	r.push("first", map[string]*string{"topics.yaml": str(topicYAML("orders", "checkout"))})
	gs := &corev1alpha1.GitSource{ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: ns.Name},
		Spec: corev1alpha1.GitSourceSpec{URL: r.bare, Interval: metav1.Duration{Duration: time.Hour}}}
	env.Create(t, gs)
	got := waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if c := readyCondition(g); c.Reason != gitops.ReasonNotAuthorized {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	c := readyCondition(got)
	for _, want := range []string{"nothing applied", "ServiceAccount " + ns.Name + "/infraplane-gitops", "does not exist", "infraplane tenant create " + ns.Name} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Ready message does not mention %q: %s", want, c.Message)
		}
	}
	if got.Status.LastAttemptedRevision != "" {
		t.Errorf("fetched anyway: %s", got.Status.LastAttemptedRevision)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "orders"}, &pubsubv1.Topic{}); !apierrors.IsNotFound(err) {
		t.Errorf("applied anyway (err %v)", err)
	}
}

// A person running as the syncer's ServiceAccount (a Pod with its token)
// is not the syncer: only the controller's impersonation carries the
// GitSource extra, so the guard still refuses the direct edit.
func TestTenancyServiceAccountTokenIsNotTheSyncer(t *testing.T) {
	tm := twoTeams(t)
	ctx := context.Background()
	r, gs, _ := setupIn(t, tm.a, map[string]*string{"topics.yaml": str(topicYAML("orders", "checkout"))})
	waitSource(t, gs, appliedRevision(r.hashes[0]))
	asSA := env.Person(t, gitops.ServiceAccountUser(tm.a, gitops.DefaultServiceAccount), "system:serviceaccounts", "system:serviceaccounts:"+tm.a)
	topic := &pubsubv1.Topic{}
	if err := asSA.Get(ctx, client.ObjectKey{Namespace: tm.a, Name: "orders"}, topic); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Labels = map[string]commonv1.LabelValue{"team": "hijacked"}
	err := asSA.Patch(ctx, topic, patch)
	if err == nil || !strings.Contains(err.Error(), "is managed by git") {
		t.Fatalf("a direct edit with the syncer's ServiceAccount was not refused as such: %v", err)
	}
}

// Deleting a GitSource releases its objects: they stay, no longer
// labelled, and people may edit them again; the ledger says so.
func TestTenancyDeletedGitSourceReleasesObjects(t *testing.T) {
	tm := twoTeams(t)
	ctx := context.Background()
	r, gs, _ := setupIn(t, tm.a, map[string]*string{"topics.yaml": str(topicYAML("orders", "checkout"))})
	waitSource(t, gs, appliedRevision(r.hashes[0]))
	topic := &pubsubv1.Topic{}
	edit := func() error {
		if err := tm.editorA.Get(ctx, client.ObjectKey{Namespace: tm.a, Name: "orders"}, topic); err != nil {
			return err
		}
		patch := client.MergeFrom(topic.DeepCopy())
		topic.Spec.Labels = map[string]commonv1.LabelValue{"team": "by-hand"}
		return tm.editorA.Patch(ctx, topic, patch)
	}
	if err := edit(); err == nil || !strings.Contains(err.Error(), "is managed by git") {
		t.Fatalf("an edit of a git-managed topic was not refused: %v", err)
	}
	if err := env.Client.Delete(ctx, gs); err != nil {
		t.Fatal(err)
	}
	env.WaitGone(t, gs)
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: tm.a, Name: "orders"}, topic); err != nil {
		t.Fatalf("the topic went with its GitSource: %v", err)
	}
	if l, ok := topic.Labels[corev1alpha1.SourceLabel]; ok {
		t.Errorf("still labelled %s", l)
	}
	if err := edit(); err != nil {
		t.Errorf("a released topic refuses edits: %v", err)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		entries, err := ledger.Read(env.LedgerPath(), ledger.Filter{Type: ledger.TypeSync, Object: "GitSource " + tm.a + "/infra"})
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Object == "GitSource "+tm.a+"/infra" && strings.Contains(e.Summary, "released") && len(e.Objects) == 1 && e.Objects[0] == "released Topic/"+tm.a+"/orders" {
				return nil
			}
		}
		return fmt.Errorf("no release in the ledger")
	})
}

// An object whose GitSource is gone without releasing it (its finalizer
// removed by hand) is not guarded in that GitSource's name.
func TestTenancyObjectOfMissingGitSourceNotGuarded(t *testing.T) {
	tm := twoTeams(t)
	ctx := context.Background()
	orphan := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: tm.a,
		Labels: map[string]string{corev1alpha1.SourceLabel: tm.a + ".gone"}}}
	env.Create(t, orphan)
	patch := client.MergeFrom(orphan.DeepCopy())
	orphan.Spec.Labels = map[string]commonv1.LabelValue{"team": "by-hand"}
	if err := tm.editorA.Patch(ctx, orphan, patch); err != nil {
		t.Errorf("an object of a GitSource that does not exist refuses edits: %v", err)
	}
}

// The reference check matches a reference's API group as well as its
// kind: an RBAC roleRef is not a reference to a PostgreSQL Role.
func TestTenancyRoleRefIsNotAPostgresRoleReference(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("rbac.authorization.k8s.io/v1")
	u.SetKind("RoleBinding")
	u.SetName("b")
	u.Object["roleRef"] = map[string]any{"kind": "Role", "name": "missing"}
	ps := gitops.Check([]gitops.Object{{Unstructured: u}}, gitops.CheckOptions{RefKinds: []string{"Role", "Topic"}})
	if len(ps) != 0 {
		t.Errorf("problems: %v", ps)
	}
}

// setupIn is setup in a given namespace.
func setupIn(t *testing.T, ns string, files map[string]*string) (*repo, *corev1alpha1.GitSource, string) {
	t.Helper()
	r := newRepo(t)
	r.push("first", files)
	gs := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: ns},
		Spec:       corev1alpha1.GitSourceSpec{URL: r.bare, Interval: metav1.Duration{Duration: time.Hour}},
	}
	env.Create(t, gs)
	return r, gs, ns
}
