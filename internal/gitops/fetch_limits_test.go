package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/hangtest"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/testenv"
)

// pushWithZeros is push with one more file: size zero bytes, sparse, that
// compresses to almost nothing (a few hundred KB of pack a checkout would
// inflate to size). The git CLI commits and pushes it: go-git takes half a
// minute to deflate 200 MiB twice.
func (r *repo) pushWithZeros(msg, name string, size int64, files map[string]*string) string {
	r.t.Helper()
	gitBin := cloudtest.RequireTool(r.t, "git")
	run := func(args ...string) string {
		r.t.Helper()
		cmd := exec.Command(gitBin, append([]string{"-c", "user.name=Mallory", "-c", "user.email=m@example.com"}, args...)...)
		cmd.Dir = r.work
		out, err := cmd.CombinedOutput()
		if err != nil {
			r.t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for n, content := range files {
		p := filepath.Join(r.work, n)
		if content == nil {
			run("rm", "-q", n)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(*content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	p := filepath.Join(r.work, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		r.t.Fatal(err)
	}
	run("add", "-A")
	run("commit", "-q", "-m", msg)
	run("push", "-q", "origin", "main")
	h := run("rev-parse", "HEAD")
	r.hashes = append(r.hashes, h)
	return h
}

// largeFiles lists the files under dir above max bytes (on disk: a sparse
// file counts by its length, which is what a checkout would write).
func largeFiles(t *testing.T, dir string, max int64) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if info, err := d.Info(); err == nil && info.Size() > max {
			out = append(out, fmt.Sprintf("%s (%d bytes)", p, info.Size()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkedOut lists the files of a working copy, .git aside.
func checkedOut(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A commit above a limit is refused before checkout: the error names the
// limit, the size and the file, and the working copy keeps the last
// commit's files.
func TestFetchRefusesCommitAboveCheckoutLimits(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		opts  gitops.FetchOptions
		files map[string]*string
		want  []string
	}{
		{
			name:  "file",
			opts:  gitops.FetchOptions{MaxCheckoutFileSize: 1 << 10},
			files: map[string]*string{"docs/big.txt": str(strings.Repeat("x", 3<<10))},
			want:  []string{"docs/big.txt has 3.0 KiB", "more than the 1.0 KiB a file may have"},
		},
		{
			name: "total",
			opts: gitops.FetchOptions{MaxCheckoutSize: 4 << 10},
			files: map[string]*string{
				"a.txt": str(strings.Repeat("a", 2<<10)), "b.txt": str(strings.Repeat("b", 2<<10)), "c.txt": str(strings.Repeat("c", 1<<10)),
			},
			want: []string{"more than 4.0 KiB, the limit of a checkout", "a.txt (2.0 KiB)", "b.txt (2.0 KiB)"},
		},
		{
			name:  "count",
			opts:  gitops.FetchOptions{MaxCheckoutFiles: 3},
			files: map[string]*string{"x/1.txt": str("1"), "x/2.txt": str("2"), "x/3.txt": str("3")},
			want:  []string{"more than 3 files and directories"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			first := r.push("first", map[string]*string{"orders.yaml": str(topicYAML("orders", "a"))})
			f := gitops.NewFetcher(t.TempDir(), tc.opts)
			dir, rev, err := f.Fetch(ctx, "src", r.bare, gitops.Ref{}, nil)
			if err != nil || rev.Hash != first {
				t.Fatalf("first commit: %v, %+v", err, rev)
			}
			refused := r.push("too much", tc.files)
			_, rev, err = f.Fetch(ctx, "src", r.bare, gitops.Ref{}, nil)
			var limit *gitops.LimitError
			if !errors.As(err, &limit) {
				t.Fatalf("want a LimitError, got %v", err)
			}
			if rev.Hash != refused || limit.Hash != refused {
				t.Errorf("the error names %s (revision %s), want the refused commit %s", limit.Hash, rev.Hash, refused)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%s", w, err)
				}
			}
			if got := checkedOut(t, dir); len(got) != 1 || got[0] != "orders.yaml" {
				t.Errorf("working copy after the refusal: %v, want the first commit's orders.yaml only", got)
			}
		})
	}
}

// A tree that names one subtree ten times, seven levels deep, is ten
// million files from a few objects: the walk stops at the limit instead of
// going through them all.
func TestFetchRefusesTreeBomb(t *testing.T) {
	r := newRepo(t)
	r.push("first", map[string]*string{"orders.yaml": str(topicYAML("orders", "a"))})
	st := r.wr.Storer
	type encoder interface {
		Encode(plumbing.EncodedObject) error
	}
	store := func(o encoder) plumbing.Hash {
		eo := st.NewEncodedObject()
		if err := o.Encode(eo); err != nil {
			t.Fatal(err)
		}
		h, err := st.SetEncodedObject(eo)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	blob := st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	w.Write([]byte("x"))
	w.Close()
	bh, err := st.SetEncodedObject(blob)
	if err != nil {
		t.Fatal(err)
	}
	tree := store(&object.Tree{Entries: []object.TreeEntry{{Name: "f", Mode: filemode.Regular, Hash: bh}}})
	for range 7 {
		var es []object.TreeEntry
		for i := range 10 {
			es = append(es, object.TreeEntry{Name: fmt.Sprintf("d%d", i), Mode: filemode.Dir, Hash: tree})
		}
		tree = store(&object.Tree{Entries: es})
	}
	head, err := r.wr.Head()
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "Mallory", Email: "m@example.com", When: time.Now()}
	commit := store(&object.Commit{Author: sig, Committer: sig, Message: "bomb", TreeHash: tree, ParentHashes: []plumbing.Hash{head.Hash()}})
	if err := st.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), commit)); err != nil {
		t.Fatal(err)
	}
	if err := r.wr.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}

	f := gitops.NewFetcher(t.TempDir(), gitops.FetchOptions{})
	done := make(chan error, 1)
	go func() { _, _, err := f.Fetch(context.Background(), "src", r.bare, gitops.Ref{}, nil); done <- err }()
	select {
	case err := <-done:
		var limit *gitops.LimitError
		if !errors.As(err, &limit) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d files and directories", gitops.DefaultMaxCheckoutFiles)) {
			t.Fatalf("want the file count refused, got %v", err)
		}
	case <-time.After(2 * time.Minute): // generous: the refusal takes well under a second
		t.Fatal("the fetch of a tree bomb did not end")
	}
}

// silentGitServer is a git host that accepts connections and never
// answers. accepted gets each connection as it comes; closed, each one the
// client gave up on.
func silentGitServer(t *testing.T) (url string, accepted, closed <-chan struct{}) {
	t.Helper()
	srv := hangtest.Listen(t)
	return "http://" + srv.Addr + "/repo.git", srv.Accepted, srv.Closed
}

// A fetch from a server that never answers ends at the deadline with a
// TimeoutError that says so.
func TestFetchDeadline(t *testing.T) {
	url, _, closed := silentGitServer(t)
	f := gitops.NewFetcher(t.TempDir(), gitops.FetchOptions{Timeout: time.Second})
	start := time.Now()
	_, _, err := f.Fetch(context.Background(), "src", url, gitops.Ref{}, nil)
	var timeout *gitops.TimeoutError
	if !errors.As(err, &timeout) || !strings.Contains(err.Error(), "took longer than 1s") {
		t.Fatalf("want a TimeoutError, got %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the fetch took %s with a 1s deadline", d)
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Error("the client did not hang up on the silent server")
	}
}

// A team pushes a commit with a 200 MiB file of zeros (a few hundred KB of
// pack): the GitSource fails to fetch, naming the file and the limit;
// nothing of the file reaches the cache disk, and what the last commit
// applied stays as it was (nothing modified, nothing pruned).
func TestSyncRefusesCommitAboveCheckoutLimits(t *testing.T) {
	ctx := context.Background()
	r, gs, ns := setup(t, map[string]*string{
		"topics/orders.yaml":   str(topicYAML("orders", "checkout")),
		"topics/payments.yaml": str(topicYAML("payments", "billing")),
	}, func(g *corev1alpha1.GitSource) { g.Spec.MaxPrunePercent = 100 })
	first := waitSource(t, gs, appliedRevision(r.hashes[0]))

	refused := r.pushWithZeros("orders changes team, payments goes, and a big file", "assets/zeros.bin", 200<<20, map[string]*string{
		"topics/orders.yaml":   str(topicYAML("orders", "mallory")),
		"topics/payments.yaml": nil,
	})
	got := syncNow(t, gs, false)
	c := readyCondition(got)
	if c.Reason != gitops.ReasonFetchFailed {
		t.Fatalf("Ready: %+v", c)
	}
	for _, w := range []string{refused[:12], "assets/zeros.bin has 200 MiB", "more than the 64 MiB a file may have", "nothing applied"} {
		if !strings.Contains(c.Message, w) {
			t.Errorf("message lacks %q:\n%s", w, c.Message)
		}
	}
	if got.Status.LastAppliedRevision != first.Status.LastAppliedRevision || !strings.HasSuffix(got.Status.LastAttemptedRevision, refused) {
		t.Errorf("revisions: applied %q (want %q), attempted %q (want %s)", got.Status.LastAppliedRevision, first.Status.LastAppliedRevision, got.Status.LastAttemptedRevision, refused)
	}
	if len(got.Status.Inventory) != 2 {
		t.Errorf("inventory changed: %+v", got.Status.Inventory)
	}
	if big := largeFiles(t, cacheDir, 8<<20); len(big) > 0 {
		t.Errorf("large files in the cache dir: %v", big)
	}
	orders, payments := &pubsubv1.Topic{}, &pubsubv1.Topic{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, orders); err != nil || orders.Spec.Labels["team"] != "checkout" {
		t.Errorf("orders modified by a refused commit: %v %v", err, orders.Spec.Labels)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "payments"}, payments); err != nil || !payments.DeletionTimestamp.IsZero() {
		t.Errorf("payments pruned by a refused commit: %v", err)
	}

	// The next commit without the file applies.
	wt, err := r.wr.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Remove("assets/zeros.bin"); err != nil {
		t.Fatal(err)
	}
	fixed := r.push("without the big file", nil)
	syncNow(t, gs, false)
	waitSource(t, gs, appliedRevision(fixed))
}

// A git server that accepts the connection and never answers: the
// GitSource fails to fetch at the deadline, and meanwhile another team's
// GitSource syncs.
func TestSyncDeadlineOnSilentGitServer(t *testing.T) {
	ctx := context.Background()
	r, other, _ := setup(t, map[string]*string{"orders.yaml": str(topicYAML("orders", "a"))})
	waitSource(t, other, appliedRevision(r.hashes[0]))

	url, accepted, closed := silentGitServer(t)
	ns := env.Namespace(t, env.ProviderConfig(t, "gitops-fakes", cloudtest.Fakes(t)))
	gs := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "hangs", Namespace: ns},
		Spec:       corev1alpha1.GitSourceSpec{URL: url, Interval: metav1.Duration{Duration: time.Hour}},
	}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
	case <-time.After(30 * time.Second):
		t.Fatal("the syncer did not connect to the silent server")
	}
	start := time.Now()

	// Meanwhile: the other team's next commit applies.
	h := r.push("second", map[string]*string{"orders.yaml": str(topicYAML("orders", "b"))})
	got := syncNow(t, other, false)
	if err := appliedRevision(h)(got); err != nil {
		t.Error(err)
	}
	select {
	case <-closed:
		t.Error("the hanging fetch ended before the other source synced: the test shows nothing about meanwhile")
	default:
	}

	// Generous slack past the deadline: the machine may be busy.
	testenv.Eventually(t, testFetchTimeout+time.Minute, func() error {
		g := &corev1alpha1.GitSource{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(gs), g); err != nil {
			return err
		}
		c := readyCondition(g)
		if c.Reason != gitops.ReasonFetchFailed || !strings.Contains(c.Message, "took longer than "+testFetchTimeout.String()) {
			return fmt.Errorf("want FetchFailed saying the fetch took too long, got %+v", c)
		}
		return nil
	})
	t.Logf("FetchFailed %s after the connection, with a %s deadline", time.Since(start).Round(time.Second), testFetchTimeout)
}
