package gitops_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

// hookTenant is one team's GitSource, on its own repository and namespace,
// with the Secret that authenticates its push hook.
type hookTenant struct {
	repo  *repo
	gs    *corev1alpha1.GitSource
	ns    string
	token string
}

// key is how the hook names the tenant's GitSource.
func (tn *hookTenant) key() string { return tn.ns + "/" + tn.gs.Name }

// newHookTenant is setup() with a GitSource called name whose
// webhookSecretRef names a Secret with a token of its own (namespaces of
// earlier tests may still exist, with GitSources of the same name).
func newHookTenant(t *testing.T, name string) *hookTenant {
	t.Helper()
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	token := "token-of-" + name + "-" + hex.EncodeToString(raw)
	r, gs, ns := setup(t, map[string]*string{"orders.yaml": str(topicYAML("orders", name))},
		func(g *corev1alpha1.GitSource) {
			g.Name = name
			g.Spec.WebhookSecretRef = &corev1alpha1.LocalObjectReference{Name: name + "-hook"}
		})
	hookSecret(t, ns, name+"-hook", map[string][]byte{"token": []byte(token)})
	return &hookTenant{repo: r, gs: gs, ns: ns, token: token}
}

func hookSecret(t *testing.T, ns, name string, data map[string][]byte) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
	if err := env.Client.Create(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
}

// hookServer serves the push hook with the test's admin client.
func hookServer(t *testing.T, opts gitops.HookOptions) string {
	t.Helper()
	srv := httptest.NewServer(gitops.WebhookHandler(env.Client, opts))
	t.Cleanup(srv.Close)
	return srv.URL
}

type hookAnswer struct {
	status int
	header http.Header
	body   string
}

// triggered is the list a 200 answer names.
func (a hookAnswer) triggered(t *testing.T) []string {
	t.Helper()
	var v struct {
		Triggered []string `json:"triggered"`
	}
	if err := json.Unmarshal([]byte(a.body), &v); err != nil {
		t.Fatalf("answer %q: %v", a.body, err)
	}
	return v.Triggered
}

func hookCall(t testing.TB, method, url, body string, header map[string]string) hookAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return hookAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func hookPost(t testing.TB, url, body string, header map[string]string) hookAnswer {
	t.Helper()
	return hookCall(t, http.MethodPost, url, body, header)
}

// githubPush is the part of a GitHub push payload the hook reads.
func githubPush(r *repo) string {
	b, _ := json.Marshal(map[string]any{
		"ref":        "refs/heads/main",
		"repository": map[string]string{"clone_url": "file://" + r.bare, "html_url": "file://" + r.bare},
	})
	return string(b)
}

// gitlabPush is the part of a GitLab push payload the hook reads.
func gitlabPush(r *repo) string {
	b, _ := json.Marshal(map[string]any{
		"object_kind": "push",
		"ref":         "refs/heads/main",
		"repository":  map[string]string{"git_http_url": "file://" + r.bare},
	})
	return string(b)
}

// githubSignature is X-Hub-Signature-256 as GitHub computes it.
func githubSignature(token, body string) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func hookSigned(token, body string) map[string]string {
	return map[string]string{"X-Hub-Signature-256": githubSignature(token, body), "X-GitHub-Event": "push"}
}

// requestedAt reads a GitSource's requested-at annotation.
func hookRequestedAt(t *testing.T, gs *corev1alpha1.GitSource) string {
	t.Helper()
	cur := &corev1alpha1.GitSource{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), cur); err != nil {
		t.Fatal(err)
	}
	return cur.Annotations[corev1alpha1.RequestSyncAnnotation]
}

// snapshot records the requested-at annotations of the GitSources.
func hookSnapshot(t *testing.T, sources ...*corev1alpha1.GitSource) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, gs := range sources {
		m[gs.Namespace+"/"+gs.Name] = hookRequestedAt(t, gs)
	}
	return m
}

// untouched fails when a GitSource's requested-at annotation changed
// since the snapshot: the hook triggered it.
func hookUntouched(t *testing.T, before map[string]string, sources ...*corev1alpha1.GitSource) {
	t.Helper()
	for _, gs := range sources {
		key := gs.Namespace + "/" + gs.Name
		if got := hookRequestedAt(t, gs); got != before[key] {
			t.Errorf("%s was triggered: requested-at %q, was %q", key, got, before[key])
		}
	}
}

