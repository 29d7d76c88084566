// Package browsertest drives the dashboard in a real browser for tests:
// Debian's headless Chromium, through chromedp. The dashboard's own tests
// and the end-to-end run under `infraplane up` (internal/tour) share it.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium finds Debian's chromium: missing, a browser test fails under
// CI (.ci/run installs it) and is skipped elsewhere.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: the dashboard's browser tests need it (apt-get install chromium)")
	}
	t.Skip("chromium not found: apt-get install chromium to run the dashboard's browser tests")
	return ""
}

// Browser is one headless Chromium with a profile of its own (its own
// cookies: one person), at a laptop's window size.
type Browser struct {
	t   testing.TB
	Ctx context.Context
}

// New starts a browser for as long as the test runs, with no network
// features (the machines have no internet).
func New(t testing.TB) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900), // a laptop
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first action starts the browser, for as long as ctx lives.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &Browser{t: t, Ctx: ctx}
}

// Run runs actions, failing the test if they do not finish within a minute.
func (b *Browser) Run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Text is the visible text of the first element sel matches.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, time.Minute)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// Eval evaluates a JavaScript expression that yields a bool.
func (b *Browser) Eval(expr string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// Screenshot saves the whole page as NAME.png under the test's artifact
// directory (go test -artifacts -outputdir DIR keeps it) and returns its
// path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(artifactDir(b.t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Error(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

func artifactDir(t testing.TB) string {
	if tt, ok := t.(interface{ ArtifactDir() string }); ok {
		return tt.ArtifactDir()
	}
	return t.TempDir()
}

// Login logs in through the login form with a bearer token, as a person
// would. A ServiceAccount just made may not be known to the token
// authenticator yet: it tries for up to timeout.
func (b *Browser) Login(base, token string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := b.tryLogin(base, token)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("logging in at %s: %v", base, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (b *Browser) tryLogin(base, token string) error {
	b.Run("login form",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
	)
	// The form's answer is a new page: wait until it has come (the
	// logout button, or the login page's error), asking again while the
	// old page goes away under the question.
	if err := b.WaitFor(`document.readyState === "complete" && !!document.querySelector('form[action="/logout"], p.error')`, 30*time.Second); err != nil {
		return fmt.Errorf("the answer to the login has not come: %w", err)
	}
	if body := b.Text("body"); !strings.Contains(body, "Signed in as") {
		return fmt.Errorf("not logged in: %s", body)
	}
	return nil
}

// WaitFor polls a JavaScript expression until it yields true.
func (b *Browser) WaitFor(expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%s is still false", expr)
			}
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// accessibilityCheck lists what keeps the page from keyboard and
// screen-reader users: the checks a reviewer would make by hand on every
// page (not a full WCAG audit).
const accessibilityCheck = `(() => {
  const p = [];
  const name = el => (el.getAttribute('aria-label') || el.getAttribute('title') || el.textContent || '').trim();
  const id = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.getAttribute('name') ? '[name=' + el.getAttribute('name') + ']' : '');
  if (!document.documentElement.lang) p.push('html has no lang');
  if (!document.title.trim()) p.push('the page has no title');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) p.push(h1 + ' h1 headings (want 1)');
  let last = 0;
  for (const h of document.querySelectorAll('h1,h2,h3,h4,h5,h6')) {
    const l = +h.tagName[1];
    if (last && l > last + 1) p.push('heading ' + h.tagName + ' "' + name(h) + '" skips a level after h' + last);
    last = l;
  }
  for (const el of document.querySelectorAll('input,select,textarea')) {
    if (['hidden','submit','button'].includes(el.type)) continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) p.push(id(el) + ' has no label');
  }
  for (const el of document.querySelectorAll('a[href],button')) if (!name(el)) p.push(id(el) + ' has no text');
  for (const el of document.querySelectorAll('img')) if (!el.hasAttribute('alt')) p.push('img ' + el.src + ' has no alt');
  for (const el of document.querySelectorAll('table')) if (!el.querySelector('caption') && !el.getAttribute('aria-label')) p.push('a table has no caption');
  for (const el of document.querySelectorAll('progress')) if (!el.getAttribute('aria-label') && !(el.labels && el.labels.length)) p.push('a progress bar has no label');
  const ids = {};
  for (const el of document.querySelectorAll('[id]')) { if (ids[el.id]) p.push('id ' + el.id + ' is not unique'); ids[el.id] = 1; }
  return p;
})()`

// AccessibilityProblems checks the page for what keeps keyboard and
// screen-reader users out: a lang, one h1 and no skipped heading level,
// labelled fields and progress bars, links and buttons with text, tables
// with captions, images with alt, unique ids.
func (b *Browser) AccessibilityProblems() []string {
	b.t.Helper()
	p, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](accessibilityCheck))
	if err != nil {
		b.t.Fatalf("checking accessibility: %v", err)
	}
	return p
}

// CheckAccessibility fails the test for each accessibility problem of the
// page.
func (b *Browser) CheckAccessibility(page string) {
	b.t.Helper()
	for _, p := range b.AccessibilityProblems() {
		b.t.Errorf("%s: %s", page, p)
	}
}
