package gitops

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// What a fetch may download is bounded too: the checkout limits judge a
// commit only once its objects are on disk, and a pack of incompressible
// data (or a long history, for a pinned commit) is written to the cache
// disk every team shares as fast as the server sends it. go-git has no cap
// of its own; the pack goes through the storage's PackfileWriter, so the
// working copy's storage counts what is written there.

// DefaultMaxFetchSize is the most one fetch may write: twice the most a
// checkout may hold, room for history and for data that does not compress.
const DefaultMaxFetchSize int64 = 2 * DefaultMaxCheckoutSize

// cappedStorage is a working copy's object storage whose packfile writers
// refuse to write more than max bytes each (one per fetch).
type cappedStorage struct {
	*filesystem.Storage
	max int64
}

func (s cappedStorage) PackfileWriter() (io.WriteCloser, error) {
	w, err := s.Storage.PackfileWriter()
	if err != nil {
		return nil, err
	}
	return &cappedWriter{WriteCloser: w, left: s.max, max: s.max}, nil
}

// errFetchTooLarge ends a fetch whose pack passed the limit.
type errFetchTooLarge struct{ max int64 }

func (e errFetchTooLarge) Error() string {
	return fmt.Sprintf("the git server sent more than %s", humanBytes(e.max))
}

type cappedWriter struct {
	io.WriteCloser
	left, max int64
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.left {
		return 0, errFetchTooLarge{max: w.max}
	}
	w.left -= int64(len(p))
	return w.WriteCloser.Write(p)
}

// openWorkingCopy opens (or initialises) the working copy in dir with its
// object storage capped at maxFetch bytes per fetch.
func openWorkingCopy(dir string, maxFetch int64) (*git.Repository, error) {
	wt := osfs.New(dir)
	dot, err := wt.Chroot(git.GitDirName)
	if err != nil {
		return nil, err
	}
	st := cappedStorage{Storage: filesystem.NewStorage(dot, cache.NewObjectLRUDefault()), max: maxFetch}
	repo, err := git.Open(st, wt)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(st, wt)
	}
	return repo, err
}

// fetchLimitError turns a fetch stopped at the limit into a LimitError
// (retrying does not help: the repository must get smaller, or the limit
// larger).
func fetchLimitError(err error, url string, ref Ref, max int64) error {
	if !errors.As(err, new(errFetchTooLarge)) {
		return err
	}
	return &LimitError{msg: fmt.Sprintf("fetching %s from %s: nothing applied: the git server sent more than %s, the most one fetch may download (the controller's --git-max-fetch-size); "+
		"the objects stay as the last applied revision left them. Remove large files from the repository's history (or keep the manifests in a repository of their own)", ref, url, humanBytes(max))}
}

// gitDirSize is what a working copy's .git holds on disk. Fetches add
// packs and never remove any, so a source pushed to often (or on purpose
// with large commits) grows without end; past a limit its working copy
// starts over with a shallow clone.
func gitDirSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(filepath.Join(dir, git.GitDirName), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
		return nil
	})
	return total
}