// refused checks a 401 that names nothing.
func hookRefused(t *testing.T, what string, a hookAnswer, tenants ...*hookTenant) {
	t.Helper()
	if a.status != http.StatusUnauthorized {
		t.Errorf("%s: %d %q, want 401", what, a.status, a.body)
	}
	for _, tn := range tenants {
		for _, s := range []string{tn.ns, tn.gs.Name} {
			if strings.Contains(a.body, s) {
				t.Errorf("%s: the refusal names %q: %q", what, s, a.body)
			}
		}
	}
}

// Without credentials, a push naming team-b's repository (or no
// repository, which used to sync everything) triggers nothing and learns
// nothing: every refusal is the same fixed text.
func TestPushHookUnauthenticatedRefused(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	b := newHookTenant(t, "team-b-infra")
	url := hookServer(t, gitops.HookOptions{})
	before := hookSnapshot(t, a.gs, b.gs)

	noCreds := hookPost(t, url, githubPush(b.repo), nil)
	hookRefused(t, "no credentials", noCreds, a, b)
	hookRefused(t, "no credentials, empty body", hookPost(t, url, "", nil), a, b)
	hookRefused(t, "no credentials, {}", hookPost(t, url, "{}", nil), a, b)
	hookRefused(t, "empty bearer", hookPost(t, url, githubPush(b.repo), map[string]string{"Authorization": "Bearer "}), a, b)
	hookRefused(t, "basic auth", hookPost(t, url, githubPush(b.repo), map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("team-b:"+b.token))}), a, b)
	guessed := hookPost(t, url, githubPush(b.repo), map[string]string{"X-Gitlab-Token": "guess"})
	hookRefused(t, "guessed token", guessed, a, b)
	if guessed.body != noCreds.body {
		t.Errorf("refusals differ (they must reveal nothing): %q vs %q", guessed.body, noCreds.body)
	}
	if noCreds.header.Get("Content-Type") == "application/json" {
		t.Errorf("a refusal is not a JSON list: %q", noCreds.body)
	}
	hookUntouched(t, before, a.gs, b.gs)
}

// A signature with the wrong key, one computed over another body (a
// replayed signature on an edited payload), a malformed one and GitHub's
// legacy SHA-1 signature are all refused.
func TestPushHookWrongSignatureRefused(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	b := newHookTenant(t, "team-b-infra")
	url := hookServer(t, gitops.HookOptions{})
	before := hookSnapshot(t, a.gs, b.gs)
	body := githubPush(a.repo)

	hookRefused(t, "wrong key", hookPost(t, url, body, hookSigned("not-the-token", body)), a, b)
	hookRefused(t, "another body's signature", hookPost(t, url, body, hookSigned(a.token, githubPush(b.repo))), a, b)
	hookRefused(t, "no sha256= prefix", hookPost(t, url, body, map[string]string{
		"X-Hub-Signature-256": strings.TrimPrefix(githubSignature(a.token, body), "sha256=")}), a, b)
	hookRefused(t, "not hex", hookPost(t, url, body, map[string]string{"X-Hub-Signature-256": "sha256=zz"}), a, b)
	hookRefused(t, "truncated", hookPost(t, url, body, map[string]string{
		"X-Hub-Signature-256": githubSignature(a.token, body)[:40]}), a, b)
	sha1mac := hmac.New(sha1.New, []byte(a.token))
	sha1mac.Write([]byte(body))
	hookRefused(t, "SHA-1 signature", hookPost(t, url, body, map[string]string{
		"X-Hub-Signature": "sha1=" + hex.EncodeToString(sha1mac.Sum(nil))}), a, b)
	hookUntouched(t, before, a.gs, b.gs)
}

