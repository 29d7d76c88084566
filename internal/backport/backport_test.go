package backport_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infraplane/infraplane/internal/backport"
)

const subscriptions = `# Subscriptions of the orders service.
apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
    name: orders-worker
spec:
    topicRef:
        name: orders
    ackDeadlineSeconds: 10 # raise during incidents
    retainAckedMessages: true
    filter: "attributes.type = \"order\""
---
apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: orders-audit
spec:
  topicRef:
    name: orders
  ackDeadlineSeconds: 10
`

const topic = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: orders # shared with billing
`

// git runs the git binary in dir.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Seed", "GIT_AUTHOR_EMAIL=seed@example.com",
		"GIT_COMMITTER_NAME=Seed", "GIT_COMMITTER_EMAIL=seed@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// workRepo creates a non-bare repository on main with files committed.
func workRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "seed")
	return dir
}

// bareRepo creates a bare repository whose main has files.
func bareRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	seed := workRepo(t, files)
	bare := t.TempDir()
	git(t, bare, "init", "-q", "--bare", "-b", "main")
	git(t, seed, "push", "-q", bare, "main:main")
	return bare
}

func options(url, path string) backport.Options {
	return backport.Options{URL: url, Path: path, Branch: "breakglass/orders", Author: "Grace Hopper", Email: "grace@example.com",
		Message: "Backport break-glass changes\n"}
}

var raiseDeadline = backport.Change{APIVersion: "pubsub.infraplane.dev/v1alpha1", Kind: "Subscription", Name: "orders-worker",
	Fields: []backport.Field{{Path: []string{"spec", "ackDeadlineSeconds"}, Value: float64(60)}}}

// checkBranch asserts the branch has exactly one commit on top of main,
// by the right author, and returns the files it changed.
func checkBranch(t *testing.T, repo, branch, mainBefore string, res backport.Result) []string {
	t.Helper()
	if got := git(t, repo, "rev-parse", "refs/heads/main"); got != mainBefore {
		t.Errorf("main moved from %s to %s", mainBefore, got)
	}
	if got := git(t, repo, "rev-parse", "refs/heads/"+branch); got != res.Commit {
		t.Errorf("branch %s is at %s, result says %s", branch, got, res.Commit)
	}
	if got := git(t, repo, "rev-parse", res.Commit+"^"); got != mainBefore {
		t.Errorf("the commit's parent is %s, want main's tip %s", got, mainBefore)
	}
	if got := git(t, repo, "rev-list", "--count", "main.."+branch); got != "1" {
		t.Errorf("%s has %s commits beyond main, want 1", branch, got)
	}
	if got := git(t, repo, "log", "-1", "--format=%an <%ae>|%s", res.Commit); got != "Grace Hopper <grace@example.com>|Backport break-glass changes" {
		t.Errorf("commit author and subject: %s", got)
	}
	files := strings.Fields(git(t, repo, "diff", "--name-only", "main", branch))
	if strings.Join(files, " ") != strings.Join(res.Files, " ") {
		t.Errorf("the commit changes %v, result says %v", files, res.Files)
	}
	return files
}

func show(t *testing.T, repo, rev, file string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "show", rev+":"+file).Output()
	if err != nil {
		t.Fatalf("git show %s:%s: %v", rev, file, err)
	}
	return string(out)
}

func TestBackportBareRemote(t *testing.T) {
	repo := bareRepo(t, map[string]string{"deploy/pubsub/subscriptions.yaml": subscriptions, "deploy/pubsub/topic.yaml": topic, "README.md": "hi\n"})
	mainBefore := git(t, repo, "rev-parse", "main")
	res, err := backport.Backport(context.Background(), options(repo, "deploy/pubsub"), []backport.Change{{
		APIVersion: "pubsub.infraplane.dev/v1beta1", // served at a newer version than git has
		Kind:       "Subscription", Name: "orders-worker",
		Fields: []backport.Field{
			{Path: []string{"spec", "ackDeadlineSeconds"}, Value: float64(60)},
			{Path: []string{"spec", "retainAckedMessages"}, Remove: true},
			{Path: []string{"spec", "filter"}, Value: `attributes.type = "refund"`},
			{Path: []string{"metadata", "labels", "team"}, Value: "orders"},
			{Path: []string{"spec", "topicRef", "name"}, Value: "orders"}, // unchanged
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Branch != "breakglass/orders" {
		t.Errorf("branch %q", res.Branch)
	}
	checkBranch(t, repo, "breakglass/orders", mainBefore, res)
	if strings.Join(res.Files, " ") != "deploy/pubsub/subscriptions.yaml" {
		t.Errorf("files %v", res.Files)
	}
	want := strings.NewReplacer(
		"    ackDeadlineSeconds: 10 # raise during incidents\n    retainAckedMessages: true\n", "    ackDeadlineSeconds: 60 # raise during incidents\n",
		`"attributes.type = \"order\""`, `"attributes.type = \"refund\""`,
	).Replace(subscriptions)
	want = strings.Replace(want, "    name: orders-worker\n", "    name: orders-worker\n    labels:\n        team: orders\n", 1)
	if got := show(t, repo, res.Commit, "deploy/pubsub/subscriptions.yaml"); got != want {
		t.Errorf("subscriptions.yaml:\n%s\nwant:\n%s", got, want)
	}
}

func TestBackportLocalWorkingRepository(t *testing.T) {
	repo := workRepo(t, map[string]string{"subscriptions.yaml": subscriptions})
	mainBefore := git(t, repo, "rev-parse", "main")
	opts := options(repo, "")
	opts.Message = ""
	opts.WorkDir = t.TempDir()
	res, err := backport.Backport(context.Background(), opts, []backport.Change{raiseDeadline})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(opts.WorkDir); len(left) != 0 {
		t.Errorf("the scratch clone was left in %s", opts.WorkDir)
	}
	if got := git(t, repo, "log", "-1", "--format=%s", res.Commit); got != "Backport break-glass changes to Subscription/orders-worker" {
		t.Errorf("default message %q", got)
	}
	if got := git(t, repo, "rev-parse", res.Commit+"^"); got != mainBefore {
		t.Errorf("parent %s, want %s", got, mainBefore)
	}
	want := strings.Replace(subscriptions, "ackDeadlineSeconds: 10 # raise", "ackDeadlineSeconds: 60 # raise", 1)
	if got := show(t, repo, "breakglass/orders", "subscriptions.yaml"); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// The engineer's checkout is untouched.
	if got := git(t, repo, "symbolic-ref", "--short", "HEAD"); got != "main" {
		t.Errorf("HEAD is %s", got)
	}
	if got := git(t, repo, "status", "--porcelain"); got != "" {
		t.Errorf("working tree changed:\n%s", got)
	}
}

func TestBackportKustomize(t *testing.T) {
	files := map[string]string{
		"app/kustomization.yaml":  "# the orders app\nresources:\n- topic.yaml\n- ../base\n",
		"base/kustomization.yaml": "resources:\n- subscriptions.yaml\n",
		"app/topic.yaml":          topic,
		"base/subscriptions.yaml": subscriptions,
	}
	repo := bareRepo(t, files)
	mainBefore := git(t, repo, "rev-parse", "main")
	res, err := backport.Backport(context.Background(), options("file://"+repo, "app"), []backport.Change{raiseDeadline, {
		APIVersion: "pubsub.infraplane.dev/v1alpha1", Kind: "Topic", Name: "orders",
		Fields: []backport.Field{{Path: []string{"metadata", "labels", "app.kubernetes.io/name"}, Value: "orders"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := checkBranch(t, repo, "breakglass/orders", mainBefore, res)
	if strings.Join(got, " ") != "app/topic.yaml base/subscriptions.yaml" {
		t.Fatalf("changed %v", got)
	}
	if got, want := show(t, repo, res.Commit, "base/subscriptions.yaml"), strings.Replace(subscriptions, "10 # raise", "60 # raise", 1); got != want {
		t.Errorf("subscriptions.yaml:\n%s\nwant:\n%s", got, want)
	}
	if got, want := show(t, repo, res.Commit, "app/topic.yaml"), topic+"  labels:\n    app.kubernetes.io/name: orders\n"; got != want {
		t.Errorf("topic.yaml:\n%s\nwant:\n%s", got, want)
	}
}

func TestBackportValueFromPatch(t *testing.T) {
	repo := bareRepo(t, map[string]string{
		"app/kustomization.yaml":  "resources:\n- subscriptions.yaml\npatches:\n- path: slow-consumers.yaml\n",
		"app/subscriptions.yaml":  subscriptions,
		"app/slow-consumers.yaml": "apiVersion: pubsub.infraplane.dev/v1alpha1\nkind: Subscription\nmetadata:\n  name: orders-worker\nspec:\n  ackDeadlineSeconds: 30\n",
	})
	refsBefore := git(t, repo, "show-ref")
	_, err := backport.Backport(context.Background(), options(repo, "app"), []backport.Change{raiseDeadline})
	if err == nil {
		t.Fatal("no error, want one naming the patch")
	}
	for _, s := range []string{"Subscription/orders-worker", "spec.ackDeadlineSeconds", "app/slow-consumers.yaml", "still 30"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if got := git(t, repo, "show-ref"); got != refsBefore {
		t.Errorf("refs changed:\n%s", got)
	}
}

func TestBackportErrors(t *testing.T) {
	repo := bareRepo(t, map[string]string{"subscriptions.yaml": subscriptions})
	git(t, repo, "branch", "taken", "main")
	ctx := context.Background()
	cases := []struct {
		name    string
		opts    func(*backport.Options)
		change  backport.Change
		want    []string
		errorIs error
	}{
		{"branch exists", func(o *backport.Options) { o.Branch = "taken" }, raiseDeadline, []string{`branch "taken" already exists`}, nil},
		{"object not found", nil, backport.Change{APIVersion: "pubsub.infraplane.dev/v1alpha1", Kind: "Subscription", Name: "payments",
			Fields: raiseDeadline.Fields}, []string{"Subscription/payments", "not defined"}, nil},
		{"group differs", nil, backport.Change{APIVersion: "other.example.com/v1", Kind: "Subscription", Name: "orders-worker",
			Fields: raiseDeadline.Fields}, []string{"Subscription/orders-worker", "other.example.com"}, nil},
		{"already up to date", nil, backport.Change{APIVersion: "pubsub.infraplane.dev/v1alpha1", Kind: "Subscription", Name: "orders-worker",
			Fields: []backport.Field{{Path: []string{"spec", "ackDeadlineSeconds"}, Value: int64(10)}, {Path: []string{"spec", "nope"}, Remove: true}}},
			[]string{"already has these values"}, backport.ErrUpToDate},
		{"clone failure names the URL", func(o *backport.Options) { o.URL = filepath.Join(t.TempDir(), "missing") }, raiseDeadline, []string{"missing"}, nil},
		{"base branch missing", func(o *backport.Options) { o.Base = "release" }, raiseDeadline, []string{`"release" not found`}, nil},
		{"path missing", func(o *backport.Options) { o.Path = "deploy" }, raiseDeadline, []string{`path "deploy" not found`}, nil},
		{"no author", func(o *backport.Options) { o.Author = "" }, raiseDeadline, []string{"author"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refsBefore := git(t, repo, "show-ref")
			opts := options(repo, "")
			if c.opts != nil {
				c.opts(&opts)
			}
			_, err := backport.Backport(ctx, opts, []backport.Change{c.change})
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if c.errorIs != nil && !errors.Is(err, c.errorIs) {
				t.Errorf("error %q is not %v", err, c.errorIs)
			}
			if got := git(t, repo, "show-ref"); got != refsBefore {
				t.Errorf("refs changed:\n%s", got)
			}
		})
	}
}
