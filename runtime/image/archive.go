package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// defaultPath is the PATH an imported image gets, as a shell would expect.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Import turns a plain rootfs tarball (optionally gzipped) into a
// single-layer image named ref, like `docker import`. The config is minimal:
// linux/<platform arch>, PATH, and as its creation time the newest
// modification time inside the archive (see contentTime), never the clock:
// importing one tarball twice gives one digest. An archive with entries
// escaping the root is refused and nothing is written outside the store.
func (s *Store) Import(ctx context.Context, rootfsTar, ref string) (Image, error) {
	r, err := s.parseRef(ref)
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", rootfsTar, err)
	}
	if _, ok := r.(name.Tag); !ok {
		return Image{}, fmt.Errorf("import %s: %w %q: want NAME[:TAG], not a digest", rootfsTar, ErrInvalidReference, ref)
	}
	if _, err := os.Stat(rootfsTar); err != nil {
		return Image{}, fmt.Errorf("import %s: %w", rootfsTar, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(rootfsTar) })
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", rootfsTar, err)
	}
	created, err := contentTime(rootfsTar)
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", rootfsTar, err)
	}
	cf := &v1.ConfigFile{
		Architecture: s.platform.Architecture,
		Variant:      s.platform.Variant,
		OS:           s.platform.OS,
		Created:      v1.Time{Time: created},
		Config:       v1.Config{Env: []string{defaultPath}},
		RootFS:       v1.RootFS{Type: "layers"},
	}
	base, err := mutate.ConfigFile(empty.Image, cf)
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", rootfsTar, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   cf.Created,
		CreatedBy: "nodectl image import " + path.Base(rootfsTar),
	}})
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", rootfsTar, err)
	}
	out, err := s.add(ctx, img, []string{ref}, nil)
	if err != nil {
		return Image{}, fmt.Errorf("import %s as %s: %w", rootfsTar, ref, err)
	}
	return out[0], nil
}

// contentTime is the creation time an imported rootfs tarball gets: the
// newest modification time of its entries (UTC, whole seconds), or the Unix
// epoch when it has none. It depends only on the archive's bytes, so the
// image's config, and with it the image's digest, is a function of content
// (as in reproducible builds, https://reproducible-builds.org/docs/timestamps/).
func contentTime(file string) (time.Time, error) {
	f, err := os.Open(file)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if magic, _ := r.(*bufio.Reader).Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return time.Time{}, fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	newest := time.Unix(0, 0)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("read archive: %w", err)
		}
		if hdr.ModTime.After(newest) {
			newest = hdr.ModTime
		}
	}
	return newest.UTC().Truncate(time.Second), nil
}

// add stores img, unpacks it and then (only then) names it refs.
func (s *Store) add(ctx context.Context, img v1.Image, refs []string, progress ProgressFunc) ([]Image, error) {
	lk, err := s.lockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	desc, err := s.storeImage(ctx, img, progress)
	if err != nil {
		return nil, err
	}
	if _, err := s.unpackImage(ctx, desc.Digest); err != nil {
		return nil, err
	}
	var ts []tagged
	for _, ref := range refs {
		r, err := s.parseRef(ref)
		if err != nil {
			return nil, err
		}
		ts = append(ts, tagged{original: ref, ref: r, desc: desc})
	}
	if err := s.setRefs(ctx, ts); err != nil {
		return nil, err
	}
	var out []Image
	for _, t := range ts {
		im, err := s.describe(named(desc, t.original, t.ref))
		if err != nil {
			return nil, err
		}
		s.log.Info("image stored", "ref", t.original, "digest", desc.Digest.String())
		out = append(out, im)
	}
	return out, nil
}

// Load stores every named image of a `docker save` tarball or of an OCI
// image layout archive (a tar of the layout directory); either may be
// gzipped. Images without a name are skipped with a warning.
func (s *Store) Load(ctx context.Context, file string) ([]Image, error) {
	out, err := s.load(ctx, file)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	return out, nil
}

