package dashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/dashboard"
)

// openBreakGlass creates a break-glass on one Topic as the admin, waits
// until the controller has opened it, then writes status as given (the
// status subresource, as the admin): the controller acts on spec and
// annotation changes only, so what the test writes stays.
func openBreakGlass(t *testing.T, ns, name, topicName, reason, incident string, write func(*corev1alpha1.BreakGlassStatus)) {
	t.Helper()
	bg := &corev1alpha1.BreakGlass{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1alpha1.BreakGlassSpec{
			Targets:  []corev1alpha1.BreakGlassTarget{{Kind: "Topic", Name: topicName}},
			Reason:   reason,
			Incident: incident,
			Duration: metav1.Duration{Duration: 8 * time.Hour},
		},
	}
	env.Create(t, bg)
	settleThenWriteStatus(t, bg, func() error {
		if bg.Status.Phase != corev1alpha1.BreakGlassActive || bg.Status.ObservedGeneration != bg.Generation {
			return fmt.Errorf("break-glass %s not opened yet: %+v", name, bg.Status)
		}
		return nil
	}, func() { write(&bg.Status) })
}

// The break-glass pages show a team its windows — who, why, the time
// left, and after the window the git / object / cloud comparison per
// object in words — and nothing of another team's.
func TestBreakGlassPages(t *testing.T) {
	kube, teamA, teamB, _ := twoTeams(t, "bg")
	env.Create(t, topic(teamA, "orders"))
	env.Create(t, topic(teamA, "payments"))
	env.Create(t, topic(teamB, "ledger"))

	openBreakGlass(t, teamA, "hotfix-open", "orders", "raise the ack deadline during INC-7 backlog", "INC-7", func(s *corev1alpha1.BreakGlassStatus) {
		s.OpenedBy = "alice@example.com"
	})
	openBreakGlass(t, teamA, "hotfix-ended", "payments", "retention bumped for the replay of INC-6", "INC-6", func(s *corev1alpha1.BreakGlassStatus) {
		ended := metav1.NewTime(time.Now().Add(-10 * time.Minute).Truncate(time.Second))
		s.Phase = corev1alpha1.BreakGlassClosed
		s.OpenedBy = "bob@example.com"
		s.EndedAt = &ended
		s.ClosedBy = "carol@example.com"
		s.Targets = []corev1alpha1.BreakGlassTargetStatus{{
			APIVersion: "pubsub.infraplane.dev/v1alpha1", Kind: "Topic", Name: "payments",
			Source: teamA + ".apps", State: corev1alpha1.TargetHeld, Revision: "0123456789abcdef",
			Fields: []corev1alpha1.DivergedField{
				{Path: "spec.messageRetentionDuration", Git: `"600s"`, Object: `"1200s"`, Cloud: `"1800s"`},
				{Path: "spec.labels.tier", Git: `"gold"`, Object: `"silver"`, Cloud: `"silver"`},
			},
			Message: "differs from git (0123456): held; backport the change or revert",
		}}
		s.Held = []string{"Topic/payments"}
	})
	openBreakGlass(t, teamB, "bravo-window", "ledger", "bravo's secret incident reason", "INC-BRAVO", func(s *corev1alpha1.BreakGlassStatus) {
		s.OpenedBy = "mallory@example.com"
	})

	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ended := "/breakglass/" + teamA + "/hotfix-ended"

	t.Run("admin", func(t *testing.T) {
		b := &browser{t: t, base: srv.URL}
		if code, _ := b.get("/login?token=" + adminToken); code != http.StatusSeeOther {
			t.Fatalf("admin login: %d", code)
		}
		code, body := b.get("/breakglass")
		if code != http.StatusOK {
			t.Fatalf("/breakglass: %d\n%s", code, body)
		}
		for _, want := range []string{teamA + "/hotfix-open", teamA + "/hotfix-ended", teamB + "/bravo-window", "alice@example.com", "INC-7",
			`class="countdown"`, "carol@example.com", "Closed", "Topic/payments"} {
			if !strings.Contains(body, want) {
				t.Errorf("/breakglass lacks %q", want)
			}
		}
		if i, j := strings.Index(body, "hotfix-open"), strings.Index(body, "hotfix-ended"); i < 0 || j < i {
			t.Error("/breakglass: the open window is not listed before the ended one")
		}

		code, body = b.get(ended)
		if code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", ended, code, body)
		}
		// The comparison, with each difference said in words, and what
		// to do next.
		for _, want := range []string{"spec.messageRetentionDuration", "600s", "1200s", "1800s", "all three differ",
			"spec.labels.tier", "gold", "silver", "object and cloud differ from git",
			"Held", "The object differs from git", "backport the change or revert",
			"infraplane breakglass backport hotfix-ended -n " + teamA, "infraplane breakglass revert hotfix-ended -n " + teamA,
			"closed by carol@example.com", "bob@example.com", "INC-6",
			`href="/o/` + teamA + `/topic.pubsub.infraplane.dev/payments"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", ended, want)
			}
		}

		code, body = b.get("/breakglass/" + teamA + "/hotfix-open")
		if code != http.StatusOK {
			t.Fatalf("open window: %d\n%s", code, body)
		}
		for _, want := range []string{"Time left", `class="countdown"`, "alice@example.com", "raise the ack deadline", "INC-7", "Topic/orders", "Open"} {
			if !strings.Contains(body, want) {
				t.Errorf("the open window's page lacks %q", want)
			}
		}

		// The overview's windows link to their pages.
		code, body = b.get("/")
		if code != http.StatusOK || !strings.Contains(body, `href="/breakglass/`+teamA+`/hotfix-open"`) {
			t.Errorf("overview: %d, no link to the open window's page", code)
		}
	})

	t.Run("team-a viewer", func(t *testing.T) {
		token := viewerToken(t, kube, teamA, "viewer")
		b := &browser{t: t, base: srv.URL}
		b.loginEventually(token)
		code, body := b.get("/breakglass")
		if code != http.StatusOK || !strings.Contains(body, "hotfix-open") || !strings.Contains(body, "hotfix-ended") {
			t.Errorf("/breakglass as a %s viewer: %d, want both of its windows\n%s", teamA, code, body)
		}
		for _, leak := range []string{teamB, "bravo", "mallory", "INC-BRAVO"} {
			if strings.Contains(body, leak) {
				t.Errorf("/breakglass as a %s viewer shows %q", teamA, leak)
			}
		}
		code, body = b.get(ended)
		if code != http.StatusOK || !strings.Contains(body, "all three differ") || !strings.Contains(body, "1800s") {
			t.Errorf("%s as a %s viewer: %d, want the comparison", ended, teamA, code)
		}
		// Another team's window and a missing one get the same answer.
		codeB, bodyB := b.get("/breakglass/" + teamB + "/bravo-window")
		codeM, bodyM := b.get("/breakglass/" + teamA + "/no-such-window")
		if codeB != http.StatusNotFound || codeM != http.StatusNotFound {
			t.Errorf("another team's window: %d, a missing one: %d; want 404 for both", codeB, codeM)
		}
		if strings.ReplaceAll(bodyB, teamB+"/bravo-window", "X") != strings.ReplaceAll(bodyM, teamA+"/no-such-window", "X") {
			t.Errorf("another team's window and a missing one answer differently:\n%s\n---\n%s", bodyB, bodyM)
		}
		if strings.Contains(bodyB, "secret incident") || strings.Contains(bodyB, "mallory") {
			t.Errorf("the 404 shows the window:\n%s", bodyB)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/live?kind=BreakGlass&ns="+teamB, nil)
		req.Header.Set("Accept", "text/event-stream")
		if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("live updates of %s's break-glasses as a %s viewer: %d, want 403", teamB, teamA, resp.StatusCode)
		}
		// The live update's fragment is the main region only.
		req, _ = http.NewRequest(http.MethodGet, srv.URL+"/breakglass", nil)
		req.Header.Set("X-Fragment", "1")
		if resp, body := b.do(req); resp.StatusCode != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, "hotfix-open") {
			t.Errorf("fragment of /breakglass: %d\n%s", resp.StatusCode, body)
		}
	})
}
