// Package backport writes changes made to live objects during a break-glass
// back into the GitOps repository: as one commit on a new branch, ready for
// a pull request, editing the manifests in place so that their comments
// and formatting survive and the diff shows only what changed.
package backport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/infraplane/infraplane/internal/gitops"
)

// Field is one value to write. Path is the field's path in the manifest,
// e.g. {"spec", "ackDeadlineSeconds"} or {"metadata", "labels",
// "app.kubernetes.io/name"}: segments, so keys may contain dots. Value is
// JSON-compatible (string, int64, float64, bool, nil, map[string]any,
// []any), as read from a live object. Remove deletes the field instead.
type Field struct {
	Path   []string
	Value  any
	Remove bool
}

// Change is what to write for one object, named as in the manifests
// (metadata.name). The namespace is ignored because the syncer sets it;
// the version in APIVersion is too, because the live object may be served
// at a newer one: objects match on API group, kind and name.
type Change struct {
	APIVersion, Kind, Name string
	Fields                 []Field
}

// Options say where the manifests are and how to commit.
type Options struct {
	// URL is the repository: a local path, or a file://, https:// or ssh:// URL.
	URL string
	// Base is the branch to start from; "" is the remote's default branch.
	Base string
	// Path is the directory of the manifests in the repository (the
	// GitSource's spec.path); "" is the root.
	Path string
	// Branch is the branch to create. It must not exist yet: a backport
	// never rewrites someone's branch.
	Branch string
	// Credentials for https or ssh URLs, as the GitSource's Secret holds them.
	Credentials *gitops.Credentials
	// Author and Email sign the commit.
	Author, Email string
	// Message is the commit message; a default names the objects.
	Message string
	// WorkDir is where the scratch clone goes (default the system's temp
	// directory); the clone is removed afterwards.
	WorkDir string
}

// Result is what was pushed.
type Result struct {
	Branch string
	// Commit is the new commit's hash.
	Commit string
	// Files are the changed files, relative to the repository root.
	Files []string
}

// ErrUpToDate is returned when the repository already has every value, so
// that callers can tell "nothing to do" from a failure.
var ErrUpToDate = errors.New("git already has these values; nothing to backport")

// Backport clones the repository, writes changes into the manifests that
// define the objects, checks by rendering them again that the objects now
// have the values, commits on a new branch and pushes only that branch.
// When anything fails nothing is pushed.
func Backport(ctx context.Context, opts Options, changes []Change) (Result, error) {
	if err := opts.validate(changes); err != nil {
		return Result{}, err
	}
	url := opts.URL
	if !strings.Contains(url, "://") && !strings.HasPrefix(url, "git@") {
		if abs, err := filepath.Abs(url); err == nil {
			url = abs
		}
	}
	auth, err := gitops.AuthMethod(url, opts.Credentials)
	if err != nil {
		return Result{}, err
	}
	if err := checkBranchFree(ctx, url, opts.Branch, auth); err != nil {
		return Result{}, err
	}

	dir, err := os.MkdirTemp(opts.WorkDir, "infraplane-backport-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	clone := &git.CloneOptions{URL: url, Auth: auth, Tags: git.NoTags}
	if opts.Base != "" {
		clone.ReferenceName, clone.SingleBranch = plumbing.NewBranchReferenceName(opts.Base), true
	}
	repo, err := git.PlainCloneContext(ctx, dir, false, clone)
	if err != nil {
		if opts.Base != "" && (errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")) {
			return Result{}, fmt.Errorf("base branch %q not found in %s", opts.Base, opts.URL)
		}
		return Result{}, fmt.Errorf("cloning %s: %w", opts.URL, err)
	}
	head, err := repo.Head()
	if err != nil {
		return Result{}, fmt.Errorf("%s has no commit to start from: %w", opts.URL, err)
	}
	base := head.Name().Short()
	wt, err := repo.Worktree()
	if err != nil {
		return Result{}, err
	}
	branch := plumbing.NewBranchReferenceName(opts.Branch)
	if err := wt.Checkout(&git.CheckoutOptions{Branch: branch, Create: true}); err != nil {
		return Result{}, fmt.Errorf("creating branch %q: %w", opts.Branch, err)
	}

	root := filepath.Join(dir, filepath.FromSlash(opts.Path))
	if rel, err := filepath.Rel(dir, root); err != nil || strings.HasPrefix(rel, "..") {
		return Result{}, fmt.Errorf("path %q is outside the repository", opts.Path)
	}
	if _, err := os.Stat(root); err != nil {
		return Result{}, fmt.Errorf("path %q not found in %s at %s", opts.Path, opts.URL, base)
	}
	files, err := apply(dir, root, changes)
	if err != nil {
		return Result{}, fmt.Errorf("%s at %s: %w", opts.URL, base, err)
	}

	for _, f := range files {
		if _, err := wt.Add(f); err != nil {
			return Result{}, fmt.Errorf("adding %s: %w", f, err)
		}
	}
	msg := opts.Message
	if msg == "" {
		msg = defaultMessage(changes)
	}
	sig := &object.Signature{Name: opts.Author, Email: opts.Email, When: time.Now()}
	hash, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return Result{}, fmt.Errorf("committing: %w", err)
	}
	spec := config.RefSpec(fmt.Sprintf("%s:%s", branch, branch)) // no "+": never overwrite
	if err := repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: auth}); err != nil {
		return Result{}, fmt.Errorf("pushing branch %q to %s: %w", opts.Branch, opts.URL, err)
	}
	return Result{Branch: opts.Branch, Commit: hash.String(), Files: files}, nil
}

func (o Options) validate(changes []Change) error {
	var problems []string
	if o.URL == "" {
		problems = append(problems, "a repository URL is required")
	}
	if o.Branch == "" {
		problems = append(problems, "a branch name to create is required")
	} else if err := plumbing.NewBranchReferenceName(o.Branch).Validate(); err != nil {
		problems = append(problems, fmt.Sprintf("%q is not a valid branch name", o.Branch))
	}
	if o.Author == "" || o.Email == "" {
		problems = append(problems, "a commit author name and email are required")
	}
	if len(changes) == 0 {
		problems = append(problems, "no changes to backport")
	}
	for _, c := range changes {
		if c.APIVersion == "" || c.Kind == "" || c.Name == "" {
			problems = append(problems, fmt.Sprintf("change %s/%s: apiVersion, kind and name are required", c.Kind, c.Name))
		}
		for _, f := range c.Fields {
			if len(f.Path) == 0 || containsEmpty(f.Path) {
				problems = append(problems, fmt.Sprintf("change %s/%s: field path %q has an empty segment", c.Kind, c.Name, strings.Join(f.Path, ".")))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func containsEmpty(path []string) bool {
	for _, p := range path {
		if p == "" {
			return true
		}
	}
	return false
}

// checkBranchFree fails early, before cloning, when the branch exists.
func checkBranchFree(ctx context.Context, url, branch string, auth transport.AuthMethod) error {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	want := plumbing.NewBranchReferenceName(branch)
	for _, r := range refs {
		if r.Name() == want {
			return fmt.Errorf("branch %q already exists in %s; choose another branch name or delete that branch", branch, url)
		}
	}
	return nil
}

func defaultMessage(changes []Change) string {
	names := make([]string, 0, len(changes))
	for _, c := range changes {
		names = append(names, c.Kind+"/"+c.Name)
	}
	sort.Strings(names)
	return "Backport break-glass changes to " + strings.Join(names, ", ") + "\n"
}
