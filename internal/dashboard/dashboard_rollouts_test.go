package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/testenv"
)

// haltedBlueprint makes a Blueprint whose rollout status the test writes.
// Its kind's CRD exists already and is no Blueprint's, so the Blueprint
// controller refuses to take it over and stops before the rollout: what
// the test writes to status.rollout stays.
func haltedBlueprint(t *testing.T, name, group string, write func(*corev1alpha1.BlueprintStatus)) {
	t.Helper()
	env.Create(t, &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1alpha1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true)}}}},
		},
	})
	// The Blueprint controller would let viewers read its kind's
	// instances (a role aggregated to infraplane-viewer); here the CRD is
	// not the Blueprint's, so the test does.
	env.Create(t, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets." + group + "-viewer", Labels: map[string]string{"infraplane.dev/aggregate-to-viewer": "true"}},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{group}, Resources: []string{"widgets"}, Verbs: []string{"get", "list", "watch"}}},
	})
	tmpl := `{"apiVersion": "pubsub.infraplane.dev/v1alpha1", "kind": "Topic", "metadata": {"name": "${metadata.name}"}}`
	bp := &corev1alpha1.Blueprint{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1alpha1.BlueprintSpec{
			Group: group, Version: "v1alpha1", Kind: "Widget",
			Schema:    runtime.RawExtension{Raw: []byte(`{"type": "object"}`)},
			Resources: []corev1alpha1.BlueprintResource{{ID: "topic", Template: runtime.RawExtension{Raw: []byte(tmpl)}}},
			Rollout: &corev1alpha1.BlueprintRollout{Canary: ptr.To[int32](2), BatchSize: ptr.To(intstr.FromString("50%")),
				ProgressDeadline: &metav1.Duration{Duration: 15 * time.Minute}},
		},
	}
	env.Create(t, bp)
	settleThenWriteStatus(t, bp, func() error {
		c := meta.FindStatusCondition(bp.Status.Conditions, corev1alpha1.BlueprintReady)
		if c == nil || c.Reason != "CRDRejected" || bp.Status.ObservedGeneration != bp.Generation {
			return fmt.Errorf("Blueprint %s not refused yet: %+v", name, bp.Status.Conditions)
		}
		return nil
	}, func() { write(&bp.Status) })
}

