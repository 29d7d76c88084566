package gitops_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infraplane/infraplane/internal/gitops"
)

// randomText is n bytes that do not compress (base64 of random bytes
// deflates to about three quarters).
func randomText(t *testing.T, n int) *string {
	t.Helper()
	b := make([]byte, n*3/4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

// packBytes is what dir's .git holds on disk (0 when it is gone).
func packBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(filepath.Join(dir, ".git"), func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// A repository whose fetch would download more than the limit (here
// incompressible files well within the checkout limits, which judge a
// commit only once its objects are on disk) is stopped during the
// download: the error names the limit and its flag, what was written is
// removed, and another source fetches as before.
func TestFetchStopsAtTheDownloadLimit(t *testing.T) {
	ctx := context.Background()
	const limit = 256 << 10
	r := newRepo(t)
	first := r.push("first", map[string]*string{"orders.yaml": str(topicYAML("orders", "a"))})
	cache := t.TempDir()
	f := gitops.NewFetcher(cache, gitops.FetchOptions{MaxFetchSize: limit})
	if _, rev, err := f.Fetch(ctx, "src", r.bare, gitops.Ref{}, nil); err != nil || rev.Hash != first {
		t.Fatalf("first commit: %v, %+v", err, rev)
	}

	r.push("large", map[string]*string{"data/a.bin": randomText(t, 200<<10), "data/b.bin": randomText(t, 200<<10)})
	_, _, err := f.Fetch(ctx, "src", r.bare, gitops.Ref{}, nil)
	var le *gitops.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("want a LimitError, got %v", err)
	}
	for _, w := range []string{"the git server sent more than 256.0 KiB", "--git-max-fetch-size", "nothing applied"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message lacks %q:\n%s", w, err)
		}
	}
	if n := packBytes(t, filepath.Join(cache, "src")); n > 0 {
		t.Errorf("%d bytes left in the working copy after the refusal", n)
	}

	// Another source of the same controller is not affected.
	other := newRepo(t)
	h := other.push("small", map[string]*string{"orders.yaml": str(topicYAML("orders", "b"))})
	if _, rev, err := f.Fetch(ctx, "other", other.bare, gitops.Ref{}, nil); err != nil || rev.Hash != h {
		t.Fatalf("another source: %v, %+v", err, rev)
	}
}

// Fetches add packs and never remove any: a working copy that grew past
// twice the download limit starts over, so many pushes of large commits
// (each within the limit) do not fill the shared cache disk.
func TestWorkingCopyGrowthIsBounded(t *testing.T) {
	ctx := context.Background()
	const limit = 256 << 10
	r := newRepo(t)
	cache := t.TempDir()
	f := gitops.NewFetcher(cache, gitops.FetchOptions{MaxFetchSize: limit})
	var most int64
	for i := range 8 {
		h := r.push("another 150 KiB", map[string]*string{"data/blob.bin": randomText(t, 150<<10)})
		if _, rev, err := f.Fetch(ctx, "src", r.bare, gitops.Ref{}, nil); err != nil || rev.Hash != h {
			t.Fatalf("push %d: %v, %+v", i, err, rev)
		}
		most = max(most, packBytes(t, filepath.Join(cache, "src")))
	}
	t.Logf("largest .git over 8 fetches of ~115 KiB packs each: %d KiB", most>>10)
	if most > 3*limit {
		t.Errorf("the working copy's .git reached %d bytes, want at most about twice the limit (%d) plus one fetch", most, 2*limit)
	}
}
