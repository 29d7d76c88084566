package dashboard_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/infraplane/infraplane/internal/dashboard"
	"github.com/infraplane/infraplane/internal/dashboard/browsertest"
	"github.com/infraplane/infraplane/internal/testenv"
)

// In a real browser: a team-a viewer logs in with a token, sees team-a
// and nothing of team-b, and a change made with the API appears on the
// page without a reload.
func TestBrowser(t *testing.T) {
	browsertest.Chromium(t)
	kube, teamA, teamB, _ := twoTeams(t, "web")
	env.Create(t, topic(teamA, "alpha-orders"))
	env.Create(t, topic(teamB, "bravo-secret"))
	token := viewerToken(t, kube, teamA, "viewer")

	h, err := dashboard.New(dashboard.Options{Config: env.Config(), AdminToken: adminToken, AdminConfig: env.Config()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // 127.0.0.1: browsers keep Secure cookies for it over http
	// Cleanups run last first: the browser goes (and its live stream
	// with it) before the server waits for its requests to end.
	t.Cleanup(srv.Close)

	b := browsertest.New(t)
	run, text := b.Run, b.Text
	b.Login(srv.URL, token, 30*time.Second)
	run("overview", chromedp.WaitVisible(chromedp.ID("ns-"+teamA)))
	body := text("body")
	b.Screenshot("overview")
	b.CheckAccessibility("overview")
	if strings.Contains(body, teamB) || strings.Contains(body, "bravo") {
		t.Errorf("a %s viewer's overview shows %s:\n%s", teamA, teamB, body)
	}

	run("namespace page",
		chromedp.Navigate(srv.URL+"/ns/"+teamA),
		chromedp.WaitVisible(chromedp.CSS(`a[href$="/alpha-orders"]`)),
	)
	// Marks this page: a reload would lose it.
	b.Eval(`window.notReloaded = true`)
	// The live stream's watches start after the page; a new object each
	// try until one shows (each is a change the page must pick up).
	start := time.Now()
	var shown string
	testenv.Eventually(t, 60*time.Second, func() error {
		name := fmt.Sprintf("alpha-live-%d", time.Since(start).Milliseconds())
		env.Create(t, topic(teamA, name))
		created := time.Now()
		tctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
		defer cancel()
		if err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.CSS(`a[href$="/`+name+`"]`))); err != nil {
			return fmt.Errorf("%s did not appear: %v", name, err)
		}
		shown = fmt.Sprintf("%s appeared %v after it was created", name, time.Since(created).Round(10*time.Millisecond))
		return nil
	})
	t.Log(shown) // measured, not asserted: the machines are shared
	if !b.Eval(`window.notReloaded === true`) {
		t.Error("the page was reloaded to show the change")
	}
	b.Screenshot("namespace-live")
	b.CheckAccessibility("namespace-live")

	run("team-b's namespace", chromedp.Navigate(srv.URL+"/ns/"+teamB), chromedp.WaitVisible(chromedp.CSS("h1")))
	body = text("body")
	if strings.Contains(body, "bravo-secret") {
		t.Errorf("a %s viewer sees %s's objects in the browser:\n%s", teamA, teamB, body)
	}
	run("object page", chromedp.Navigate(srv.URL+"/o/"+teamA+"/topic.pubsub.infraplane.dev/alpha-orders"),
		chromedp.WaitVisible(chromedp.CSS("h1")))
	body = text("main")
	if !strings.Contains(body, "Conditions") {
		t.Errorf("object page:\n%s", body)
	}
	b.Screenshot("object")
	b.CheckAccessibility("object")
}
