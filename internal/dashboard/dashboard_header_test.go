package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/infraplane/infraplane/internal/dashboard"
)

// Behind an authenticating proxy that passes the person's token on in an
// Authorization header, every request is made as that person: no login
// form, no cookie, no logout; a token the API server refuses gets 401.
func TestAuthorizationHeader(t *testing.T) {
	kube, teamA, teamB, _ := twoTeams(t, "hdr")
	env.Create(t, topic(teamA, "alpha-orders"))
	env.Create(t, topic(teamB, "bravo-secret"))
	tokenA := viewerToken(t, kube, teamA, "viewer")

	h, err := dashboard.New(dashboard.Options{Config: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path, authorization string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// The new ServiceAccount may not be known to the authenticator yet.
	var resp *http.Response
	var body string
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, body = get("/", "Bearer "+tokenA)
		if resp.StatusCode == http.StatusOK || time.Now().After(end) {
			break
		}
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, teamA) {
		t.Fatalf("GET / with team-a's token: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, teamB) {
		t.Errorf("team-a's token sees %s on the overview", teamB)
	}
	if strings.Contains(body, `action="/logout"`) {
		t.Error("a person whose proxy brings the token is offered a logout")
	}
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Errorf("a request with an Authorization header got a cookie: %s", c)
	}
	if resp, body := get("/ns/"+teamB, "Bearer "+tokenA); resp.StatusCode == http.StatusOK || strings.Contains(body, "bravo-secret") {
		t.Errorf("GET /ns/%s with team-a's token: %d, shows bravo-secret: %v", teamB, resp.StatusCode, strings.Contains(body, "bravo-secret"))
	}
	if resp, body := get("/o/"+teamA+"/topic.pubsub.infraplane.dev/alpha-orders", "bearer "+tokenA); resp.StatusCode != http.StatusOK || !strings.Contains(body, "alpha-orders") {
		t.Errorf("the object page with team-a's token (scheme in lower case): %d", resp.StatusCode)
	}

	for _, bad := range []string{"Bearer not-a-token", "Bearer " + tokenA + "x"} {
		resp, body := get("/", bad)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "does not accept this token") {
			t.Errorf("GET / with %q: %d %q, want 401 saying the API server does not accept it", bad[:12], resp.StatusCode, body)
		}
		if strings.Contains(body, teamA) {
			t.Errorf("a refused token sees %s", teamA)
		}
	}
	// Another scheme is not a bearer token: the login page, as without one.
	if resp, _ := get("/", "Basic dXNlcjpwYXNz"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / with Basic credentials: %d, want the redirect to the login page", resp.StatusCode)
	}
}
