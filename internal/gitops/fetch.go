package gitops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Ref names what to check out. Exactly one of Branch, Tag or Commit is
// used, in that order of precedence reversed: Commit wins, then Tag, then
// Branch (default "main").
type Ref struct {
	Branch, Tag, Commit string
}

func (r Ref) String() string {
	switch {
	case r.Commit != "":
		return r.Commit
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Branch != "":
		return r.Branch
	}
	return "main"
}

// Credentials for a repository, from a Secret.
type Credentials struct {
	Username, Password string // HTTP basic auth
	BearerToken        string // HTTP bearer token
	SSHKey             []byte // PEM private key
	KnownHosts         []byte // known_hosts lines; without them, $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts (never unchecked)
}

// Revision is the commit a fetch checked out.
type Revision struct {
	// Hash is the full commit hash.
	Hash string
	// Ref is what was asked for (branch, tag or commit).
	Ref string
	// Author is "Name <email>" of the commit's author.
	Author string
	// Message is the commit message's first line.
	Message string
	// Time is the commit's author time.
	Time time.Time
}

// String is the revision the way status and the ledger show it: "main@sha1:abc123…".
func (r Revision) String() string { return r.Ref + "@sha1:" + r.Hash }

// Short is the first 12 characters of the hash.
func (r Revision) Short() string {
	if len(r.Hash) > 12 {
		return r.Hash[:12]
	}
	return r.Hash
}

// A repository is untrusted input, and the working copies of every team
// share one cache disk: a fetch has a deadline, and a commit is checked out
// only if what it would write stays within limits. (The render limits,
// RenderOptions, apply later and to what a render reads.)
const (
	// DefaultFetchTimeout bounds one fetch and checkout.
	DefaultFetchTimeout = 3 * time.Minute
	// DefaultMaxCheckoutSize is the most a checkout writes, all files
	// together: 4× what one render may read, room for files next to the
	// manifests.
	DefaultMaxCheckoutSize int64 = 4 * DefaultMaxTotalSize
	// DefaultMaxCheckoutFileSize is the largest file a checkout writes.
	// Rendering reads no file above DefaultMaxFileSize; this leaves room
	// for other files (GitHub refuses files above 100 MB).
	DefaultMaxCheckoutFileSize int64 = 64 << 20
	// DefaultMaxCheckoutFiles is the most files and directories a checkout
	// writes.
	DefaultMaxCheckoutFiles = 50_000
)

// FetchOptions limit one fetch. Zero fields mean the defaults.
type FetchOptions struct {
	// Timeout bounds a fetch and its checkout (DefaultFetchTimeout).
	Timeout time.Duration
	// MaxCheckoutSize is the most a commit's files may hold in all
	// (DefaultMaxCheckoutSize).
	MaxCheckoutSize int64
	// MaxCheckoutFileSize is the largest file a commit may hold
	// (DefaultMaxCheckoutFileSize).
	MaxCheckoutFileSize int64
	// MaxCheckoutFiles is the most files and directories a commit may
	// hold (DefaultMaxCheckoutFiles).
	MaxCheckoutFiles int
	// MaxFetchSize is the most one fetch may download (DefaultMaxFetchSize);
	// a working copy whose .git grew past twice that starts over.
	MaxFetchSize int64
}

func (o FetchOptions) withDefaults() FetchOptions {
	if o.Timeout <= 0 {
		o.Timeout = DefaultFetchTimeout
	}
	if o.MaxCheckoutSize <= 0 {
		o.MaxCheckoutSize = DefaultMaxCheckoutSize
	}
	if o.MaxCheckoutFileSize <= 0 {
		o.MaxCheckoutFileSize = DefaultMaxCheckoutFileSize
	}
	if o.MaxCheckoutFiles <= 0 {
		o.MaxCheckoutFiles = DefaultMaxCheckoutFiles
	}
	if o.MaxFetchSize <= 0 {
		o.MaxFetchSize = DefaultMaxFetchSize
	}
	return o
}

