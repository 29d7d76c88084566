package gitops_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

// A push on team-a's own path, with team-a's token, syncs team-a's
// GitSource and no other; each credential kind works there.
func TestPushHookPathTriggersOnlyItsSource(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	b := newHookTenant(t, "team-b-infra")
	url, _ := pathHookServer(t, gitops.HookOptions{})
	pathA := a.hookPath(t)
	if pathA == b.hookPath(t) {
		t.Fatalf("two GitSources share the path %s", pathA)
	}
	if strings.Contains(pathA, a.ns) || strings.Contains(pathA, a.gs.Name) || strings.Contains(pathA, a.token) {
		t.Errorf("the path %s shows the names or the token", pathA)
	}
	beforeB := hookSnapshot(t, b.gs)

	body := githubPush(a.repo)
	for what, h := range map[string]map[string]string{
		"signed": hookSigned(a.token, body),
		"gitlab": {"X-Gitlab-Token": a.token},
		"bearer": {"Authorization": "Bearer " + a.token},
	} {
		was := hookRequestedAt(t, a.gs)
		got := hookPost(t, url+pathA, body, h)
		if tr := got.triggered(t); got.status != http.StatusOK || !reflect.DeepEqual(tr, []string{a.key()}) {
			t.Errorf("%s: %d %q, want 200 and [%s]", what, got.status, got.body, a.key())
		}
		if hookRequestedAt(t, a.gs) == was {
			t.Errorf("%s: team-a's GitSource was not asked to sync", what)
		}
	}
	// A payload naming another repository syncs nothing, as on /hooks/git.
	other := githubPush(b.repo)
	if got := hookPost(t, url+pathA, other, hookSigned(a.token, other)); got.status != http.StatusOK || len(got.triggered(t)) != 0 {
		t.Errorf("payload of team-b's repository: %d %q, want 200 and []", got.status, got.body)
	}
	hookUntouched(t, beforeB, b.gs)
}

// Team-b's token on team-a's path (signature, GitLab token, bearer) is
// refused with the fixed text, and no GitSource is asked to sync.
func TestPushHookPathRefusesAnotherTeamsToken(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	b := newHookTenant(t, "team-b-infra")
	// 12 refusals on one path: above its default burst of 10.
	url, _ := pathHookServer(t, gitops.HookOptions{SourceBurst: 20})
	pathA := a.hookPath(t)
	before := hookSnapshot(t, a.gs, b.gs)

	for _, body := range []string{githubPush(a.repo), githubPush(b.repo), ""} {
		for what, h := range map[string]map[string]string{
			"signed": hookSigned(b.token, body),
			"gitlab": {"X-Gitlab-Token": b.token},
			"bearer": {"Authorization": "Bearer " + b.token},
			"none":   nil,
		} {
			got := hookPost(t, url+pathA, body, h)
			hookRefused(t, "team-b's "+what+" on team-a's path", got, a, b)
			if got.body != hookUnauthenticated+"\n" {
				t.Errorf("%s: refusal %q, want the fixed text", what, got.body)
			}
		}
	}
	hookUntouched(t, before, a.gs, b.gs)
}

// hookUnauthenticated is the fixed text of every 401.
const hookUnauthenticated = "unauthenticated: sign the body (X-Hub-Signature-256) or send X-Gitlab-Token or Authorization: Bearer, with the token of a GitSource's webhookSecretRef"

