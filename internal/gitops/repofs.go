package gitops

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// A repository is untrusted input: rendering reads only regular files
// inside it, each and all of them up to a size.
const (
	// DefaultMaxFileSize is the largest file a render reads.
	DefaultMaxFileSize int64 = 4 << 20
	// DefaultMaxTotalSize is the most one render reads in all.
	DefaultMaxTotalSize int64 = 64 << 20
)

// RenderOptions limits what one render reads. Zero fields mean the
// defaults.
type RenderOptions struct {
	// MaxFileSize is the largest file read (DefaultMaxFileSize).
	MaxFileSize int64
	// MaxTotalSize is the most read by one render, all files together
	// (DefaultMaxTotalSize).
	MaxTotalSize int64
}

func (o RenderOptions) withDefaults() RenderOptions {
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.MaxTotalSize <= 0 {
		o.MaxTotalSize = DefaultMaxTotalSize
	}
	return o
}

// RepoRoot returns the repository DIR belongs to, for commands that render
// a local directory (validate, plan) to read what the syncer would: the
// git work tree containing DIR (the nearest directory at or above it with a
// .git, a directory or, in a worktree or submodule, a file), else DIR
// itself. The result is absolute.
func RepoRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	starts := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		starts = append(starts, real)
	}
	for _, start := range starts {
		for d := start; ; {
			if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
				return d
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return abs
}

// repoFS reads one repository for one render. Paths are relative to the
// repository root, slash-separated and clean; every one is resolved inside
// the root, symlinks included (os.Root refuses a symlink that leads
// outside). Only regular files are read (never a device, FIFO or socket),
// each up to MaxFileSize, all together up to MaxTotalSize.
type repoFS struct {
	root  *os.Root
	dir   string // the rendered directory, relative to the root
	opts  RenderOptions
	total int64
}

// openRepo opens root for rendering dir, which must be inside it
// (lexically, or once symlinks are resolved).
func openRepo(root, dir string, opts RenderOptions) (*repoFS, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	rel, ok := inside(absRoot, absDir)
	if !ok {
		// The caller's own path may go through symlinks (a temporary
		// directory, a checkout linked elsewhere): compare real paths.
		realRoot, err1 := filepath.EvalSymlinks(absRoot)
		realDir, err2 := filepath.EvalSymlinks(absDir)
		if err1 == nil && err2 == nil {
			rel, ok = inside(realRoot, realDir)
		}
	}
	if !ok {
		return nil, fmt.Errorf("%s is not inside the repository %s", dir, root)
	}
	if hasGitDir(rel) {
		return nil, fmt.Errorf("%s is inside the .git directory, which holds no manifests", dir)
	}
	r, err := os.OpenRoot(absRoot)
	if err != nil {
		return nil, fmt.Errorf("opening the repository: %w", err)
	}
	info, err := r.Stat(filepath.FromSlash(rel))
	if err != nil {
		r.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", dir, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("reading %s: %w (it must be a directory inside the repository %s)", dir, unwrapPath(err), root)
	}
	if !info.IsDir() {
		r.Close()
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return &repoFS{root: r, dir: rel, opts: opts.withDefaults()}, nil
}

func (r *repoFS) Close() error { return r.root.Close() }

// inside returns dir relative to root, slash-separated, when dir is root
// or beneath it.
func inside(root, dir string) (string, bool) {
	rel, err := filepath.Rel(root, dir)
	if err != nil || filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// hasGitDir says whether a repository path goes through .git.
func hasGitDir(rel string) bool {
	for _, c := range strings.Split(rel, "/") {
		if strings.EqualFold(c, ".git") {
			return true
		}
	}
	return false
}

// display is a repository path as messages and Sources name files:
// relative to the rendered directory, in the platform's form.
func (r *repoFS) display(rel string) string {
	d, err := filepath.Rel("/"+r.dir, "/"+rel)
	if err != nil {
		return filepath.FromSlash(rel)
	}
	return d
}

// stat follows symlinks inside the repository.
func (r *repoFS) stat(rel string) (fs.FileInfo, error) {
	info, err := r.root.Stat(filepath.FromSlash(rel))
	if err != nil {
		return nil, r.explain(rel, err)
	}
	return info, nil
}

// read returns the contents of a regular file of the repository, within
// the limits. Errors say why, naming the file as display does.
func (r *repoFS) read(rel string) ([]byte, error) {
	name := filepath.FromSlash(rel)
	info, err := r.root.Stat(name)
	if err != nil {
		return nil, r.explain(rel, err)
	}
	// Stat first: opening a FIFO would block, opening a device may act.
	if err := r.regular(rel, info); err != nil {
		return nil, err
	}
	if info.Size() > r.opts.MaxFileSize {
		return nil, r.tooLarge(rel)
	}
	// O_NONBLOCK: should the file be swapped for a FIFO since the Stat,
	// the open still returns, and the Stat of the open file refuses it.
	f, err := r.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, r.explain(rel, err)
	}
	defer f.Close()
	if info, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := r.regular(rel, info); err != nil {
		return nil, err
	}
	limit := min(r.opts.MaxFileSize, r.opts.MaxTotalSize-r.total)
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, r.fail(rel, err)
	}
	if int64(len(data)) > r.opts.MaxFileSize {
		return nil, r.tooLarge(rel)
	}
	if r.total+int64(len(data)) > r.opts.MaxTotalSize {
		return nil, r.fail(rel, fmt.Errorf("not read: the files rendered together exceed %s, the limit of one render", size(r.opts.MaxTotalSize)))
	}
	r.total += int64(len(data))
	return data, nil
}

func (r *repoFS) tooLarge(rel string) error {
	return r.fail(rel, fmt.Errorf("not read: larger than %s, the limit for one file", size(r.opts.MaxFileSize)))
}

// regular refuses anything but a regular file.
func (r *repoFS) regular(rel string, info fs.FileInfo) error {
	m := info.Mode()
	var what string
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0:
		what = "a device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	default:
		what = "not a regular file"
	}
	if l, err := r.root.Lstat(filepath.FromSlash(rel)); err == nil && l.Mode()&fs.ModeSymlink != 0 {
		if target, err := r.root.Readlink(filepath.FromSlash(rel)); err == nil {
			return r.fail(rel, fmt.Errorf("not read: a symlink to %s, which is %s; only regular files are read", target, what))
		}
	}
	return r.fail(rel, fmt.Errorf("not read: %s; only regular files are read", what))
}

