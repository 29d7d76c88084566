// Package tour runs infraplane end to end, as the built binary: the README's
// tour, command by command as written, against `infraplane up` on a copy of
// the repository, checking what each step claims (a README edit that breaks
// a command fails here, not for a reader); and the dashboard under `up`, in
// a real browser.
package tour

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
)

// step is one command of the tour with what the README says about it.
type step struct {
	line    int    // in README.md
	command string // continuation lines joined
	remark  string // the comment after the command, if any
	output  string // an expected-output comment on the next lines ("#   …")
}

// tourSteps reads the shell blocks of the README between the tour's heading
// and the next top-level section, and the banner block that shows what `up`
// prints.
func tourSteps(t *testing.T, readme string) (steps []step, banner []string) {
	t.Helper()
	lines := strings.Split(readme, "\n")
	in, fence := false, ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "## A five-minute tour"):
			in = true
			continue
		case in && strings.HasPrefix(l, "## "):
			in = false
		}
		if !in {
			continue
		}
		if strings.HasPrefix(l, "```") {
			if fence == "" {
				fence = strings.TrimPrefix(l, "```")
				if fence == "" {
					fence = "text"
				}
			} else {
				fence = ""
			}
			continue
		}
		switch fence {
		case "text":
			if k, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && !strings.Contains(k, " is up") {
				banner = append(banner, k+":")
			} else if strings.Contains(l, " is up") {
				banner = append(banner, "infraplane is up")
			}
		case "sh":
			trimmed := strings.TrimSpace(l)
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			s := step{line: i + 1}
			cmd := l
			for strings.HasSuffix(strings.TrimRight(cmd, " "), "\\") && i+1 < len(lines) {
				i++
				cmd = strings.TrimSuffix(strings.TrimRight(cmd, " "), "\\") + " " + strings.TrimSpace(lines[i])
			}
			s.command, s.remark = splitRemark(cmd)
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "#   ") {
				i++
				s.output = strings.TrimSpace(strings.TrimPrefix(lines[i], "#"))
			}
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		t.Fatal("no tour found in README.md (a '## A five-minute tour' section with ```sh blocks)")
	}
	return steps, banner
}

// splitRemark cuts a trailing "   # remark" (two or more spaces before the
// hash, outside quotes) from a command.
func splitRemark(l string) (cmd, remark string) {
	var quote rune
	for i, r := range l {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && i >= 2 && l[i-1] == ' ' && l[i-2] == ' ':
			return strings.TrimSpace(l[:i]), strings.TrimSpace(l[i+1:])
		}
	}
	return strings.TrimSpace(l), ""
}

// pattern turns a README output line into a regexp: "…" stands for anything.
func pattern(s string) *regexp.Regexp {
	parts := strings.Split(s, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(strings.TrimSpace(p))
	}
	return regexp.MustCompile(strings.Join(parts, `[\s\S]*`))
}

// shell runs commands one at a time in a bash that keeps its exported
// variables and working directory from one command to the next, as a
// terminal does.
type shell struct {
	t     *testing.T
	dir   string
	state string // exported variables, sourced before each command
	env   []string
}

func (sh *shell) script(cmd string) string { return sh.scriptKeeping(cmd, true) }

// scriptKeeping wraps cmd; keep saves what it exported for the next
// command (not for `up` in the background: it ends last, with the exports
// of the moment it started).
func (sh *shell) scriptKeeping(cmd string, keep bool) string {
	save := `export -p | grep -v -E '^declare -x (PWD|OLDPWD|SHLVL|_)=' > ` + fmt.Sprintf("%q", sh.state)
	if !keep {
		save = ""
	}
	return fmt.Sprintf(`set -o pipefail
[ -f %[1]q ] && source %[1]q
cd "${TOUR_PWD:-%[2]s}"
%[3]s
rc=$?
export TOUR_PWD="$PWD"
%[4]s
exit $rc
`, sh.state, sh.dir, cmd, save)
}

