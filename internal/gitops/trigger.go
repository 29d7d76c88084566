package gitops

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// HookTokenKey is the key of a GitSource's webhook Secret
// (spec.webhookSecretRef) that holds the push hook's shared token.
const HookTokenKey = "token"

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

// HookOptions configure WebhookHandler.
type HookOptions struct {
	// Rate is how many requests per second the endpoint accepts, from all
	// callers together, before it answers 429: anyone who reaches the port
	// can send requests, and checking signatures costs CPU. 0 means 10;
	// rate.Inf disables the limit.
	Rate rate.Limit
	// Burst is how many requests may arrive at once above Rate; 0 means 20.
	Burst int
	// MaxBody is the largest body accepted (413 beyond); 0 means 1 MiB.
	MaxBody int64
	// Log records failures; the zero Logger discards them.
	Log logr.Logger
}

// hookUnauthenticated is the whole answer to a request no GitSource
// accepts: it names no GitSource and counts none.
const hookUnauthenticated = "unauthenticated: sign the body (X-Hub-Signature-256) or send X-Gitlab-Token or Authorization: Bearer, with the token of a GitSource's webhookSecretRef"

// WebhookHandler serves POST /hooks/git: a git host (or a CI job) calls it
// after a push, and the GitSources it authenticates for sync at once.
//
// A request authenticates for a GitSource whose spec.webhookSecretRef
// names a Secret (in the GitSource's namespace) with a non-empty key
// "token", by any of: GitHub's X-Hub-Signature-256 ("sha256=" and the hex
// HMAC-SHA256 of the raw body keyed with the token), GitLab's
// X-Gitlab-Token, or "Authorization: Bearer <token>". A GitSource without
// one is never triggered. Of those it authenticates for, the request syncs
// the ones whose URL matches the payload's repository (GitHub, GitLab and
// Gitea shapes, or {"url": …}); a body naming no repository syncs them all.
//
// Answers: 200 and {"triggered": ["namespace/name", …]} (only GitSources the
// request authenticated for); 401 with a fixed body when it authenticated
// for none; 405 for a method other than POST; 413 for a body above
// MaxBody; 429 above the rate limit (nothing is read or checked then).
func WebhookHandler(c client.Client, opts HookOptions) http.Handler {
	if opts.Rate == 0 {
		opts.Rate = 10
	}
	if opts.Burst == 0 {
		opts.Burst = 20
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = 1 << 20
	}
	limiter := rate.NewLimiter(opts.Rate, opts.Burst)
	log := opts.Log
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if !limiter.Allow() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, opts.MaxBody))
		if err != nil {
			if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
				http.Error(w, fmt.Sprintf("body larger than %d bytes", opts.MaxBody), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "reading the body failed", http.StatusBadRequest)
			return
		}
		creds := hookCredentialsOf(r.Header)
		if creds.empty() {
			w.Header().Set("WWW-Authenticate", `Bearer realm="infraplane"`)
			http.Error(w, hookUnauthenticated, http.StatusUnauthorized)
			return
		}
		ctx := r.Context()
		var list corev1alpha1.GitSourceList
		if err := c.List(ctx, &list); err != nil {
			log.Error(err, "listing GitSources")
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		// One check per Secret: GitSources may share one.
		checked := map[client.ObjectKey]bool{}
		var mine []*corev1alpha1.GitSource
		for i := range list.Items {
			gs := &list.Items[i]
			ref := gs.Spec.WebhookSecretRef
			if ref == nil || ref.Name == "" {
				continue
			}
			key := client.ObjectKey{Namespace: gs.Namespace, Name: ref.Name}
			ok, seen := checked[key]
			if !seen {
				ok = creds.authenticate(hookToken(ctx, c, key, log), body)
				checked[key] = ok
			}
			if ok {
				mine = append(mine, gs)
			}
		}
		if len(mine) == 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="infraplane"`)
			http.Error(w, hookUnauthenticated, http.StatusUnauthorized)
			return
		}
		repo := repositoryOf(body)
		answer := struct {
			Triggered []string `json:"triggered"`
			Failed    []string `json:"failed,omitempty"`
		}{Triggered: []string{}}
		for _, gs := range mine {
			if repo != "" && !sameRepo(gs.Spec.URL, repo) {
				continue
			}
			key := client.ObjectKeyFromObject(gs)
			if _, err := RequestSync(ctx, c, key, false); err != nil {
				log.Error(err, "requesting a sync from the push hook", "gitsource", key)
				answer.Failed = append(answer.Failed, key.String())
				continue
			}
			answer.Triggered = append(answer.Triggered, key.String())
		}
		w.Header().Set("Content-Type", "application/json")
		if len(answer.Failed) > 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_ = json.NewEncoder(w).Encode(answer)
	})
}

// hookCredentials are what a push request presents.
type hookCredentials struct {
	signature []byte   // X-Hub-Signature-256, decoded; nil without one
	tokens    []string // X-Gitlab-Token and the bearer token
}

func hookCredentialsOf(h http.Header) hookCredentials {
	var c hookCredentials
	if v, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256="); ok {
		if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
			c.signature = sig
		}
	}
	if v := h.Get("X-Gitlab-Token"); v != "" {
		c.tokens = append(c.tokens, v)
	}
	if scheme, v, ok := strings.Cut(h.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		if v = strings.TrimSpace(v); v != "" {
			c.tokens = append(c.tokens, v)
		}
	}
	return c
}

func (c hookCredentials) empty() bool { return c.signature == nil && len(c.tokens) == 0 }

// authenticate tells whether the credentials prove knowledge of token (an
// empty token proves nothing). The comparisons take the same time wherever
// the inputs differ: tokens are compared as SHA-256 digests, so not even
// their lengths leak.
func (c hookCredentials) authenticate(token, body []byte) bool {
	if len(token) == 0 {
		return false
	}
	if c.signature != nil {
		mac := hmac.New(sha256.New, token)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), c.signature) {
			return true
		}
	}
	want := sha256.Sum256(token)
	for _, t := range c.tokens {
		got := sha256.Sum256([]byte(t))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			return true
		}
	}
	return false
}

// The push hook reads GitSources and their webhook Secrets (in the
// GitSources' namespaces) through the cache, and patches the sync
// annotation (RequestSync, also used by break-glass).
//
// +kubebuilder:rbac:groups=infraplane.dev,resources=gitsources,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// hookToken reads the key "token" of a webhook Secret (surrounding
// whitespace, such as the newline of `echo`, is not part of it); nil when
// the Secret or the key is missing.
func hookToken(ctx context.Context, c client.Client, key client.ObjectKey, log logr.Logger) []byte {
	var sec corev1.Secret
	if err := c.Get(ctx, key, &sec); err != nil {
		if !apierrors.IsNotFound(err) {
			log.Error(err, "reading a webhook Secret", "secret", key)
		}
		return nil
	}
	return bytes.TrimSpace(sec.Data[HookTokenKey])
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