// A path no GitSource has is answered 404 without reading a Secret or the
// body (a body above the cap is not even noticed), whatever credentials
// the request carries; nothing is triggered.
func TestPushHookUnknownPathReadsNoSecret(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	url, secretGets := pathHookServer(t, gitops.HookOptions{})
	pathA := a.hookPath(t)
	before := hookSnapshot(t, a.gs)

	flipped := []byte(pathA)
	if flipped[len(flipped)-1] == '0' {
		flipped[len(flipped)-1] = '1'
	} else {
		flipped[len(flipped)-1] = '0'
	}
	big := `{"pad":"` + strings.Repeat("x", 2<<20) + `"}`
	unknown := map[string]string{
		"made up":                 gitops.HookPathPrefix + strings.Repeat("ab", 32),
		"one character off":       string(flipped),
		"the names' path, no key": gitops.HookPath(a.ns, a.gs.Name, nil),
		"hex of upper case":       gitops.HookPathPrefix + strings.ToUpper(strings.TrimPrefix(pathA, gitops.HookPathPrefix)),
		"too short":               pathA[:len(pathA)-1],
		"too long":                pathA + "0",
		"below a path":            pathA + "/x",
		"not hex":                 gitops.HookPathPrefix + strings.Repeat("zz", 32),
		"empty id":                gitops.HookPathPrefix,
	}
	for what, p := range unknown {
		for _, body := range []string{githubPush(a.repo), big} {
			got := hookPost(t, url+p, body, hookSigned(a.token, body))
			if got.status != http.StatusNotFound {
				t.Errorf("%s (%d-byte body): %d %q, want 404", what, len(body), got.status, got.body)
			}
			if strings.Contains(got.body, a.ns) || strings.Contains(got.body, a.gs.Name) {
				t.Errorf("%s: the 404 names the GitSource: %q", what, got.body)
			}
		}
	}
	if n := secretGets.Load(); n != 0 {
		t.Errorf("unknown paths read %d Secrets, want none", n)
	}
	hookUntouched(t, before, a.gs)

	// The counter counts: a known path reads its one Secret.
	body := githubPush(a.repo)
	if got := hookPost(t, url+pathA, body, hookSigned(a.token, body)); got.status != http.StatusOK {
		t.Fatalf("known path: %d %q", got.status, got.body)
	}
	if n := secretGets.Load(); n != 1 {
		t.Errorf("a known path read %d Secrets, want 1", n)
	}
}