// Fetcher keeps one working copy per source in a cache directory and
// brings it to the wanted revision: a shallow clone the first time, a
// fetch afterwards.
type Fetcher struct {
	dir   string
	opts  FetchOptions
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// NewFetcher caches working copies under dir.
func NewFetcher(dir string, opts FetchOptions) *Fetcher {
	return &Fetcher{dir: dir, opts: opts.withDefaults(), locks: map[string]*sync.Mutex{}}
}

// LimitError is a commit refused because checking it out would write more
// than the limits allow, or a fetch stopped because the server sent more
// than one may download (Hash is then empty). Retrying does not help: it
// takes a new commit.
type LimitError struct {
	Hash string
	msg  string
}

func (e *LimitError) Error() string { return e.msg }

// TimeoutError is a fetch that ran out of its deadline.
type TimeoutError struct {
	Timeout time.Duration
	err     error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%v: the fetch took longer than %s (the controller's --git-fetch-timeout) and was stopped; nothing applied, "+
		"the objects stay as the last applied revision left them. Check that the git server answers; "+
		"a repository that needs longer to fetch needs a longer --git-fetch-timeout", e.err, e.Timeout)
}

func (e *TimeoutError) Unwrap() error { return e.err }

func (f *Fetcher) lock(key string) func() {
	f.mu.Lock()
	l, ok := f.locks[key]
	if !ok {
		l = &sync.Mutex{}
		f.locks[key] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Fetch checks out ref of url into the working copy named key and returns
// its directory and the revision. A commit above the limits is not checked
// out: the error is a *LimitError, and the Revision names the commit.
func (f *Fetcher) Fetch(ctx context.Context, key, url string, ref Ref, creds *Credentials) (string, Revision, error) {
	defer f.lock(key)()
	url = normalizeURL(url)
	auth, err := authFor(url, creds)
	if err != nil {
		return "", Revision{}, err
	}
	// A git server that accepts the connection and then never answers
	// must not hold a worker and this source's lock for ever.
	fctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	dir := filepath.Join(f.dir, key)
	if gitDirSize(dir) > 2*f.opts.MaxFetchSize {
		_ = os.RemoveAll(dir) // grown by many fetches: start over
	}
	rev, err := f.fetch(fctx, dir, url, ref, auth)
	var limit *LimitError
	if errors.As(err, &limit) && limit.Hash == "" {
		// Stopped mid-pack: what was written is of no use.
		_ = os.RemoveAll(dir)
	}
	if err != nil && !errors.As(err, &limit) && fctx.Err() == nil {
		// A damaged working copy must not wedge the source: start over once.
		if rmErr := os.RemoveAll(dir); rmErr == nil {
			rev, err = f.fetch(fctx, dir, url, ref, auth)
		}
	}
	switch {
	case errors.As(err, &limit):
		return "", rev, err
	case err != nil && ctx.Err() == nil && errors.Is(fctx.Err(), context.DeadlineExceeded):
		return "", Revision{}, &TimeoutError{Timeout: f.opts.Timeout, err: err}
	case err != nil:
		return "", Revision{}, err
	}
	return dir, rev, nil
}

func (f *Fetcher) fetch(ctx context.Context, dir, url string, ref Ref, auth transport.AuthMethod) (Revision, error) {
	repo, err := openWorkingCopy(dir, f.opts.MaxFetchSize)
	if err != nil {
		return Revision{}, fmt.Errorf("opening working copy: %w", err)
	}
	if _, err := repo.Remote("origin"); errors.Is(err, git.ErrRemoteNotFound) {
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
			return Revision{}, fmt.Errorf("opening working copy: %w", err)
		}
	} else if remote, err := repo.Remote("origin"); err == nil && remote.Config().URLs[0] != url {
		// The URL changed: drop the old copy's remote and fetch anew.
		_ = repo.DeleteRemote("origin")
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
			return Revision{}, err
		}
	}

	var refSpec config.RefSpec
	var local plumbing.ReferenceName
	depth := 1
	switch {
	case ref.Commit != "":
		// Fetching an arbitrary commit needs the history that contains it.
		refSpec = "+refs/heads/*:refs/remotes/origin/*"
		depth = 0
	case ref.Tag != "":
		local = plumbing.NewTagReferenceName(ref.Tag)
		refSpec = config.RefSpec(fmt.Sprintf("+%s:%s", local, local))
	default:
		branch := ref.Branch
		if branch == "" {
			branch = "main"
		}
		local = plumbing.NewRemoteReferenceName("origin", branch)
		refSpec = config.RefSpec(fmt.Sprintf("+refs/heads/%s:%s", branch, local))
	}
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin", RefSpecs: []config.RefSpec{refSpec}, Depth: depth, Auth: auth, Force: true, Tags: git.NoTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if limit := fetchLimitError(err, url, ref, f.opts.MaxFetchSize); limit != err {
			return Revision{}, limit
		}
		return Revision{}, fmt.Errorf("fetching %s from %s: %w", ref, url, err)
	}

	var hash plumbing.Hash
	if ref.Commit != "" {
		h, err := repo.ResolveRevision(plumbing.Revision(ref.Commit))
		if err != nil {
			return Revision{}, fmt.Errorf("commit %s not found in %s: %w", ref.Commit, url, err)
		}
		hash = *h
	} else {
		r, err := repo.Reference(local, true)
		if err != nil {
			return Revision{}, fmt.Errorf("%s not found in %s: %w", ref, url, err)
		}
		hash = r.Hash()
		if tag, err := repo.TagObject(hash); err == nil { // annotated tag
			c, err := tag.Commit()
			if err != nil {
				return Revision{}, err
			}
			hash = c.Hash
		}
	}
	c, err := repo.CommitObject(hash)
	if err != nil {
		return Revision{}, err
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	rev := Revision{
		Hash: hash.String(), Ref: ref.String(),
		Author: fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email), Message: msg, Time: c.Author.When.UTC(),
	}
	// The whole tree, not only spec.path: kustomize bases and symlinks may
	// reach anywhere in the repository, so all of it is checked out.
	if err := checkCheckout(ctx, repo, c, f.opts); err != nil {
		return rev, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return Revision{}, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return Revision{}, fmt.Errorf("checking out %s: %w", hash, err)
	}
	return rev, nil
}