// run runs cmd to completion (or until timeout) and returns its combined
// output and exit code.
func (sh *shell) run(cmd string, timeout time.Duration) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", "-c", sh.script(cmd))
	c.Env = sh.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	out, err := c.CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return string(out), code
}

// watch runs a command that does not end by itself (kubectl … -w) until its
// output matches want, or the timeout.
func (sh *shell) watch(cmd string, want *regexp.Regexp, timeout time.Duration) (string, bool) {
	c := exec.Command("bash", "-c", sh.script(cmd))
	c.Env = sh.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	c.Stdout, c.Stderr = pw, pw
	if err := c.Start(); err != nil {
		sh.t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_ = c.Wait()
		pw.Close()
	}()
	var mu sync.Mutex
	var buf bytes.Buffer
	found := make(chan struct{})
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			mu.Lock()
			buf.WriteString(s.Text() + "\n")
			ok := want.Match(buf.Bytes())
			mu.Unlock()
			if ok {
				close(found)
				return
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(timeout):
	}
	mu.Lock()
	defer mu.Unlock()
	return buf.String(), want.Match(buf.Bytes())
}

// background is `infraplane up` in "terminal 1".
type background struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	err  error         // its exit, once done
	mu   sync.Mutex
	out  bytes.Buffer
}

func startBackground(t *testing.T, sh *shell, cmd string) *background {
	t.Helper()
	b := &background{done: make(chan struct{})}
	b.cmd = exec.Command("bash", "-c", sh.scriptKeeping(cmd, false))
	b.cmd.Env = sh.env
	b.cmd.Stdout, b.cmd.Stderr = b, b
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	return b
}

