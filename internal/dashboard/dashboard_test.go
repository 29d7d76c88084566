package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, testenv.Options{})) }

const adminToken = "local-admin-token-for-tests-0123456789abcdef"

// browser is a client that keeps the session cookie itself: the cookie
// is Secure, which Go's cookie jar does not send over the test's http.
type browser struct {
	t      *testing.T
	base   string
	cookie string
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	if b.cookie != "" {
		req.Header.Set("Cookie", dashboard.CookieName+"="+b.cookie)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == dashboard.CookieName {
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				b.t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict", c)
			}
			b.cookie = c.Value
		}
	}
	return resp, string(body)
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	resp, body := b.do(req)
	return resp.StatusCode, body
}

// loginEventually logs in with token until it is accepted: the token
// authenticator may not know a ServiceAccount just made.
func (b *browser) loginEventually(token string) {
	b.t.Helper()
	testenv.Eventually(b.t, 30*time.Second, func() error {
		if code := b.login(token); code != http.StatusSeeOther {
			return fmt.Errorf("login: %d", code)
		}
		return nil
	})
}

func (b *browser) login(token string) int {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, _ := b.do(req)
	return resp.StatusCode
}

// twoTeams makes the namespaces of two teams, PREFIX-a-N and PREFIX-b-N
// (N: this run's suffix, also returned), and a clientset of the admin.
func twoTeams(t *testing.T, prefix string) (kube kubernetes.Interface, teamA, teamB, suffix string) {
	t.Helper()
	kube, err := kubernetes.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	suffix = fmt.Sprintf("%d", time.Now().UnixNano()%100000)
	teamA, teamB = prefix+"-a-"+suffix, prefix+"-b-"+suffix
	for _, ns := range []string{teamA, teamB} {
		env.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	return kube, teamA, teamB, suffix
}

// settleThenWriteStatus waits until settled says the controllers are done
// with obj (read afresh before each try), then writes its status as the
// admin with write, again on a conflict. For pages whose status the
// controllers would not produce in a test.
func settleThenWriteStatus(t *testing.T, obj client.Object, settled func() error, write func()) {
	t.Helper()
	ctx := context.Background()
	get := func() error { return env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj) }
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := get(); err != nil {
			return err
		}
		return settled()
	})
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := get(); err != nil {
			return err
		}
		write()
		return env.Client.Status().Update(ctx, obj)
	})
}