// Rotating the token gives a new path: the old one is then unknown (404,
// even with the new token), and the new one wants the new token.
func TestPushHookPathChangesWithToken(t *testing.T) {
	a := newHookTenant(t, "team-a-infra")
	url, _ := pathHookServer(t, gitops.HookOptions{})
	oldPath := a.hookPath(t)
	if want := gitops.HookPath(a.ns, a.gs.Name, []byte(a.token)); oldPath != want {
		t.Fatalf("status.webhookPath %s, want HookPath() %s", oldPath, want)
	}

	oldToken := a.token
	a.token = "rotated-" + oldToken
	sec := &corev1.Secret{}
	key := client.ObjectKey{Namespace: a.ns, Name: a.gs.Spec.WebhookSecretRef.Name}
	if err := env.Client.Get(context.Background(), key, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data["token"] = []byte(a.token)
	if err := env.Client.Update(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	newPath := waitHookPath(t, a.gs, oldPath)
	if want := gitops.HookPath(a.ns, a.gs.Name, []byte(a.token)); newPath != want {
		t.Fatalf("status.webhookPath %s after the rotation, want %s", newPath, want)
	}
	before := hookSnapshot(t, a.gs)

	body := githubPush(a.repo)
	for what, tok := range map[string]string{"old token": oldToken, "new token": a.token} {
		if got := hookPost(t, url+oldPath, body, hookSigned(tok, body)); got.status != http.StatusNotFound {
			t.Errorf("old path, %s: %d %q, want 404", what, got.status, got.body)
		}
	}
	hookRefused(t, "new path, old token", hookPost(t, url+newPath, body, hookSigned(oldToken, body)), a)
	hookUntouched(t, before, a.gs)
	if got := hookPost(t, url+newPath, body, hookSigned(a.token, body)); got.status != http.StatusOK || !reflect.DeepEqual(got.triggered(t), []string{a.key()}) {
		t.Errorf("new path, new token: %d %q, want 200 and [%s]", got.status, got.body, a.key())
	}
}

// status.webhookPath is set only with a usable token; otherwise the
// PushHook condition says why (none at all without webhookSecretRef), and
// Ready is not affected. A Secret made later gives the path.
func TestPushHookPathStatus(t *testing.T) {
	source := func(name, ref string) *corev1alpha1.GitSource {
		_, gs, _ := setup(t, map[string]*string{"orders.yaml": str(topicYAML("orders", name))}, func(g *corev1alpha1.GitSource) {
			g.Name = name
			if ref != "" {
				g.Spec.WebhookSecretRef = &corev1alpha1.LocalObjectReference{Name: ref}
			}
		})
		return gs
	}
	noRef := source("no-ref", "")
	missing := source("missing-secret", "later")
	noKey := source("no-token-key", "hook")
	hookSecret(t, noKey.Namespace, "hook", map[string][]byte{"other": []byte(strings.Repeat("x", 40))})
	short := source("short-token", "hook")
	hookSecret(t, short.Namespace, "hook", map[string][]byte{"token": []byte("hunter2\n")})

	cases := []struct {
		gs     *corev1alpha1.GitSource
		reason string
		says   []string
	}{
		{noRef, "", nil},
		{missing, gitops.ReasonSecretNotFound, []string{`Secret "later"`, "does not exist", missing.Namespace}},
		{noKey, gitops.ReasonTokenMissing, []string{`Secret "hook"`, `no key "token"`}},
		{short, gitops.ReasonTokenTooShort, []string{"7 characters", "fewer than 16", "/hooks/git still accepts it"}},
	}
	for _, c := range cases {
		got := waitSource(t, c.gs, func(g *corev1alpha1.GitSource) error {
			if readyCondition(g).Status != metav1.ConditionTrue {
				return errorf("Ready: %+v", readyCondition(g))
			}
			// The Secret is made after the GitSource: a first pass may
			// have found none.
			if hc := meta.FindStatusCondition(g.Status.Conditions, gitops.TypePushHook); c.reason != "" && (hc == nil || hc.Reason != c.reason) {
				return errorf("PushHook: %+v, want reason %s", hc, c.reason)
			}
			return nil
		})
		if got.Status.WebhookPath != "" {
			t.Errorf("%s: status.webhookPath %q, want none", got.Name, got.Status.WebhookPath)
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, gitops.TypePushHook)
		if c.reason == "" {
			if cond != nil {
				t.Errorf("%s: PushHook condition %+v without webhookSecretRef, want none", got.Name, cond)
			}
			continue
		}
		if cond.Status != metav1.ConditionFalse || cond.Reason != c.reason {
			t.Errorf("%s: PushHook %s/%s, want False/%s", got.Name, cond.Status, cond.Reason, c.reason)
		}
		for _, s := range c.says {
			if !strings.Contains(cond.Message, s) {
				t.Errorf("%s: PushHook message %q does not say %q", got.Name, cond.Message, s)
			}
		}
	}

	// The missing Secret appears: the path follows without a sync request.
	token := []byte(strings.Repeat("k", 32))
	hookSecret(t, missing.Namespace, "later", map[string][]byte{"token": token})
	path := waitHookPath(t, missing, "")
	if want := gitops.HookPath(missing.Namespace, missing.Name, token); path != want {
		t.Errorf("status.webhookPath %s, want %s", path, want)
	}
	got := waitSource(t, missing, func(g *corev1alpha1.GitSource) error {
		if c := meta.FindStatusCondition(g.Status.Conditions, gitops.TypePushHook); c == nil || c.Status != metav1.ConditionTrue {
			return errorf("PushHook: %+v", c)
		}
		return nil
	})
	cond := meta.FindStatusCondition(got.Status.Conditions, gitops.TypePushHook)
	if cond.Reason != gitops.ReasonHookPathReady || !strings.Contains(cond.Message, path) {
		t.Errorf("PushHook %s %q, want %s naming %s", cond.Reason, cond.Message, gitops.ReasonHookPathReady, path)
	}
}
