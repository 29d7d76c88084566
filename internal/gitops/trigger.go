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
	"strconv"
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
	// Rate is how many requests per second the shared endpoint (POST
	// /hooks/git) accepts, from all callers together, before it answers
	// 429: anyone who reaches the port can send requests there, and each
	// costs one signature check per webhook Secret. 0 means 10; rate.Inf
	// disables the limit.
	Rate rate.Limit
	// Burst is how many requests may arrive at once above Rate; 0 means 20.
	Burst int
	// SourceRate and SourceBurst limit each GitSource's own path (per
	// path): only those who know a path can spend its budget. 0 means 1/s
	// and 10.
	SourceRate  rate.Limit
	SourceBurst int
	// FailureRate and FailureBurst limit, from all callers together, the
	// answers to requests for a path no GitSource has (429 beyond). They
	// share no budget with the paths that exist. 0 means 10/s and 20.
	FailureRate  rate.Limit
	FailureBurst int
	// MaxBody is the largest body accepted (413 beyond); 0 means 1 MiB.
	MaxBody int64
	// Log records failures; the zero Logger discards them.
	Log logr.Logger
}

func (o *HookOptions) defaults() {
	if o.Rate == 0 {
		o.Rate = 10
	}
	if o.Burst == 0 {
		o.Burst = 20
	}
	if o.SourceRate == 0 {
		o.SourceRate = 1
	}
	if o.SourceBurst == 0 {
		o.SourceBurst = 10
	}
	if o.FailureRate == 0 {
		o.FailureRate = 10
	}
	if o.FailureBurst == 0 {
		o.FailureBurst = 20
	}
	if o.MaxBody == 0 {
		o.MaxBody = 1 << 20
	}
}

// hookUnauthenticated is the whole answer to a request no GitSource
// accepts: it names no GitSource and counts none.
const hookUnauthenticated = "unauthenticated: sign the body (X-Hub-Signature-256) or send X-Gitlab-Token or Authorization: Bearer, with the token of a GitSource's webhookSecretRef"

// hook serves both endpoints; each has its own limiters.
type hook struct {
	c        client.Client
	opts     HookOptions
	log      logr.Logger
	shared   *rate.Limiter // POST /hooks/git, before any check
	failures *rate.Limiter // paths no GitSource has
	sources  *pathLimiters // one per GitSource path
}

// WebhookHandler serves the push hook: a git host (or a CI job) calls it
// after a push, and the GitSources it authenticates for sync at once.
//
// POST /hooks/git/<id> (a GitSource's status.webhookPath, see HookPath) is
// for one GitSource: only its Secret is read and checked, and a path no
// GitSource has is answered 404 before the body is read (sourceHook).
// Any other path is the shared endpoint, POST /hooks/git, which checks the
// request against every GitSource's Secret (sharedHook). c must read
// GitSources through a cache indexed with IndexHookPaths.
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
// for none; 404 for a GitSource path that does not exist; 405 for a method
// other than POST; 413 for a body above MaxBody; 429 above a rate limit
// (nothing is read or checked then).
func WebhookHandler(c client.Client, opts HookOptions) http.Handler {
	opts.defaults()
	h := &hook{
		c: c, opts: opts, log: opts.Log,
		shared:   rate.NewLimiter(opts.Rate, opts.Burst),
		failures: rate.NewLimiter(opts.FailureRate, opts.FailureBurst),
		sources:  newPathLimiters(opts.SourceRate, opts.SourceBurst),
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &codeRecorder{ResponseWriter: rw, code: http.StatusOK}
		endpoint := "shared"
		if strings.HasPrefix(r.URL.Path, HookPathPrefix) {
			endpoint = "source"
		}
		defer func() { hookRequests.WithLabelValues(endpoint, strconv.Itoa(w.code)).Inc() }()
		if r.Method != http.MethodPost {
			closeIfUnread(w, r)
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if endpoint == "source" {
			h.sourceHook(w, r)
			return
		}
		h.sharedHook(w, r)
	})
}

// sharedHook serves POST /hooks/git: one check per webhook Secret of the
// cluster. Its limiter stays in front of everything: without it, anyone
// could make the controller hash 1 MiB once per Secret per request. The
// price is that anyone can also use the whole budget up (429 for every
// team on this endpoint; syncs then wait for the interval): GitSource
// paths do not share it.
func (h *hook) sharedHook(w http.ResponseWriter, r *http.Request) {
	if !h.shared.Allow() {
		tooMany(w, r)
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	creds := hookCredentialsOf(r.Header)
	if creds.empty() {
		unauthenticated(w)
		return
	}
	ctx := r.Context()
	var list corev1alpha1.GitSourceList
	if err := h.c.List(ctx, &list); err != nil {
		h.log.Error(err, "listing GitSources")
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
			ok = creds.authenticate(hookToken(ctx, h.c, key, h.log), body)
			checked[key] = ok
		}
		if ok {
			mine = append(mine, gs)
		}
	}
	if len(mine) == 0 {
		unauthenticated(w)
		return
	}
	h.trigger(w, r, mine, body)
}

// readBody reads the body up to MaxBody; it has answered when !ok.
func (h *hook) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	tooBig := func() {
		http.Error(w, fmt.Sprintf("body larger than %d bytes", h.opts.MaxBody), http.StatusRequestEntityTooLarge)
	}
	if r.ContentLength > h.opts.MaxBody {
		closeIfUnread(w, r)
		tooBig() // said so up front: nothing to read
		return nil, false
	}
	// The server's own writer: through it, MaxBytesReader tells the server
	// to close the connection after a body above the cap.
	sw := w
	if c, ok := w.(*codeRecorder); ok {
		sw = c.ResponseWriter
	}
	body, err := io.ReadAll(http.MaxBytesReader(sw, r.Body, h.opts.MaxBody))
	if err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			tooBig()
			return nil, false
		}
		http.Error(w, "reading the body failed", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// trigger syncs those of the authenticated GitSources whose URL matches
// the payload's repository, and answers which.
func (h *hook) trigger(w http.ResponseWriter, r *http.Request, mine []*corev1alpha1.GitSource, body []byte) {
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
		if _, err := RequestSync(r.Context(), h.c, key, false); err != nil {
			h.log.Error(err, "requesting a sync from the push hook", "gitsource", key)
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
}

func tooMany(w http.ResponseWriter, r *http.Request) {
	closeIfUnread(w, r)
	w.Header().Set("Retry-After", "1")
	http.Error(w, "too many requests", http.StatusTooManyRequests)
}

// codeRecorder remembers the status code of the answer, for the metric.
type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// closeIfUnread is for answers given without reading the body: with a
// large one, closing the connection spares the server reading (up to
// 256 KiB of) it to keep the connection; a small one is kept.
func closeIfUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength < 0 || r.ContentLength > 4<<10 {
		w.Header().Set("Connection", "close")
	}
}

func unauthenticated(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="infraplane"`)
	http.Error(w, hookUnauthenticated, http.StatusUnauthorized)
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

// hookToken reads the key "token" of a webhook Secret; nil when the
// Secret or the key is missing.
func hookToken(ctx context.Context, c client.Reader, key client.ObjectKey, log logr.Logger) []byte {
	var sec corev1.Secret
	if err := c.Get(ctx, key, &sec); err != nil {
		if !apierrors.IsNotFound(err) {
			log.Error(err, "reading a webhook Secret", "secret", key)
		}
		return nil
	}
	return hookTokenOf(&sec)
}

// hookTokenOf is a webhook Secret's token: surrounding whitespace, such as
// the newline of `echo`, is not part of it.
func hookTokenOf(sec *corev1.Secret) []byte {
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
