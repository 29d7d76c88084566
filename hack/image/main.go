// Command image builds infraplane's container image without a container
// engine: a static linux binary of ./cmd/infraplane on an empty base, with
// CA certificates and a nonroot user, written as an OCI image layout (and,
// if asked, a tarball for `docker load` and a push to a registry).
//
//	go run ./hack/image                       # bin/image (OCI layout)
//	go run ./hack/image --tar bin/image.tar   # also a tarball
//	go run ./hack/image --push ghcr.io/infraplane/infraplane:v0.1.0
//
// The build is reproducible: the same commit (and SOURCE_DATE_EPOCH) gives
// the same image digest on any machine with the same Go release.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// versionVar is the variable -ldflags -X sets to the version.
const versionVar = "github.com/infraplane/infraplane/internal/version.Version"

type options struct {
	out, tar, push string
	repo           string
	version        string
	revision       string
	epoch          string
	arch           string
	caCerts        string
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bin/image", "directory of the OCI image layout (replaced)")
	flag.StringVar(&o.tar, "tar", "", "also write a tarball of the image to this file (`docker load -i` / `podman load -i`)")
	flag.StringVar(&o.push, "push", "", "also push the image to this reference (e.g. "+DefaultRepository+":v0.1.0), with the credentials of ~/.docker/config.json")
	flag.StringVar(&o.repo, "repo", DefaultRepository, "repository the image is named after in the layout and tarball (tag: the version)")
	flag.StringVar(&o.version, "version", "", "version compiled into the binary and in the labels (default: git describe, or dev-<commit> without a tag)")
	flag.StringVar(&o.revision, "revision", "", "git commit in the labels (default: HEAD)")
	flag.StringVar(&o.epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time of every time stamp in the image (default: $SOURCE_DATE_EPOCH, else HEAD's commit time)")
	flag.StringVar(&o.arch, "arch", "amd64", "GOARCH of the binary and the image")
	flag.StringVar(&o.caCerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA certificates copied into the image")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "image: unexpected arguments %q (flags only; see -help)\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	spec, err := specFor(ctx, root, o)
	if err != nil {
		return err
	}
	// Checked before the minutes of compiling.
	ref := o.repo + ":" + spec.Version
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("--repo %q and version %q make no valid image reference: %w", o.repo, spec.Version, err)
	}
	var dst name.Reference
	if o.push != "" {
		if dst, err = name.ParseReference(o.push); err != nil {
			return fmt.Errorf("--push %q: %w", o.push, err)
		}
	}
	work, err := os.MkdirTemp("", "infraplane-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	start := time.Now()
	img, err := buildImage(ctx, root, work, spec)
	if err != nil {
		return err
	}
	if err := writeLayout(o.out, img, ref); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n  OCI layout: %s (%s)\n", ref, digest, o.out, time.Since(start).Round(time.Second))
	if o.tar != "" {
		if err := os.MkdirAll(filepath.Dir(o.tar), 0o755); err != nil {
			return err
		}
		if err := tarball.WriteToFile(o.tar, tag, img); err != nil {
			return fmt.Errorf("writing the tarball %s: %w", o.tar, err)
		}
		fmt.Printf("  tarball:    %s\n", o.tar)
	}
	if dst != nil {
		if err := remote.Write(dst, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("pushing to %s: %w (log in first, e.g. `docker login %s`, or write ~/.docker/config.json)", dst, err, dst.Context().RegistryStr())
		}
		fmt.Printf("  pushed:     %s@%s\n", dst, digest)
	}
	return nil
}

// buildImage compiles the binary into work and assembles the image.
func buildImage(ctx context.Context, root, work string, spec imageSpec) (v1.Image, error) {
	bin := filepath.Join(work, "infraplane")
	if err := buildBinary(ctx, root, bin, spec); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	return assemble(data, spec)
}

// buildBinary compiles ./cmd/infraplane for linux without cgo (the image
// has no libc), with no file system paths and no VCS stamp in it, so two
// builds of one tree give the same bytes.
func buildBinary(ctx context.Context, root, out string, spec imageSpec) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X "+versionVar+"="+spec.Version, "-o", out, "./cmd/infraplane")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+spec.Arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/infraplane for linux/%s: %w", spec.Arch, err)
	}
	return nil
}

// specFor fills in what the flags leave unset from git and the machine.
func specFor(ctx context.Context, root string, o options) (imageSpec, error) {
	s := imageSpec{Version: o.version, Revision: o.revision, Arch: o.arch}
	var err error
	if s.Version == "" {
		if s.Version, err = gitVersion(ctx, root); err != nil {
			return s, fmt.Errorf("finding the version: %w (pass --version)", err)
		}
	}
	if s.Revision == "" {
		if s.Revision, err = git(ctx, root, "rev-parse", "HEAD"); err != nil {
			return s, fmt.Errorf("finding the revision: %w (pass --revision)", err)
		}
	}
	epoch := o.epoch
	if epoch == "" {
		if epoch, err = git(ctx, root, "log", "-1", "--format=%ct"); err != nil {
			return s, fmt.Errorf("finding HEAD's commit time: %w (set SOURCE_DATE_EPOCH)", err)
		}
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return s, fmt.Errorf("source date epoch %q is not a Unix time in seconds", epoch)
	}
	s.Created = time.Unix(secs, 0).UTC()
	if s.CACerts, err = os.ReadFile(o.caCerts); err != nil {
		return s, fmt.Errorf("reading CA certificates: %w (install ca-certificates, or pass --ca-certs)", err)
	}
	return s, nil
}

// gitVersion is the nearest tag (v1.2.3, v1.2.3-4-gabcdef012345), or
// dev-<commit> where there is none; -dirty when the tree has changes.
func gitVersion(ctx context.Context, root string) (string, error) {
	v, err := git(ctx, root, "describe", "--tags", "--always", "--dirty", "--abbrev=12")
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(v, "v") {
		v = "dev-" + v
	}
	return v, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// moduleRoot is the directory of infraplane's go.mod, wherever this runs
// from inside the repository.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside infraplane's module: run this from the repository")
	}
	return filepath.Dir(gomod), nil
}