func (s *Store) load(ctx context.Context, file string) ([]Image, error) {
	// Held throughout: GC must not clear tmp/ under the unpacked archive.
	lk, err := s.lockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	plain, cleanup, err := s.decompressed(file)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	kind, err := sniffArchive(plain)
	if err != nil {
		return nil, err
	}
	var out []Image
	switch kind {
	case "docker":
		out, err = s.loadDocker(ctx, plain)
	case "oci":
		out, err = s.loadOCI(ctx, plain)
	default:
		return nil, fmt.Errorf("%w: neither manifest.json (docker save) nor index.json and oci-layout (OCI layout)", ErrUnsupportedArchive)
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no named image inside", ErrUnsupportedArchive)
	}
	return out, nil
}

// decompressed returns file, or a temp copy of it gunzipped when it is gzipped
// (go-containerregistry's tarball reader wants a plain tar it can reopen).
func (s *Store) decompressed(file string) (string, func(), error) {
	f, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return file, func() {}, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.CreateTemp(s.tmpDir(), "load-*.tar")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, zr); err != nil {
		tmp.Close()
		cleanup()
		return "", nil, fmt.Errorf("gunzip: %w", err)
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	return tmp.Name(), cleanup, nil
}

// sniffArchive tells a docker-save tarball ("docker") from an OCI layout
// archive ("oci"). Docker 25+ writes both; its manifest.json carries the
// full names, so docker wins.
func sniffArchive(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrUnsupportedArchive, err)
		}
		seen[path.Clean(hdr.Name)] = true
	}
	switch {
	case seen["manifest.json"]:
		return "docker", nil
	case seen["index.json"] && seen["oci-layout"]:
		return "oci", nil
	}
	return "", nil
}

func (s *Store) loadDocker(ctx context.Context, file string) ([]Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("read manifest.json: %w", err)
	}
	var out []Image
	for i, d := range m {
		if len(d.RepoTags) == 0 {
			s.log.Warn("image in archive has no tag; skipped", "config", d.Config)
			continue
		}
		tag, err := name.NewTag(d.RepoTags[0], name.WeakValidation)
		if err != nil {
			return nil, fmt.Errorf("image %d: tag %q: %w", i, d.RepoTags[0], err)
		}
		img, err := tarball.Image(opener, &tag)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", d.RepoTags[0], err)
		}
		imgs, err := s.add(ctx, img, d.RepoTags, nil)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", d.RepoTags[0], err)
		}
		out = append(out, imgs...)
	}
	return out, nil
}

// OCI annotations naming an image in an index.
const (
	annotationContainerdName = "io.containerd.image.name"
)

func (s *Store) loadOCI(ctx context.Context, file string) ([]Image, error) {
	dir, err := os.MkdirTemp(s.tmpDir(), "load-oci-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	err = extract(ctx, f, dir, extractOptions{})
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("extract OCI layout: %w", err)
	}
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout: %w", err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read OCI layout index: %w", err)
	}
	var out []Image
	for _, d := range im.Manifests {
		ref := ociName(d.Annotations)
		if ref == "" {
			s.log.Warn("image in OCI layout has no full name (io.containerd.image.name or a ref.name with a repository); skipped",
				"digest", d.Digest.String(), "ref_name", d.Annotations[annotationRefName])
			continue
		}
		img, err := s.pickImage(ii, d)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		imgs, err := s.add(ctx, img, []string{ref}, nil)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		out = append(out, imgs...)
	}
	return out, nil
}

// ociName is the name an index descriptor gives its image. A bare
// org.opencontainers.image.ref.name ("latest", "1.0") is only a tag and
// does not name a repository.
func ociName(ann map[string]string) string {
	if n := ann[annotationContainerdName]; n != "" {
		return n
	}
	n := ann[annotationRefName]
	if strings.ContainsAny(n, "/:@") {
		return n
	}
	return ""
}

// pickImage returns the image d describes, resolving an index to the
// store's platform.
func (s *Store) pickImage(ii v1.ImageIndex, d v1.Descriptor) (v1.Image, error) {
	switch {
	case d.MediaType.IsImage():
		return ii.Image(d.Digest)
	case d.MediaType.IsIndex():
		child, err := ii.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, c := range cm.Manifests {
			if c.MediaType.IsImage() && (c.Platform == nil || c.Platform.Satisfies(s.platform)) {
				return child.Image(c.Digest)
			}
		}
		return nil, fmt.Errorf("no image for platform %s in index %s", s.platform.String(), d.Digest)
	}
	return nil, fmt.Errorf("unsupported media type %s", d.MediaType)
}