// viewerToken makes a ServiceAccount in ns bound to infraplane-viewer
// there and returns a token of it, as `kubectl create token` would.
func viewerToken(t *testing.T, kube kubernetes.Interface, ns, name string) string {
	t.Helper()
	ctx := t.Context()
	env.Create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	env.Create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "infraplane-viewer"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: name}},
	})
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func topic(ns, name string) *pubsubv1.Topic {
	return &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func TestDashboard(t *testing.T) {
	kube, teamA, teamB, _ := twoTeams(t, "dash")
	env.Create(t, topic(teamA, "alpha-orders"))
	env.Create(t, topic(teamA, "alpha-payments"))
	env.Create(t, topic(teamB, "bravo-secret"))
	tokenA := viewerToken(t, kube, teamA, "viewer")

	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	t.Run("unauthenticated", func(t *testing.T) {
		b := &browser{t: t, base: srv.URL}
		for _, p := range []string{"/", "/ns/" + teamA, "/o/" + teamA + "/topic.pubsub.infraplane.dev/alpha-orders"} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
			resp, body := b.do(req)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Errorf("GET %s without a session: %d %s, want a redirect to /login", p, resp.StatusCode, resp.Header.Get("Location"))
			}
			if strings.Contains(body, "alpha-orders") {
				t.Errorf("GET %s without a session shows an object", p)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/live", nil)
		req.Header.Set("Accept", "text/event-stream")
		if resp, _ := b.do(req); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /live without a session: %d, want 401", resp.StatusCode)
		}
		if code := b.login("not-a-token"); code != http.StatusUnauthorized {
			t.Errorf("login with a bad token: %d, want 401", code)
		}
		if b.cookie != "" {
			t.Error("a bad token got a session")
		}
		// Only the local admin's token is taken from a URL.
		if code, _ := b.get("/login?token=" + url.QueryEscape(tokenA)); code != http.StatusUnauthorized || b.cookie != "" {
			t.Errorf("a person's token in the login URL: %d, want 401 and no session", code)
		}
		// A form of another site may not log a browser in.
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader("token="+adminToken))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden || b.cookie != "" {
			t.Errorf("cross-site login: %d, want 403 and no session", resp.StatusCode)
		}
		// Read-only: no other method is served.
		req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/ns/"+teamA, nil)
		if resp, _ := b.do(req); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("DELETE: %d, want 405", resp.StatusCode)
		}
	})

	t.Run("admin sees both teams", func(t *testing.T) {
		b := &browser{t: t, base: srv.URL}
		if code, _ := b.get("/login?token=" + adminToken); code != http.StatusSeeOther || b.cookie == "" {
			t.Fatalf("admin login link: %d, want 303 and a session", code)
		}
		code, body := b.get("/")
		if code != http.StatusOK {
			t.Fatalf("overview: %d\n%s", code, body)
		}
		for _, want := range []string{teamA, teamB, "local admin"} {
			if !strings.Contains(body, want) {
				t.Errorf("admin's overview lacks %q", want)
			}
		}
		code, body = b.get("/ns/" + teamB)
		if code != http.StatusOK || !strings.Contains(body, "bravo-secret") {
			t.Errorf("admin's /ns/%s: %d, want bravo-secret in\n%s", teamB, code, body)
		}
	})

	viewer := &browser{t: t, base: srv.URL}
	// The token authenticator may not have seen the new ServiceAccount yet.
	viewer.loginEventually(tokenA)

	// A namespace in the URL that is a path ("a/../b", escaped) must not
	// walk the dashboard's API requests elsewhere, even for the admin.
	t.Run("a namespace that is a path", func(t *testing.T) {
		b := &browser{t: t, base: srv.URL}
		if code, _ := b.get("/login?token=" + adminToken); code != http.StatusSeeOther {
			t.Fatalf("admin login link: %d", code)
		}
		for _, ns := range []string{teamA + "%2F..%2F" + teamB, "..%2F..%2F..%2Fapi%2Fv1%2Fsecrets", "UPPER"} {
			code, body := b.get("/ns/" + ns)
			if code != http.StatusNotFound || !strings.Contains(body, "is not a namespace name") || strings.Contains(body, "bravo-secret") {
				t.Errorf("/ns/%s: %d, want 404 saying it is not a namespace name\n%s", ns, code, body)
			}
		}
	})

	t.Run("team-a viewer sees team-a only", func(t *testing.T) {
		code, body := viewer.get("/")
		if code != http.StatusOK {
			t.Fatalf("overview: %d\n%s", code, body)
		}
		if !strings.Contains(body, "system:serviceaccount:"+teamA+":viewer") {
			t.Error("the overview does not say who is logged in")
		}
		if !strings.Contains(body, teamA) || !strings.Contains(body, "2 objects") {
			t.Errorf("overview lacks %s with its 2 objects:\n%s", teamA, body)
		}
		if strings.Contains(body, teamB) || strings.Contains(body, "bravo") {
			t.Errorf("a %s viewer's overview shows %s:\n%s", teamA, teamB, body)
		}
		code, body = viewer.get("/ns/" + teamA)
		if code != http.StatusOK || !strings.Contains(body, "alpha-orders") || !strings.Contains(body, "alpha-payments") {
			t.Errorf("/ns/%s: %d, want both topics in\n%s", teamA, code, body)
		}
		code, body = viewer.get("/ns/" + teamB)
		if code != http.StatusForbidden || strings.Contains(body, "bravo-secret") {
			t.Errorf("/ns/%s as a %s viewer: %d, want 403 without its objects\n%s", teamB, teamA, code, body)
		}
		code, body = viewer.get("/o/" + teamB + "/topic.pubsub.infraplane.dev/bravo-secret")
		if code != http.StatusNotFound || strings.Contains(body, "Conditions") {
			t.Errorf("team-b's object as a %s viewer: %d, want 404\n%s", teamA, code, body)
		}
		code, body = viewer.get("/o/" + teamA + "/topic.pubsub.infraplane.dev/alpha-orders")
		if code != http.StatusOK || !strings.Contains(body, "Topic "+teamA+"/alpha-orders") || !strings.Contains(body, "Conditions") {
			t.Errorf("object page: %d\n%s", code, body)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/live?ns="+teamB, nil)
		req.Header.Set("Accept", "text/event-stream")
		if resp, _ := viewer.do(req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("live updates of %s as a %s viewer: %d, want 403", teamB, teamA, resp.StatusCode)
		}
	})

	t.Run("live update", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/live", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Cookie", dashboard.CookieName+"="+viewer.cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
			t.Fatalf("/live: %d %s", resp.StatusCode, ct)
		}
		lines := bufio.NewScanner(resp.Body)
		// The stream says it is ready before the change is made: its
		// watches may start after the first line, so the change is made
		// until an event comes (each is a new object).
		if !lines.Scan() {
			t.Fatal("the stream ended at once")
		}
		got := make(chan string, 1)
		go func() {
			for lines.Scan() {
				if strings.HasPrefix(lines.Text(), "event: change") {
					got <- lines.Text()
					return
				}
			}
		}()
		for i := 0; ; i++ {
			env.Create(t, topic(teamA, fmt.Sprintf("alpha-live-%d", i)))
			select {
			case <-got:
				// The fragment the page then fetches has the new object.
				freq, _ := http.NewRequest(http.MethodGet, srv.URL+"/ns/"+teamA, nil)
				freq.Header.Set("X-Fragment", "1")
				fresp, body := viewer.do(freq)
				if fresp.StatusCode != http.StatusOK || !strings.Contains(body, "alpha-live-0") || strings.Contains(body, "<html") {
					t.Errorf("fragment: %d, want the main region with alpha-live-0:\n%s", fresp.StatusCode, body)
				}
				return
			case <-time.After(3 * time.Second):
			case <-ctx.Done():
				t.Fatal("no change event")
			}
		}
	})
}