func (b *background) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *background) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *background) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// stop is Ctrl-C: up must stop cleanly.
func (b *background) stop(t *testing.T) {
	t.Helper()
	if b == nil {
		return
	}
	if b.exited() {
		return
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-b.done:
		if b.err != nil {
			t.Errorf("up did not stop cleanly after Ctrl-C: %v\n%s", b.err, tail(b.output(), 30))
		}
	case <-time.After(time.Minute):
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
		t.Errorf("up did not stop within a minute of Ctrl-C\n%s", tail(b.output(), 30))
	}
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// binDir holds the infraplane binary, built once for the package's tests.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "infraplane-tour-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildInfraplane builds cmd/infraplane into binDir (once: a link takes
// about a minute).
func buildInfraplane(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		build := exec.Command("go", "build", "-o", filepath.Join(binDir, "infraplane"), "./cmd/infraplane")
		build.Dir = repoRoot(t) // the repository's own paths keep the build cache warm
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// newShell is a terminal in dir with the built infraplane on its PATH and
// HOME in work.
func newShell(t *testing.T, dir, work string) *shell {
	t.Helper()
	buildInfraplane(t)
	env := []string{"PATH=" + binDir + ":" + os.Getenv("PATH"), "HOME=" + work, "CLOUDSDK_CONFIG=" + filepath.Join(work, "gcloud"), "TERM=dumb", "LANG=C.UTF-8",
		// a fresh HOME has no git identity; the tour commits
		"GIT_AUTHOR_NAME=Tour", "GIT_AUTHOR_EMAIL=tour@example.com", "GIT_COMMITTER_NAME=Tour", "GIT_COMMITTER_EMAIL=tour@example.com"}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOTOOLCHAIN", "CI"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return &shell{t: t, dir: dir, state: filepath.Join(work, "state.sh"), env: env}
}

// copyRepo copies the repository's files (tracked and untracked, not
// ignored) to dst, so the tour's ../infra-demo and .infraplane/ land in a
// temporary directory.
func copyRepo(t *testing.T, root, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("listing the repository's files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// claims are what a step says beyond succeeding, checked on its output
// (retried for a while: the README says "within a second", the test only
// that it happens).
var claims = []struct {
	command string // a piece of the step's command
	want    string // a piece of its output
}{
	{"kubectl get topics,subscriptions", "True"},
	{"gcloud pubsub topics list", "orders"},
	{"subscriptions describe orders-worker --format='value(ackDeadlineSeconds)'", "60"},
	{"kubectl get gitsources", "True"},
	{"infraplane audit --verify", "intact"},
	{"kubectl get buckets,spannerinstances,spannerdatabases,bigtabletables", "True"},
}

// watches are steps that never end by themselves, with what must appear.
var watches = map[string]string{
	"kubectl get events --field-selector involvedObject.name=orders-worker -w": "DriftRepaired",
}

func TestREADMETour(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("INFRAPLANE_TOUR") == "" {
		t.Skip("runs the README's tour against `infraplane up` (a few minutes; needs kubectl, gcloud, curl): set INFRAPLANE_TOUR=1; CI runs it")
	}
	for _, tool := range []string{"kubectl", "gcloud", "curl", "git", "go"} {
		cloudtest.RequireTool(t, tool)
	}
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, banner := tourSteps(t, string(readme))

	work := t.TempDir()
	dir := filepath.Join(work, "infraplane")
	copyRepo(t, root, dir)
	sh := newShell(t, dir, work)

	var up *background
	defer func() { up.stop(t) }()
	for _, s := range steps {
		// The README says `infraplane` is `go run ./cmd/infraplane`; the
		// binary built above saves a link per command.
		cmd := strings.ReplaceAll(s.command, "go run ./cmd/infraplane ", "infraplane ")
		at := fmt.Sprintf("README.md:%d: %s", s.line, s.command)
		start := time.Now()
		switch {
		case strings.HasPrefix(cmd, "infraplane up"):
			up.stop(t)
			up = startBackground(t, sh, cmd)
			deadline := time.Now().Add(3 * time.Minute)
			for !strings.Contains(up.output(), " is up") {
				if time.Now().After(deadline) || up.exited() {
					t.Fatalf("%s\nnot up after 3 minutes:\n%s", at, tail(up.output(), 40))
				}
				time.Sleep(200 * time.Millisecond)
			}
			for _, b := range banner {
				if !strings.Contains(up.output(), b) {
					t.Errorf("%s\nthe banner has no %q (the README shows it):\n%s", at, b, tail(up.output(), 20))
				}
			}
		case watches[cmd] != "":
			out, ok := sh.watch(cmd, regexp.MustCompile(watches[cmd]), 3*time.Minute)
			if !ok {
				t.Fatalf("%s\nno %s within 3 minutes:\n%s", at, watches[cmd], tail(out, 20))
			}
		default:
			out, code := sh.run(cmd, 3*time.Minute)
			for _, c := range claims {
				if !strings.Contains(cmd, c.command) {
					continue
				}
				for end := time.Now().Add(30 * time.Second); !strings.Contains(out, c.want) && time.Now().Before(end); {
					time.Sleep(time.Second)
					out, code = sh.run(cmd, 3*time.Minute)
				}
				if !strings.Contains(out, c.want) {
					t.Errorf("%s\nthe output has no %q:\n%s", at, c.want, tail(out, 20))
				}
			}
			switch {
			case s.output != "":
				if !pattern(s.output).MatchString(out) {
					t.Errorf("%s\nthe README says it prints %q; it printed:\n%s", at, s.output, tail(out, 20))
				}
			case strings.HasPrefix(s.remark, "Forbidden"):
				if code == 0 || !strings.Contains(out, "Forbidden") {
					t.Errorf("%s\nthe README says Forbidden; exit %d:\n%s", at, code, tail(out, 20))
				}
			case strings.Contains(s.remark, "exit 2 = changes"):
				if code != 0 && code != 2 {
					t.Errorf("%s\nexit %d:\n%s", at, code, tail(out, 20))
				}
			case code != 0:
				t.Errorf("%s\nexit %d:\n%s", at, code, tail(out, 20))
			}
			t.Logf("%s (%.1fs)\n%s", at, time.Since(start).Seconds(), tail(out, 8))
		}
	}
}
