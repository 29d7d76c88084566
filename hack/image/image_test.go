package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func testSpec() imageSpec {
	return imageSpec{
		Version:  "v0.0.0-imagetest",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Arch:     "amd64",
		Created:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		CACerts:  []byte("-----BEGIN CERTIFICATE-----\nnot a real one\n-----END CERTIFICATE-----\n"),
	}
}

// The image as written to and read back from an OCI layout: its config,
// and a file system with the binary, CA certificates and a passwd, and
// nothing else (no shell).
func TestAssembledImage(t *testing.T) {
	spec := testSpec()
	binary := []byte("\x7fELF stand-in for the binary")
	img, err := assemble(binary, spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := writeLayout(dir, img, DefaultRepository+":"+spec.Version); err != nil {
		t.Fatal(err)
	}
	img, err = readLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("the layout's image is not valid: %v", err)
	}
	checkConfig(t, img, spec)

	headers, contents, err := layerFiles(img)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range headers {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	want := []string{"/etc/", "/etc/group", "/etc/passwd", "/etc/ssl/", "/etc/ssl/certs/", "/etc/ssl/certs/ca-certificates.crt",
		"/home/", "/home/nonroot/", "/infraplane", "/tmp/"}
	if !slices.Equal(paths, want) {
		t.Fatalf("files in the image:\n  %s\nwant:\n  %s", strings.Join(paths, "\n  "), strings.Join(want, "\n  "))
	}
	if !bytes.Equal(contents["/infraplane"], binary) || headers["/infraplane"].Mode != 0o755 {
		t.Errorf("/infraplane: mode %o, %d bytes; want the binary, mode 755", headers["/infraplane"].Mode, len(contents["/infraplane"]))
	}
	if !bytes.Equal(contents["/etc/ssl/certs/ca-certificates.crt"], spec.CACerts) {
		t.Errorf("the CA bundle is not the one given")
	}
	if !strings.Contains(string(contents["/etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", contents["/etc/passwd"])
	}
	if h := headers["/home/nonroot/"]; h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("/home/nonroot is owned by %d:%d, want 65532:65532", h.Uid, h.Gid)
	}
	for p, h := range headers {
		if !h.ModTime.Equal(spec.Created) {
			t.Errorf("%s has time %s, want the source date %s", p, h.ModTime, spec.Created)
		}
	}
}

// checkConfig checks what a runtime reads from the image's config.
func checkConfig(t *testing.T, img v1.Image, spec imageSpec) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/infraplane"}) || !slices.Equal(c.Cmd, []string{"controller"}) {
		t.Errorf("entrypoint %q, cmd %q; want [/infraplane] [controller]", c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (not root)", c.User)
	}
	if cf.OS != "linux" || cf.Architecture != spec.Arch {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, spec.Arch)
	}
	if !cf.Created.Time.Equal(spec.Created) {
		t.Errorf("created %s, want the source date %s", cf.Created.Time, spec.Created)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/infraplane/infraplane",
		"org.opencontainers.image.version":  spec.Version,
		"org.opencontainers.image.revision": spec.Revision,
	} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || len(m.Layers) != 1 {
		t.Errorf("manifest %s with %d layers, want an OCI manifest with one layer", m.MediaType, len(m.Layers))
	}
}

// The same inputs give the same digest; the time stamp is part of them.
func TestAssembleIsReproducible(t *testing.T) {
	spec := testSpec()
	binary := bytes.Repeat([]byte("infraplane"), 1000)
	digest := func(s imageSpec) v1.Hash {
		img, err := assemble(binary, s)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := digest(spec), digest(spec)
	if a != b {
		t.Fatalf("two images of the same inputs differ: %s and %s", a, b)
	}
	later := spec
	later.Created = spec.Created.Add(time.Second)
	if digest(later) == a {
		t.Fatalf("another source date gave the same digest: the time stamps are not in the image")
	}
}

func TestAssembleRefusesNoCACerts(t *testing.T) {
	spec := testSpec()
	spec.CACerts = nil
	if _, err := assemble([]byte("x"), spec); err == nil || !strings.Contains(err.Error(), "--ca-certs") {
		t.Fatalf("want an error naming --ca-certs, got %v", err)
	}
}

// TestImageBuild builds the real image twice: the digests are equal, and
// the binary extracted from the image is static and runs. The first build
// compiles the whole binary for linux without cgo (minutes on a cold
// build cache), so it runs only when INFRAPLANE_IMAGE_TEST=1 (.ci/run sets
// it, in a step of its own).
func TestImageBuild(t *testing.T) {
	if os.Getenv("INFRAPLANE_IMAGE_TEST") != "1" {
		t.Skip("set INFRAPLANE_IMAGE_TEST=1 to build the image (a full static build of ./cmd/infraplane)")
	}
	ctx := context.Background()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := testSpec()
	if spec.CACerts, err = os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Fatalf("the image copies the machine's CA bundle: %v (apt-get install ca-certificates)", err)
	}
	first, err := buildImage(ctx, root, t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	second, err := buildImage(ctx, root, t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := first.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := second.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("two builds of one tree gave different images: %s and %s", d1, d2)
	}

	dir := filepath.Join(t.TempDir(), "layout")
	if err := writeLayout(dir, first, DefaultRepository+":"+spec.Version); err != nil {
		t.Fatal(err)
	}
	img, err := readLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, img, spec)
	headers, contents, err := layerFiles(img)
	if err != nil {
		t.Fatal(err)
	}
	for p := range headers {
		if base := filepath.Base(p); base == "sh" || base == "bash" || base == "busybox" {
			t.Errorf("the image has a shell: %s", p)
		}
	}
	bin := filepath.Join(t.TempDir(), "infraplane")
	if err := os.WriteFile(bin, contents["/infraplane"], 0o755); err != nil {
		t.Fatal(err)
	}
	checkStatic(t, bin)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("/infraplane version from the image: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "infraplane "+spec.Version+"\n") {
		t.Fatalf("/infraplane version printed:\n%s\nwant the version compiled in, %s", out, spec.Version)
	}
}

// checkStatic fails unless bin is a linux/amd64 ELF with no program
// interpreter (no dynamic loader, so no libc needed).
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the image's /infraplane is not an ELF binary: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("the image's /infraplane is for %s, want x86-64", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the image's /infraplane is dynamically linked: it needs a loader the image does not have (build with CGO_ENABLED=0)")
		}
	}
}

// readLayout returns the image of an OCI layout written by writeLayout.
func readLayout(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("%s holds %d images, want 1", dir, len(m.Manifests))
	}
	return idx.Image(m.Manifests[0].Digest)
}

// layerFiles returns the regular files and directories of img's layers by
// path (directories end in /), with their headers and contents.
func layerFiles(img v1.Image) (map[string]*tar.Header, map[string][]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, err
	}
	headers, contents := map[string]*tar.Header{}, map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, nil, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return nil, nil, err
			}
			name := path.Clean("/" + h.Name)
			if h.Typeflag == tar.TypeDir {
				name += "/"
			}
			headers[name] = h
			b, err := io.ReadAll(tr)
			if err != nil {
				rc.Close()
				return nil, nil, err
			}
			contents[name] = b
		}
		rc.Close()
	}
	return headers, contents, nil
}