// A push signed with team-a's token syncs team-a's GitSource, and only it:
// not team-b's, not even when the payload names team-b's repository.
func TestPushHookSignedSyncsOnlyItsSource(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	b := newHookTenant(t, "team-b-infra")
	url := hookServer(t, gitops.HookOptions{})
	waitSource(t, a.gs, appliedRevision(a.repo.hashes[0]))
	beforeB := hookSnapshot(t, b.gs)

	h2 := a.repo.push("team a changes", map[string]*string{"orders.yaml": str(topicYAML("orders", "a2"))})
	body := githubPush(a.repo)
	got := hookPost(t, url, body, hookSigned(a.token, body))
	if got.status != http.StatusOK {
		t.Fatalf("signed push: %d %q", got.status, got.body)
	}
	if tr := got.triggered(t); !reflect.DeepEqual(tr, []string{a.key()}) {
		t.Errorf("triggered %v, want [%s]", tr, a.key())
	}
	for _, s := range []string{b.ns, b.gs.Name} {
		if strings.Contains(got.body, s) {
			t.Errorf("the answer names team-b (%q): %q", s, got.body)
		}
	}
	stamp := hookRequestedAt(t, a.gs)
	if stamp == "" {
		t.Fatal("team-a's GitSource has no requested-at")
	}
	waitSource(t, a.gs, func(g *corev1alpha1.GitSource) error {
		if g.Status.LastHandledRequest != stamp {
			return errorf("request %s not handled yet (last %q)", stamp, g.Status.LastHandledRequest)
		}
		return appliedRevision(h2)(g)
	})
	hookUntouched(t, beforeB, b.gs)

	// team-a's token with team-b's repository: authenticated, but for
	// nothing that repository feeds.
	beforeA := hookSnapshot(t, a.gs)
	body = githubPush(b.repo)
	got = hookPost(t, url, body, hookSigned(a.token, body))
	if got.status != http.StatusOK || len(got.triggered(t)) != 0 {
		t.Errorf("team-a's token, team-b's repository: %d %q, want 200 and nothing triggered", got.status, got.body)
	}
	hookUntouched(t, beforeA, a.gs)
	hookUntouched(t, beforeB, b.gs)

	// A payload naming no repository syncs what the token authenticates
	// for: team-a's, still not team-b's.
	got = hookPost(t, url, "{}", hookSigned(a.token, "{}"))
	if tr := got.triggered(t); got.status != http.StatusOK || !reflect.DeepEqual(tr, []string{a.key()}) {
		t.Errorf("signed {}: %d %q, want 200 and [%s]", got.status, got.body, a.key())
	}
	hookUntouched(t, beforeB, b.gs)
}

// GitLab sends the token itself in X-Gitlab-Token: the right one syncs its
// GitSource, another team's token does not reach it, a wrong one is 401.
func TestPushHookGitLabToken(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	b := newHookTenant(t, "team-b-infra")
	url := hookServer(t, gitops.HookOptions{})
	before := hookSnapshot(t, a.gs, b.gs)
	body := gitlabPush(a.repo)

	hookRefused(t, "wrong token", hookPost(t, url, body, map[string]string{"X-Gitlab-Token": a.token[:len(a.token)-1]}), a, b)
	hookUntouched(t, before, a.gs, b.gs)

	got := hookPost(t, url, body, map[string]string{"X-Gitlab-Token": b.token, "X-Gitlab-Event": "Push Hook"})
	if got.status != http.StatusOK || len(got.triggered(t)) != 0 {
		t.Errorf("team-b's token, team-a's repository: %d %q, want 200 and nothing triggered", got.status, got.body)
	}
	hookUntouched(t, before, a.gs, b.gs)

	got = hookPost(t, url, body, map[string]string{"X-Gitlab-Token": a.token, "X-Gitlab-Event": "Push Hook"})
	if tr := got.triggered(t); got.status != http.StatusOK || !reflect.DeepEqual(tr, []string{a.key()}) {
		t.Fatalf("team-a's token: %d %q, want 200 and [%s]", got.status, got.body, a.key())
	}
	if hookRequestedAt(t, a.gs) == "" {
		t.Error("team-a's GitSource was not triggered")
	}
	hookUntouched(t, before, b.gs)
}

// A CI job sends "Authorization: Bearer <token>", often with no body.
func TestPushHookBearerToken(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	b := newHookTenant(t, "team-b-infra")
	url := hookServer(t, gitops.HookOptions{})
	before := hookSnapshot(t, a.gs, b.gs)

	hookRefused(t, "wrong token", hookPost(t, url, "", map[string]string{"Authorization": "Bearer " + a.token + "x"}), a, b)
	hookRefused(t, "token as another scheme", hookPost(t, url, "", map[string]string{"Authorization": "Token " + a.token}), a, b)
	hookUntouched(t, before, a.gs, b.gs)

	got := hookPost(t, url, "", map[string]string{"Authorization": "bearer " + a.token})
	if tr := got.triggered(t); got.status != http.StatusOK || !reflect.DeepEqual(tr, []string{a.key()}) {
		t.Fatalf("team-a's token: %d %q, want 200 and [%s]", got.status, got.body, a.key())
	}
	if hookRequestedAt(t, a.gs) == "" {
		t.Error("team-a's GitSource was not triggered")
	}
	hookUntouched(t, before, b.gs)
}

