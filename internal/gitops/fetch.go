package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
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

// Fetcher keeps one working copy per source in a cache directory and
// brings it to the wanted revision: a shallow clone the first time, a
// fetch afterwards.
type Fetcher struct {
	dir   string
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// NewFetcher caches working copies under dir.
func NewFetcher(dir string) *Fetcher {
	return &Fetcher{dir: dir, locks: map[string]*sync.Mutex{}}
}

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
// its directory and the revision.
func (f *Fetcher) Fetch(ctx context.Context, key, url string, ref Ref, creds *Credentials) (string, Revision, error) {
	defer f.lock(key)()
	url = normalizeURL(url)
	auth, err := authFor(url, creds)
	if err != nil {
		return "", Revision{}, err
	}
	dir := filepath.Join(f.dir, key)
	rev, err := f.fetch(ctx, dir, url, ref, auth)
	if err != nil {
		// A damaged working copy must not wedge the source: start over once.
		if rmErr := os.RemoveAll(dir); rmErr == nil {
			rev, err = f.fetch(ctx, dir, url, ref, auth)
		}
	}
	if err != nil {
		return "", Revision{}, err
	}
	return dir, rev, nil
}

func (f *Fetcher) fetch(ctx context.Context, dir, url string, ref Ref, auth transport.AuthMethod) (Revision, error) {
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{Bare: false})
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
		}
	}
	if err != nil {
		return Revision{}, fmt.Errorf("opening working copy: %w", err)
	}
	if remote, err := repo.Remote("origin"); err == nil && remote.Config().URLs[0] != url {
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
	wt, err := repo.Worktree()
	if err != nil {
		return Revision{}, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return Revision{}, fmt.Errorf("checking out %s: %w", hash, err)
	}
	c, err := repo.CommitObject(hash)
	if err != nil {
		return Revision{}, err
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return Revision{
		Hash: hash.String(), Ref: ref.String(),
		Author: fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email), Message: msg, Time: c.Author.When.UTC(),
	}, nil
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
