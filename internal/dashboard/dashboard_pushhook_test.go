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
	"github.com/infraplane/infraplane/internal/testenv"
)

// A GitSource that asks for a push hook whose Secret is missing is
// flagged on its namespace's page, and its own page says it has none.
func TestPushHookProblemShown(t *testing.T) {
	_, teamA, _, _ := twoTeams(t, "hook")
	env.Create(t, &corev1alpha1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "infra"},
		Spec: corev1alpha1.GitSourceSpec{URL: "https://git.example/infra", Interval: metav1.Duration{Duration: time.Hour},
			WebhookSecretRef: &corev1alpha1.LocalObjectReference{Name: "infra-hook"}}})

	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	b := &browser{t: t, base: srv.URL}
	if code, _ := b.get("/login?token=" + adminToken); code != http.StatusSeeOther {
		t.Fatalf("admin login link: %d", code)
	}
	want := `No push hook (SecretNotFound): no push hook: Secret &#34;infra-hook&#34; (spec.webhookSecretRef) does not exist in namespace ` + teamA
	testenv.Eventually(t, 30*time.Second, func() error {
		if code, body := b.get("/ns/" + teamA); code != http.StatusOK || !strings.Contains(body, want) {
			return fmt.Errorf("namespace page: %d, lacks %q:\n%s", code, want, body)
		}
		return nil
	})
	code, body := b.get("/o/" + teamA + "/gitsource.infraplane.dev/infra")
	if code != http.StatusOK || !strings.Contains(body, "<dt>Push hook</dt><dd>none: SecretNotFound</dd>") {
		t.Errorf("GitSource page: %d, lacks the push hook's absence:\n%s", code, body)
	}
}
