package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/testenv"
)

// A Blueprint's kind whose viewer role is missing leaves its instances
// out of a team member's pages, and the pages say so; the rest of the
// namespace is shown (it used to be an error page for the whole overview).
func TestUnlistedKind(t *testing.T) {
	kube, err := kubernetes.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	team := "unl-" + suffix
	env.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}})
	env.Create(t, topic(team, "alpha-orders"))
	group := "unl" + suffix + ".example.com"
	haltedBlueprint(t, "gadget-"+suffix, group, func(*corev1alpha1.BlueprintStatus) {})
	// Without the role that lets viewers read the kind's instances.
	if err := kube.RbacV1().ClusterRoles().Delete(context.Background(), "widgets."+group+"-viewer", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	token := viewerToken(t, kube, team, "viewer")

	h, err := dashboard.New(dashboard.Options{Config: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	b := &browser{t: t, base: srv.URL}
	b.loginEventually(token)
	note := "Not shown: widgets." + group
	// The aggregated viewer role loses the kind's rules a moment later.
	testenv.Eventually(t, 30*time.Second, func() error {
		code, body := b.get("/")
		if code != http.StatusOK || !strings.Contains(body, note) || !strings.Contains(body, `id="ns-`+team+`"`) {
			return fmt.Errorf("overview: %d, note %v", code, strings.Contains(body, note))
		}
		return nil
	})
	code, body := b.get("/ns/" + team)
	if code != http.StatusOK || !strings.Contains(body, note) || !strings.Contains(body, "alpha-orders") {
		t.Errorf("namespace page: %d, note %v, topic %v", code, strings.Contains(body, note), strings.Contains(body, "alpha-orders"))
	}
}
