package gitops_test

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// gitHTTPServer serves the bare repositories under root over smart HTTP
// (git http-backend behind net/http/cgi), behind basic auth.
func gitHTTPServer(t *testing.T, root, user, password string) *httptest.Server {
	t.Helper()
	gitBin := cloudtest.RequireTool(t, "git")
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A repository over HTTPS-style smart HTTP with credentials from a Secret:
// without them the source says it cannot fetch; with them it applies.
func TestFetchOverHTTPWithCredentials(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		cloudtest.Unavailable(t, "git binary needed for the HTTP git server: %v", err)
	}
	ctx := context.Background()
	cloud := cloudtest.Fakes(t)
	ns := env.Namespace(t, env.ProviderConfig(t, "gitops-fakes", cloud))
	r := newRepo(t)
	h := r.push("over http", map[string]*string{"orders.yaml": str(topicYAML("orders", "http"))})
	srv := gitHTTPServer(t, filepath.Dir(r.bare), "ci", "s3cret")

	gs := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "remote", Namespace: ns},
		Spec: corev1alpha1.GitSourceSpec{
			URL:       srv.URL + "/" + filepath.Base(r.bare),
			SecretRef: &corev1alpha1.LocalObjectReference{Name: "git-credentials"},
		},
	}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if c := readyCondition(g); c.Reason != gitops.ReasonFetchFailed || !strings.Contains(c.Message, "git-credentials") {
			return errorf("want FetchFailed naming the missing Secret, got %+v", c)
		}
		return nil
	})

	if err := env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "git-credentials", Namespace: ns},
		StringData: map[string]string{"username": "ci", "password": "wrong"},
	}); err != nil {
		t.Fatal(err)
	}
	got := syncNow(t, gs, false)
	if c := readyCondition(got); c.Reason != gitops.ReasonFetchFailed || !strings.Contains(strings.ToLower(c.Message), "auth") {
		t.Errorf("wrong password: want an authentication failure, got %+v", c)
	}

	sec := &corev1.Secret{}
	if err := env.Client.Get(ctx, clientKey(ns, "git-credentials"), sec); err != nil {
		t.Fatal(err)
	}
	sec.Data = map[string][]byte{"username": []byte("ci"), "password": []byte("s3cret")}
	if err := env.Client.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	syncNow(t, gs, false)
	waitSource(t, gs, appliedRevision(h))
}