// The rollout pages show instances per revision, the stage and the
// failures; a person who may read Blueprints but only some namespaces
// sees the failures in those and how many were left out, and a person
// who may not list Blueprints is told so.
func TestRolloutPages(t *testing.T) {
	kube, teamA, teamB, suffix := twoTeams(t, "ro")
	bpName := "widget-" + suffix
	started := metav1.NewTime(time.Now().Add(-3 * time.Minute).Truncate(time.Second))
	haltedBlueprint(t, bpName, "dash"+suffix+".example.com", func(s *corev1alpha1.BlueprintStatus) {
		s.LatestRevision, s.StableRevision = 2, 1
		s.Instances, s.ReadyInstances = 5, 3
		s.Revisions = []corev1alpha1.RevisionCount{{Revision: 1, Instances: 2, Ready: 2}, {Revision: 2, Instances: 3, Ready: 1}}
		s.Rollout = &corev1alpha1.RolloutStatus{
			Revision: 2, Phase: corev1alpha1.RolloutHalted, StageStartedAt: &started, Updated: 3, Total: 5,
			Message: fmt.Sprintf("halted: 2 instance(s) failed on revision 2 (%s/bravo-queue: bravo's quota exceeded); 2 instance(s) stay on older revisions until the failure clears, the Blueprint changes or the instances recover", teamB),
			Failed: []corev1alpha1.InstanceFailure{
				{Namespace: teamA, Name: "alpha-queue", Message: "alpha's topic refused: retention too long"},
				{Namespace: teamB, Name: "bravo-queue", Message: "bravo's quota exceeded"},
			},
		}
	})

	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	page := "/rollouts/" + bpName

	t.Run("admin sees every failure", func(t *testing.T) {
		b := &browser{t: t, base: srv.URL}
		if code, _ := b.get("/login?token=" + adminToken); code != http.StatusSeeOther {
			t.Fatalf("admin login: %d", code)
		}
		code, body := b.get("/rollouts")
		if code != http.StatusOK {
			t.Fatalf("/rollouts: %d\n%s", code, body)
		}
		for _, want := range []string{`href="` + page + `"`, "Halted", "3 of 5 instance(s) on revision 2",
			`<progress max="5" value="3"`, "Revision 1 (stable)", "Revision 2 (latest)", "3 instance(s), 1 ready",
			teamA + "/alpha-queue", "alpha&#39;s topic refused", teamB + "/bravo-queue", "bravo&#39;s quota exceeded", "halted: 2 instance(s) failed",
			`href="/o/` + teamA + `/widget.dash` + suffix + `.example.com/alpha-queue"`} {
			if !strings.Contains(body, want) {
				t.Errorf("/rollouts lacks %q", want)
			}
		}
		if strings.Contains(body, "you may not read") {
			t.Error("the admin is told of failures left out")
		}
		code, body = b.get(page)
		if code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", page, code, body)
		}
		for _, want := range []string{"Halted", "latest 2, stable 1", "Canary: 2 instance(s) first", "Batches: 50% of the instances at a time",
			"Progress deadline: 15m0s", "Stage started", started.UTC().Format("2006-01-02 15:04:05 UTC"),
			teamA + "/alpha-queue", teamB + "/bravo-queue", "infraplane fleet rollback " + bpName} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", page, want)
			}
		}
		code, body = b.get("/")
		if code != http.StatusOK || !strings.Contains(body, `href="`+page+`"`) {
			t.Errorf("overview: %d, no link to %s", code, page)
		}
	})

	// A person of team-a who may also read Blueprints (cluster-wide, as a
	// ClusterRole allows) but no namespace besides team-a's.
	reader := viewerToken(t, kube, teamA, "bp-reader")
	role := "dash-blueprint-reader-" + suffix
	env.Create(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{corev1alpha1.GroupVersion.Group}, Resources: []string{"blueprints"}, Verbs: []string{"get", "list", "watch"}}}})
	env.Create(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: teamA, Name: "bp-reader"}}})
	viewer := viewerToken(t, kube, teamA, "viewer")
	login := func(t *testing.T, token string) *browser {
		b := &browser{t: t, base: srv.URL}
		b.loginEventually(token)
		return b
	}

	t.Run("a team-a person who may read Blueprints sees team-a's failures only", func(t *testing.T) {
		b := login(t, reader)
		for _, p := range []string{"/rollouts", page, "/"} {
			var code int
			var body string
			// The ClusterRoleBinding may take a moment to apply.
			testenv.Eventually(t, 10*time.Second, func() error {
				code, body = b.get(p)
				if !strings.Contains(body, "alpha-queue") {
					return fmt.Errorf("%s: %d, no alpha-queue\n%s", p, code, body)
				}
				return nil
			})
			if code != http.StatusOK || !strings.Contains(body, teamA+"/alpha-queue") || !strings.Contains(body, "alpha&#39;s topic refused") {
				t.Errorf("%s: %d, want team-a's failure\n%s", p, code, body)
			}
			for _, leak := range []string{teamB, "bravo"} {
				if strings.Contains(body, leak) {
					t.Errorf("%s shows %q to a %s person", p, leak, teamA)
				}
			}
			if !strings.Contains(body, "and 1 in namespaces you may not read") && !strings.Contains(body, "and 1 failed in namespaces you may not read") {
				t.Errorf("%s does not say a failure was left out\n%s", p, body)
			}
		}
		_, body := b.get("/rollouts")
		if !strings.Contains(body, "names instances in namespaces you may not read") || !strings.Contains(body, "3 of 5 instance(s) on revision 2") {
			t.Errorf("/rollouts: want the message withheld and the counts shown\n%s", body)
		}
	})

	t.Run("a person who may not list Blueprints is told so", func(t *testing.T) {
		b := login(t, viewer)
		code, body := b.get("/rollouts")
		if code != http.StatusOK || !strings.Contains(body, "You may not list Blueprints") {
			t.Errorf("/rollouts: %d, want the message\n%s", code, body)
		}
		if strings.Contains(body, bpName) || strings.Contains(body, "alpha-queue") {
			t.Errorf("/rollouts shows a Blueprint to a person who may not list them\n%s", body)
		}
		code, body = b.get(page)
		if code != http.StatusForbidden || !strings.Contains(body, "You may not read Blueprints") || strings.Contains(body, "alpha-queue") {
			t.Errorf("%s: %d, want 403 with the message\n%s", page, code, body)
		}
	})

	t.Run("live update", func(t *testing.T) {
		b := login(t, reader)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/live?kind=Blueprint", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Cookie", dashboard.CookieName+"="+b.cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/live?kind=Blueprint: %d", resp.StatusCode)
		}
		lines := bufio.NewScanner(resp.Body)
		if !lines.Scan() {
			t.Fatal("the stream ended at once")
		}
		got := make(chan struct{}, 1)
		go func() {
			for lines.Scan() {
				if strings.HasPrefix(lines.Text(), "event: change") {
					got <- struct{}{}
					return
				}
			}
		}()
		bp := &corev1alpha1.Blueprint{ObjectMeta: metav1.ObjectMeta{Name: bpName}}
		for i := 0; ; i++ {
			testenv.Update(t, env, bp, func(b *corev1alpha1.Blueprint) {
				if b.Labels == nil {
					b.Labels = map[string]string{}
				}
				b.Labels["dashboard-test"] = fmt.Sprint(i)
			})
			select {
			case <-got:
				return
			case <-time.After(3 * time.Second):
			case <-ctx.Done():
				t.Fatal("no change event for a Blueprint")
			}
		}
	})
}
