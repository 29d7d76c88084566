package backport_test

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infraplane/infraplane/internal/backport"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// A remote over smart HTTP behind basic auth (git http-backend): without
// credentials the backport fails saying so and pushes nothing; with them
// the branch lands on the remote.
func TestBackportRemoteWithCredentials(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		cloudtest.Unavailable(t, "git binary needed for the HTTP git server: %v", err)
	}
	repo := bareRepo(t, map[string]string{"pubsub/subscriptions.yaml": subscriptions})
	git(t, repo, "config", "http.receivepack", "true")
	mainBefore := git(t, repo, "rev-parse", "refs/heads/main")
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "oncall" || p != "t0ken" {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/" + filepath.Base(repo)

	opts := options(url, "pubsub")
	_, err = backport.Backport(context.Background(), opts, []backport.Change{raiseDeadline})
	if err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("without credentials: %v", err)
	}
	opts.Credentials = &gitops.Credentials{Username: "oncall", Password: "t0ken"}
	res, err := backport.Backport(context.Background(), opts, []backport.Change{raiseDeadline})
	if err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	checkBranch(t, repo, "breakglass/orders", mainBefore, res)
	if got := show(t, repo, res.Commit, "pubsub/subscriptions.yaml"); !strings.Contains(got, "ackDeadlineSeconds: 60") {
		t.Errorf("pushed file:\n%s", got)
	}
}
