package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// RequestSync asks for an immediate sync of one GitSource by setting its
// requested-at annotation; with confirm, it also confirms pruning for the
// revision the source last attempted. It returns the request value, which
// status.lastHandledRequest shows once the sync ran.
func RequestSync(ctx context.Context, c client.Client, key client.ObjectKey, confirm bool) (string, error) {
	gs := &corev1alpha1.GitSource{}
	if err := c.Get(ctx, key, gs); err != nil {
		return "", err
	}
	patch := client.MergeFrom(gs.DeepCopy())
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	if gs.Annotations == nil {
		gs.Annotations = map[string]string{}
	}
	gs.Annotations[corev1alpha1.RequestSyncAnnotation] = stamp
	if confirm {
		rev := gs.Status.LastAttemptedRevision
		_, hash, ok := strings.Cut(rev, "@sha1:")
		if !ok || hash == "" {
			return "", fmt.Errorf("GitSource %s has not attempted a revision yet: nothing to confirm", key)
		}
		gs.Annotations[corev1alpha1.ConfirmPruneAnnotation] = hash
	}
	return stamp, c.Patch(ctx, gs, patch)
}

// WebhookHandler serves POST /hooks/git: a git host (or a CI job) calls it
// after a push, and every GitSource whose URL matches the payload's
// repository syncs at once. An empty body (or one naming no repository)
// syncs every GitSource.
func WebhookHandler(c client.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		repo := repositoryOf(body)
		var list corev1alpha1.GitSourceList
		if err := c.List(r.Context(), &list); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var triggered []string
		for _, gs := range list.Items {
			if repo != "" && !sameRepo(gs.Spec.URL, repo) {
				continue
			}
			if _, err := RequestSync(r.Context(), c, client.ObjectKeyFromObject(&gs), false); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			triggered = append(triggered, gs.Namespace+"/"+gs.Name)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"triggered": triggered})
	})
}

// repositoryOf finds the repository URL in a push payload: {"url": …},
// or the repository object of GitHub/GitLab/Gitea payloads.
func repositoryOf(body []byte) string {
	var p struct {
		URL        string `json:"url"`
		Repository struct {
			CloneURL string `json:"clone_url"`
			HTTPURL  string `json:"git_http_url"`
			SSHURL   string `json:"ssh_url"`
			HTMLURL  string `json:"html_url"`
		} `json:"repository"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	for _, u := range []string{p.URL, p.Repository.CloneURL, p.Repository.HTTPURL, p.Repository.SSHURL, p.Repository.HTMLURL} {
		if u != "" {
			return u
		}
	}
	return ""
}

// sameRepo compares repository URLs loosely: scheme, user, ".git" suffix
// and trailing slashes do not matter.
func sameRepo(a, b string) bool {
	norm := func(u string) string {
		u = strings.ToLower(strings.TrimSpace(u))
		if i := strings.Index(u, "://"); i >= 0 {
			u = u[i+3:]
		}
		if i := strings.Index(u, "@"); i >= 0 {
			u = u[i+1:]
		}
		u = strings.Replace(u, ":", "/", 1)
		u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
		return u
	}
	return norm(a) == norm(b)
}