// checkCheckout refuses commit c when checking it out would write more than
// opts allow. Blob sizes come from the object headers in the pack, so
// nothing is inflated; the walk stops at the first limit passed (a tree
// that names one subtree many times could otherwise go on for ever).
func checkCheckout(ctx context.Context, repo *git.Repository, c *object.Commit, opts FetchOptions) error {
	tree, err := c.Tree()
	if err != nil {
		return fmt.Errorf("reading the tree of %s: %w", c.Hash, err)
	}
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	short := c.Hash.String()[:12]
	refuse := func(format string, args ...any) error {
		return &LimitError{Hash: c.Hash.String(), msg: fmt.Sprintf("revision %s: nothing applied, nothing checked out: ", short) +
			fmt.Sprintf(format, args...) + "; the objects stay as the last applied revision left them. " +
			"Remove the files from the repository (or keep the manifests in a repository of their own) and push a new commit"}
	}
	type file struct {
		name string
		size int64
	}
	var total int64
	var largest []file // the largest few, for the message
	entries := 0
	sizes := map[plumbing.Hash]int64{}
	for {
		name, e, err := w.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the tree of %s: %w", c.Hash, err)
		}
		entries++
		if entries > opts.MaxCheckoutFiles {
			return refuse("the commit has more than %d files and directories, the limit of a checkout", opts.MaxCheckoutFiles)
		}
		if entries%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
			continue // submodules are not checked out
		}
		size, ok := sizes[e.Hash]
		if !ok {
			if size, err = repo.Storer.EncodedObjectSize(e.Hash); err != nil {
				return fmt.Errorf("reading the size of %s in %s: %w", name, c.Hash, err)
			}
			sizes[e.Hash] = size
		}
		if size > opts.MaxCheckoutFileSize {
			return refuse("%s has %s, more than the %s a file may have (the checkout limit per file)", name, humanBytes(size), humanBytes(opts.MaxCheckoutFileSize))
		}
		total += size
		largest = append(largest, file{name, size})
		slices.SortFunc(largest, func(a, b file) int { return cmp.Compare(b.size, a.size) })
		largest = largest[:min(len(largest), 3)]
		if total > opts.MaxCheckoutSize {
			names := make([]string, len(largest))
			for i, f := range largest {
				names[i] = fmt.Sprintf("%s (%s)", f.name, humanBytes(f.size))
			}
			return refuse("the commit's files hold more than %s, the limit of a checkout (%s in the first %d files; the largest: %s)",
				humanBytes(opts.MaxCheckoutSize), humanBytes(total), entries, strings.Join(names, ", "))
		}
	}
}

// humanBytes is n in MiB, KiB or bytes, the way the limits are documented.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// normalizeURL turns a local path into a file:// URL.
func normalizeURL(url string) string {
	if strings.Contains(url, "://") || strings.HasPrefix(url, "git@") {
		return url
	}
	if abs, err := filepath.Abs(url); err == nil {
		return "file://" + abs
	}
	return url
}

// AuthMethod returns the go-git authentication for url from c (nil when
// none applies), so other packages that push or clone use the same rules
// as the Fetcher.
func AuthMethod(url string, c *Credentials) (transport.AuthMethod, error) { return authFor(url, c) }

func authFor(url string, c *Credentials) (transport.AuthMethod, error) {
	if c == nil {
		return nil, nil
	}
	switch {
	case strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://"):
		if c.BearerToken != "" {
			return &http.TokenAuth{Token: c.BearerToken}, nil
		}
		if c.Username != "" || c.Password != "" {
			return &http.BasicAuth{Username: c.Username, Password: c.Password}, nil
		}
	case strings.HasPrefix(url, "ssh://") || strings.HasPrefix(url, "git@"):
		if len(c.SSHKey) == 0 {
			return nil, nil
		}
		user := c.Username
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, c.SSHKey, c.Password)
		if err != nil {
			return nil, fmt.Errorf("reading the SSH key from the credentials Secret: %w", err)
		}
		if len(c.KnownHosts) > 0 {
			cb, err := knownHostsCallback(c.KnownHosts)
			if err != nil {
				return nil, err
			}
			keys.HostKeyCallback = cb
		}
		return keys, nil
	}
	return nil, nil
}

func knownHostsCallback(data []byte) (ssh.HostKeyCallback, error) {
	f, err := os.CreateTemp("", "known_hosts")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	return gitssh.NewKnownHostsCallback(f.Name())
}