// explain turns an error of os.Root into a message naming the file.
func (r *repoFS) explain(rel string, err error) error {
	var target string
	if l, lerr := r.root.Lstat(filepath.FromSlash(rel)); lerr == nil && l.Mode()&fs.ModeSymlink != 0 {
		target, _ = r.root.Readlink(filepath.FromSlash(rel))
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && target != "":
		err = fmt.Errorf("a symlink to %s, which does not exist", target)
	case errors.Is(err, fs.ErrNotExist):
		err = errors.New("no such file or directory in the repository")
	case isEscape(err) && target != "":
		err = fmt.Errorf("not read: a symlink to %s, outside the repository", target)
	case isEscape(err):
		err = errors.New("not read: its path leads outside the repository through a symlink")
	default:
		err = unwrapPath(err)
	}
	return r.fail(rel, err)
}

// fileError is a problem with one file of the repository.
type fileError struct {
	file string // as display names it
	err  error
}

func (e *fileError) Error() string { return e.file + ": " + e.err.Error() }

func (r *repoFS) fail(rel string, err error) error {
	return &fileError{r.display(rel), err}
}

// isEscape says whether os.Root refused a path for leaving the root. The
// error is not exported; its text is.
func isEscape(err error) bool {
	return strings.Contains(err.Error(), "path escapes from parent")
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// size formats a byte count the way limits are written.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// join resolves a path relative to a repository directory, as kustomize
// does in memory: lexically. A ".." that would leave the repository, or
// climb out of a directory that is a symlink (where kustomize on disk and
// in memory disagree), is refused, as is any path through .git.
func (r *repoFS) join(dir, p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) {
		return "", errors.New("an absolute path: paths must be relative, inside the repository")
	}
	var stack []string
	for _, c := range strings.Split(dir+"/"+filepath.ToSlash(p), "/") {
		switch c {
		case "", ".":
		case "..":
			if len(stack) == 0 {
				return "", errors.New("leads outside the repository")
			}
			cur := strings.Join(stack, "/")
			if l, err := r.root.Lstat(filepath.FromSlash(cur)); err == nil && l.Mode()&fs.ModeSymlink != 0 {
				return "", fmt.Errorf("climbs out of %s, a symlink, with \"..\": refer to the directory itself", r.display(cur))
			}
			stack = stack[:len(stack)-1]
		default:
			if strings.EqualFold(c, ".git") {
				return "", errors.New("inside the .git directory, which holds no manifests")
			}
			stack = append(stack, c)
		}
	}
	if len(stack) == 0 {
		return ".", nil
	}
	return path.Join(stack...), nil
}
