package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultRepository is where released images go; the tag is the version.
const DefaultRepository = "ghcr.io/infraplane/infraplane"

// sourceURL is the image's org.opencontainers.image.source label.
const sourceURL = "https://github.com/infraplane/infraplane"

// The user the controller runs as: not root, and the same number as the
// distroless images' "nonroot", so policies written for those fit.
const (
	nonrootUID  = 65532
	nonrootName = "nonroot"
)

// Paths inside the image.
const (
	binaryPath  = "infraplane"
	caCertsPath = "etc/ssl/certs/ca-certificates.crt"
)

// imageSpec is what goes into one image, apart from the binary.
type imageSpec struct {
	Version  string    // the version label and the ref name in the layout
	Revision string    // the git commit, for the revision label
	Arch     string    // GOARCH of the binary
	Created  time.Time // every time in the image (SOURCE_DATE_EPOCH)
	CACerts  []byte    // PEM bundle copied to /etc/ssl/certs
}

// file is one entry of the image's only layer.
type file struct {
	name string
	mode int64
	uid  int
	dir  bool
	data []byte
}

// files lists the layer's entries in the order they are written: parents
// before children, so any unpacker creates them with these modes.
func files(binary []byte, s imageSpec) []file {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%[1]s:x:%[2]d:%[2]d:%[1]s:/home/%[1]s:/sbin/nologin\n", nonrootName, nonrootUID)
	group := fmt.Sprintf("root:x:0:\n%[1]s:x:%[2]d:\n", nonrootName, nonrootUID)
	return []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: caCertsPath, mode: 0o644, data: s.CACerts},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/" + nonrootName + "/", mode: 0o700, uid: nonrootUID, dir: true},
		{name: binaryPath, mode: 0o755, data: binary},
		// The controller keeps GitSource working copies and, by default,
		// looks for webhook certificates under /tmp.
		{name: "tmp/", mode: 0o1777, dir: true},
	}
}

// layerTar writes the layer as an uncompressed tar. Nothing in it comes
// from the file system's metadata (times, owners, order), so the same
// inputs give the same bytes.
func layerTar(entries []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range entries {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.uid,
			ModTime: mtime,
		}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing %s to the layer: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("writing %s to the layer: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// labels are the OCI annotations the image carries as labels.
func labels(s imageSpec) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":   sourceURL,
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.created":  s.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.title":    "infraplane",
		"org.opencontainers.image.description": "Declarative cloud infrastructure on Kubernetes: " +
			"the controllers (infraplane controller) and the CLI",
	}
}

// assemble builds the image: one layer on an empty base, with the binary
// as entrypoint, `controller` as default command, run as nonroot.
func assemble(binary []byte, s imageSpec) (v1.Image, error) {
	if len(s.CACerts) == 0 {
		return nil, fmt.Errorf("no CA certificates: the controller could not verify any cloud endpoint; pass --ca-certs with a PEM bundle")
	}
	created := s.Created.UTC()
	raw, err := layerTar(files(binary, s), created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	uid := fmt.Sprint(nonrootUID)
	cfg := &v1.ConfigFile{
		Architecture: s.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: created},
		Config: v1.Config{
			Entrypoint: []string{"/" + binaryPath},
			Cmd:        []string{"controller"},
			User:       uid + ":" + uid,
			WorkingDir: "/",
			Env:        []string{"HOME=/home/" + nonrootName},
			Labels:     labels(s),
			// metrics, health probes, git push hooks, admission webhook
			// (the `controller` defaults).
			ExposedPorts: map[string]struct{}{"8443/tcp": {}, "8081/tcp": {}, "9292/tcp": {}, "9443/tcp": {}},
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "hack/image: /infraplane " + s.Version + " (static), CA certificates, /etc/passwd",
		},
	})
}

// writeLayout writes img as the only image of an OCI image layout at dir
// (replacing what was there), named by ref (e.g. ghcr.io/infraplane/infraplane:v0.1.0).
func writeLayout(dir string, img v1.Image, ref string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("creating the OCI layout %s: %w", dir, err)
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref,
	}))
}