// Above the rate limit the hook answers 429 before it reads or checks
// anything: even a correctly signed push triggers nothing then.
func TestPushHookRateLimited(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	url := hookServer(t, gitops.HookOptions{Rate: rate.Every(time.Hour), Burst: 2})
	before := hookSnapshot(t, a.gs)
	body := githubPush(a.repo)

	for range 2 { // the burst: refused for want of credentials, not of rate
		hookRefused(t, "within the burst", hookPost(t, url, body, hookSigned("guess", body)), a)
	}
	for _, h := range []map[string]string{hookSigned(a.token, body), {"Authorization": "Bearer " + a.token}, nil} {
		got := hookPost(t, url, body, h)
		if got.status != http.StatusTooManyRequests {
			t.Errorf("beyond the limit: %d %q, want 429", got.status, got.body)
		}
		if got.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		if strings.Contains(got.body, a.ns) || strings.Contains(got.body, a.gs.Name) {
			t.Errorf("429 names the GitSource: %q", got.body)
		}
	}
	hookUntouched(t, before, a.gs)
}

// Only POST, and only a body up to the cap: a larger one is refused before
// any GitSource is looked at, even when correctly signed.
func TestPushHookMethodAndOversizeRefused(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	url := hookServer(t, gitops.HookOptions{})
	before := hookSnapshot(t, a.gs)

	for _, m := range []string{http.MethodGet, http.MethodPut} {
		if got := hookCall(t, m, url, "", map[string]string{"Authorization": "Bearer " + a.token}); got.status != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d %q, want 405", m, got.status, got.body)
		}
	}
	big := `{"url":"file://` + a.repo.bare + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	if got := hookPost(t, url, big, hookSigned(a.token, big)); got.status != http.StatusRequestEntityTooLarge {
		t.Errorf("body above 1 MiB: %d %q, want 413", got.status, got.body)
	}
	hookUntouched(t, before, a.gs)
}

// GitSources on team-a's repository that have no usable webhook Secret (no
// webhookSecretRef, a Secret that does not exist, one without a token, one
// whose token is blank) are never triggered by the hook, even by a request
// authenticated for team-a's GitSource on the same URL, nor by a signature
// keyed with the empty string.
func TestPushHookSourceWithoutSecretNeverTriggered(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	onSameRepo := func(name string, ref string) *corev1alpha1.GitSource {
		_, gs, _ := setup(t, nil, func(g *corev1alpha1.GitSource) {
			g.Name = name
			g.Spec.URL = a.repo.bare
			if ref != "" {
				g.Spec.WebhookSecretRef = &corev1alpha1.LocalObjectReference{Name: ref}
			}
		})
		return gs
	}
	noRef := onSameRepo("no-ref", "")
	missing := onSameRepo("missing-secret", "does-not-exist")
	noKey := onSameRepo("no-token-key", "hook")
	hookSecret(t, noKey.Namespace, "hook", map[string][]byte{"other": []byte(a.token)})
	blank := onSameRepo("blank-token", "hook")
	hookSecret(t, blank.Namespace, "hook", map[string][]byte{"token": []byte(" \n")})
	others := []*corev1alpha1.GitSource{noRef, missing, noKey, blank}
	url := hookServer(t, gitops.HookOptions{})
	before := hookSnapshot(t, others...)

	body := githubPush(a.repo)
	for what, h := range map[string]map[string]string{
		"signed":  hookSigned(a.token, body),
		"gitlab":  {"X-Gitlab-Token": a.token},
		"bearer":  {"Authorization": "Bearer " + a.token},
		"no repo": hookSigned(a.token, ""),
	} {
		b := body
		if what == "no repo" {
			b = ""
		}
		got := hookPost(t, url, b, h)
		if tr := got.triggered(t); got.status != http.StatusOK || !reflect.DeepEqual(tr, []string{a.key()}) {
			t.Errorf("%s: %d %q, want 200 and [%s]", what, got.status, got.body, a.key())
		}
	}
	if got := hookPost(t, url, body, hookSigned("", body)); got.status != http.StatusUnauthorized {
		t.Errorf("signature keyed with the empty string: %d %q, want 401", got.status, got.body)
	}
	if got := hookPost(t, url, body, map[string]string{"X-Gitlab-Token": " "}); got.status != http.StatusUnauthorized {
		t.Errorf("blank GitLab token: %d %q, want 401", got.status, got.body)
	}
	hookUntouched(t, before, others...)
}
