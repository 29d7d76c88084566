package gitops_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

var env *testenv.Env

// cacheDir is the syncer's cache of working copies (what a refused commit
// must not fill).
var cacheDir string

// testFetchTimeout is the syncer's fetch deadline in these tests: short,
// so a test of a git server that never answers ends soon, and long for the
// small local repositories of the other tests on a busy machine (the
// 200 MiB blob of TestSyncRefusesCommitAboveCheckoutLimits takes go-git
// seconds to index).
const testFetchTimeout = 30 * time.Second

// The admin these tests act as (system:masters) may edit GitOps-managed
// objects directly, as an admin group can: these tests are about the
// syncer repairing such edits. The guard itself is tested in breakglass.
func TestMain(m *testing.M) {
	opts := testenv.Options{}
	opts.Controllers.BreakGlass.AdminGroups = []string{"system:masters"}
	dir, err := os.MkdirTemp("", "infraplane-gitops-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	opts.Controllers.GitOps.CacheDir = dir
	opts.Controllers.GitOps.Fetch.Timeout = testFetchTimeout
	code := testenv.Main(m, &env, opts)
	os.RemoveAll(dir)
	os.Exit(code)
}

// repo is a real git repository pair: a bare "remote" the GitSource reads,
// and a working clone the test commits in and pushes from.
type repo struct {
	t      *testing.T
	bare   string
	work   string
	wr     *git.Repository
	hashes []string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	bare := t.TempDir()
	if _, err := git.PlainInitWithOptions(bare, &git.PlainInitOptions{Bare: true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}}); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	wr, err := git.PlainInitWithOptions(work, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wr.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		t.Fatal(err)
	}
	return &repo{t: t, bare: bare, work: work, wr: wr}
}

// push writes files (a nil value deletes the file), commits and pushes to
// main; it returns the commit hash.
func (r *repo) push(msg string, files map[string]*string) string {
	r.t.Helper()
	wt, err := r.wr.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(r.work, name)
		if content == nil {
			if _, err := wt.Remove(name); err != nil {
				r.t.Fatalf("git rm %s: %v", name, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(*content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			r.t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{AllowEmptyCommits: true, Author: &object.Signature{Name: "Ada Lovelace", Email: "ada@example.com", When: time.Now()}})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.wr.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
		r.t.Fatalf("push: %v", err)
	}
	r.hashes = append(r.hashes, h.String())
	return h.String()
}

func str(s string) *string { return &s }

// topicYAML is a Topic manifest with a label.
func topicYAML(name, team string) string {
	return fmt.Sprintf(`apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: %s
spec:
  labels:
    team: %s
`, name, team)
}

// setup gives a test a namespace with a local cloud and a GitSource on a
// fresh repository whose first commit has files.
func setup(t *testing.T, files map[string]*string, mutate ...func(*corev1alpha1.GitSource)) (*repo, *corev1alpha1.GitSource, string) {
	t.Helper()
	cloud := cloudtest.Fakes(t)
	ns := env.Namespace(t, env.ProviderConfig(t, "gitops-fakes", cloud))
	r := newRepo(t)
	r.push("first", files)
	gs := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: ns},
		Spec: corev1alpha1.GitSourceSpec{
			URL:      r.bare,
			Interval: metav1.Duration{Duration: time.Hour}, // syncs in tests are requested
		},
	}
	for _, m := range mutate {
		m(gs)
	}
	if err := env.Client.Create(context.Background(), gs); err != nil {
		t.Fatal(err)
	}
	return r, gs, ns
}

// syncNow requests a sync and waits until it ran.
func syncNow(t *testing.T, gs *corev1alpha1.GitSource, confirm bool) *corev1alpha1.GitSource {
	t.Helper()
	stamp, err := gitops.RequestSync(context.Background(), env.Client, client.ObjectKeyFromObject(gs), confirm)
	if err != nil {
		t.Fatal(err)
	}
	return waitSource(t, gs, func(g *corev1alpha1.GitSource) error {
		if g.Status.LastHandledRequest != stamp {
			return fmt.Errorf("sync request not handled yet")
		}
		return nil
	})
}

// waitSource waits until check passes on the GitSource and returns it.
func waitSource(t *testing.T, gs *corev1alpha1.GitSource, check func(*corev1alpha1.GitSource) error) *corev1alpha1.GitSource {
	t.Helper()
	cur := &corev1alpha1.GitSource{}
	testenv.Eventually(t, 30*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), cur); err != nil {
			return err
		}
		return check(cur)
	})
	return cur
}

func appliedRevision(hash string) func(*corev1alpha1.GitSource) error {
	return func(g *corev1alpha1.GitSource) error {
		if !strings.HasSuffix(g.Status.LastAppliedRevision, hash) {
			c := meta.FindStatusCondition(g.Status.Conditions, gitops.TypeReady)
			return fmt.Errorf("applied %q, want %s; Ready: %+v", g.Status.LastAppliedRevision, hash, c)
		}
		return nil
	}
}

func readyCondition(g *corev1alpha1.GitSource) metav1.Condition {
	if c := meta.FindStatusCondition(g.Status.Conditions, gitops.TypeReady); c != nil {
		return *c
	}
	return metav1.Condition{}
}
