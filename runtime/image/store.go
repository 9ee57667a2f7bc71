package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: no stored image has that name or digest.
	ErrNotFound = errors.New("image not found")
	// ErrInvalidReference: the string is not an image reference.
	ErrInvalidReference = errors.New("invalid image reference")
	// ErrUnsafeEntry: an archive entry would escape the target directory, or
	// is of a kind the store refuses (device node, fifo).
	ErrUnsafeEntry = errors.New("unsafe archive entry")
	// ErrUnsupportedArchive: Load got a file that is neither a docker-save
	// tarball nor an OCI layout archive.
	ErrUnsupportedArchive = errors.New("unsupported archive")
	// ErrDigestMismatch: content did not hash to the digest it was stored under.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrBusy: a container directory is in a state the call cannot undo
	// (something still mounted beneath its rootfs, or a rootfs of another image).
	ErrBusy = errors.New("rootfs busy")
	// ErrConfig: the Config given to New is invalid.
	ErrConfig = errors.New("invalid image store config")
)

// Annotations on the descriptors of index.json.
const (
	// annotationRefName is the canonical reference (docker.io/library/busybox:latest).
	annotationRefName = "org.opencontainers.image.ref.name"
	// annotationOriginal is the reference exactly as the user typed it.
	annotationOriginal = "io.nodectl.image.ref"
)

// RootfsMode is how PrepareRootfs builds a container's root filesystem.
type RootfsMode int

const (
	// RootfsAuto uses overlayfs when the kernel supports it here, else copies.
	RootfsAuto RootfsMode = iota
	// RootfsOverlay mounts an overlayfs over the shared layers.
	RootfsOverlay
	// RootfsCopy copies the layers into the container directory.
	RootfsCopy
)

func (m RootfsMode) String() string {
	switch m {
	case RootfsAuto:
		return "auto"
	case RootfsOverlay:
		return "overlay"
	case RootfsCopy:
		return "copy"
	}
	return fmt.Sprintf("RootfsMode(%d)", int(m))
}

// ParseRootfsMode parses "auto", "overlay" or "copy" ("" is auto).
func ParseRootfsMode(s string) (RootfsMode, error) {
	switch s {
	case "", "auto":
		return RootfsAuto, nil
	case "overlay":
		return RootfsOverlay, nil
	case "copy":
		return RootfsCopy, nil
	}
	return RootfsAuto, fmt.Errorf("%w: rootfs mode %q (want auto, overlay or copy)", ErrConfig, s)
}

// Config configures a Store. Zero values are the documented defaults.
type Config struct {
	// Dir is the store's root, normally <work_dir>/images. Required.
	Dir string
	// InsecureRegistries are registry hosts ("host" or "host:port") that may
	// be reached over plain HTTP or with unverified TLS. Every other registry
	// is reached over verified HTTPS only.
	InsecureRegistries []string
	// Logger receives the store's logs (default: discard).
	Logger *slog.Logger
	// RootfsMode forces how container rootfs are built (default RootfsAuto).
	RootfsMode RootfsMode
	// Platform picks the image out of multi-platform indexes
	// (default linux/<GOARCH of this binary>).
	Platform *v1.Platform
}

// Store is the image store. Its methods are safe for concurrent use, also
// alongside other processes using the same Dir.
type Store struct {
	dir      string
	insecure map[string]bool // registry host or host:port → allowed over plain HTTP
	log      *slog.Logger
	platform v1.Platform
	mode     RootfsMode // as configured; see effectiveMode

	transport *registryTransport
	unpacks   singleflight.Group // one unpack per layer at a time in this process

	modeOnce sync.Once
	modeEff  RootfsMode // guarded by modeOnce: RootfsOverlay or RootfsCopy
}

// New validates cfg and creates the store's directories if missing.
func New(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: Dir is required", ErrConfig)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: Dir %q: %v", ErrConfig, cfg.Dir, err)
	}
	if cfg.RootfsMode < RootfsAuto || cfg.RootfsMode > RootfsCopy {
		return nil, fmt.Errorf("%w: unknown %v", ErrConfig, cfg.RootfsMode)
	}
	insecure := make(map[string]bool, len(cfg.InsecureRegistries))
	for _, r := range cfg.InsecureRegistries {
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(r), "http://"), "https://"), "/")
		if host == "" {
			continue
		}
		if strings.ContainsAny(host, "/ ") {
			return nil, fmt.Errorf("%w: insecure registry %q is not a host[:port]", ErrConfig, r)
		}
		insecure[host] = true
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	platform := v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	if cfg.Platform != nil {
		platform = *cfg.Platform
	}
	s := &Store{
		dir:      dir,
		insecure: insecure,
		log:      log.With("component", "image"),
		platform: platform,
		mode:     cfg.RootfsMode,
	}
	s.transport = newRegistryTransport(insecure)
	for _, d := range []string{s.blobDir(), s.layerDir(), s.leaseDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create image store: %w", err)
		}
	}
	if err := s.initLayout(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir is the store's root directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) blobDir() string  { return filepath.Join(s.dir, "blobs", "sha256") }
func (s *Store) layerDir() string { return filepath.Join(s.dir, "layers", "sha256") }
func (s *Store) leaseDir() string { return filepath.Join(s.dir, "leases") }
func (s *Store) tmpDir() string   { return filepath.Join(s.dir, "tmp") }
func (s *Store) indexPath() string {
	return filepath.Join(s.dir, "index.json")
}

func (s *Store) blobPath(h v1.Hash) string  { return filepath.Join(s.blobDir(), h.Hex) }
func (s *Store) layerPath(h v1.Hash) string { return filepath.Join(s.layerDir(), h.Hex) }

// initLayout writes oci-layout and an empty index.json the first time.
func (s *Store) initLayout() error {
	if _, err := os.Stat(filepath.Join(s.dir, "oci-layout")); errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(filepath.Join(s.dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
			return fmt.Errorf("create image store: %w", err)
		}
	}
	if _, err := os.Stat(s.indexPath()); errors.Is(err, fs.ErrNotExist) {
		ctx := context.Background()
		lk, err := s.lockIndex(ctx)
		if err != nil {
			return err
		}
		defer lk.unlock()
		if _, err := os.Stat(s.indexPath()); errors.Is(err, fs.ErrNotExist) {
			if err := s.writeIndexLocked(&v1.IndexManifest{}); err != nil {
				return fmt.Errorf("create image store: %w", err)
			}
		}
	}
	return nil
}

// ImageConfig is the part of an image's config a runtime merges into a task:
// what to run, in which environment and directory, as which user.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
}

// Image describes one stored name.
type Image struct {
	// Ref is the reference exactly as given to Pull, Import or found in a
	// loaded archive ("bar/busybox:1").
	Ref string
	// Name is the canonical reference ("index.docker.io/bar/busybox:1").
	Name string
	// Digest is the manifest digest; ConfigDigest the config blob's.
	Digest       v1.Hash
	ConfigDigest v1.Hash
	// Layers are the diff IDs of the layers, bottom first.
	Layers []v1.Hash
	// Size is the sum of the compressed layers, the config and the manifest.
	Size int64
	// Created is the image config's creation time.
	Created time.Time
	Config  ImageConfig
}

// parseRef parses ref with go-containerregistry's rules ("busybox" is
// index.docker.io/library/busybox:latest), marking registries listed in
// Config.InsecureRegistries insecure.
func (s *Store) parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidReference, ref, err)
	}
	if hostListed(s.insecure, r.Context().RegistryStr()) {
		r, err = name.ParseReference(ref, name.WeakValidation, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidReference, ref, err)
		}
	}
	return r, nil
}

// hostListed reports whether a registry host:port, or its host alone, is in m.
func hostListed(m map[string]bool, hostport string) bool {
	if m[hostport] {
		return true
	}
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host = hostport[:i]
	}
	return m[host]
}

// readIndex reads index.json. It is replaced atomically, so readers need no lock.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	f, err := os.Open(s.indexPath())
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	defer f.Close()
	idx, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	return idx, nil
}

func (s *Store) writeIndexLocked(idx *v1.IndexManifest) error {
	idx.SchemaVersion = 2
	idx.MediaType = types.OCIImageIndex
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	if err := writeFileAtomic(s.indexPath(), b); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	return nil
}

// tagged is one name to point at a stored manifest.
type tagged struct {
	original string
	ref      name.Reference
	desc     v1.Descriptor // manifest descriptor (media type, size, digest)
}

// setRefs points each name at its manifest, replacing what it pointed at.
func (s *Store) setRefs(ctx context.Context, refs []tagged) error {
	lk, err := s.lockIndex(ctx)
	if err != nil {
		return err
	}
	defer lk.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	for _, t := range refs {
		canonical := t.ref.Name()
		kept := idx.Manifests[:0]
		for _, d := range idx.Manifests {
			if d.Annotations[annotationRefName] != canonical {
				kept = append(kept, d)
			}
		}
		d := v1.Descriptor{MediaType: t.desc.MediaType, Size: t.desc.Size, Digest: t.desc.Digest,
			Annotations: map[string]string{annotationRefName: canonical, annotationOriginal: t.original}}
		idx.Manifests = append(kept, d)
	}
	return s.writeIndexLocked(idx)
}

// find returns the descriptors ref names: the name exactly as typed, the
// canonical name, or a manifest digest ("sha256:…" or a hex prefix of at
// least 6 characters).
func find(idx *v1.IndexManifest, ref string) []v1.Descriptor {
	var out []v1.Descriptor
	for _, d := range idx.Manifests {
		if d.Annotations[annotationOriginal] == ref {
			out = append(out, d)
		}
	}
	if len(out) > 0 {
		return out
	}
	if r, err := name.ParseReference(ref, name.WeakValidation); err == nil {
		for _, d := range idx.Manifests {
			if d.Annotations[annotationRefName] == r.Name() {
				out = append(out, d)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	hex := strings.TrimPrefix(ref, "sha256:")
	if len(hex) < 6 || strings.Trim(hex, "0123456789abcdef") != "" {
		return nil
	}
	for _, d := range idx.Manifests {
		if strings.HasPrefix(d.Digest.Hex, hex) {
			out = append(out, d)
		}
	}
	return out
}

// resolve finds the manifest descriptor ref names.
func (s *Store) resolve(ref string) (v1.Descriptor, error) {
	idx, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	ds := find(idx, ref)
	if len(ds) == 0 {
		return v1.Descriptor{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	for _, d := range ds[1:] {
		if d.Digest != ds[0].Digest {
			return v1.Descriptor{}, fmt.Errorf("%w: %s is ambiguous (%s, %s)", ErrNotFound, ref, ds[0].Digest, d.Digest)
		}
	}
	return ds[0], nil
}

// Get describes the stored image ref names.
func (s *Store) Get(ctx context.Context, ref string) (Image, error) {
	lk, err := s.lockShared(ctx)
	if err != nil {
		return Image{}, err
	}
	defer lk.unlock()
	d, err := s.resolve(ref)
	if err != nil {
		return Image{}, err
	}
	return s.describe(d)
}

// List describes every stored name, in the order they were stored.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	lk, err := s.lockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(idx.Manifests))
	for _, d := range idx.Manifests {
		img, err := s.describe(d)
		if err != nil {
			// Still list the name, so it can be seen and removed.
			s.log.Warn("stored image is damaged", "ref", d.Annotations[annotationOriginal], "digest", d.Digest.String(), "err", err)
			img = Image{Ref: d.Annotations[annotationOriginal], Name: d.Annotations[annotationRefName], Digest: d.Digest}
		}
		out = append(out, img)
	}
	return out, nil
}

// describe builds an Image from an index descriptor and the stored blobs.
func (s *Store) describe(d v1.Descriptor) (Image, error) {
	img, err := s.image(d.Digest)
	if err != nil {
		return Image{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Image{}, fmt.Errorf("read manifest %s: %w", d.Digest, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("read config of %s: %w", d.Digest, err)
	}
	out := Image{
		Ref:          d.Annotations[annotationOriginal],
		Name:         d.Annotations[annotationRefName],
		Digest:       d.Digest,
		ConfigDigest: m.Config.Digest,
		Layers:       cf.RootFS.DiffIDs,
		Size:         d.Size + m.Config.Size,
		Created:      cf.Created.Time,
		Config:       imageConfig(cf),
	}
	if out.Ref == "" {
		out.Ref = out.Name
	}
	for _, l := range m.Layers {
		out.Size += l.Size
	}
	return out, nil
}

func imageConfig(cf *v1.ConfigFile) ImageConfig {
	c := cf.Config
	return ImageConfig{
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		Env:        c.Env,
		WorkingDir: c.WorkingDir,
		User:       c.User,
	}
}

// Remove deletes the names ref matches (a name, or a manifest digest, which
// removes every name pointing at it) and returns what it removed. Blobs and
// layers stay until GC.
func (s *Store) Remove(ctx context.Context, ref string) ([]Image, error) {
	lk, err := s.lockIndex(ctx)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	ds := find(idx, ref)
	if len(ds) == 0 {
		return nil, fmt.Errorf("remove image: %w: %s", ErrNotFound, ref)
	}
	gone := map[string]bool{}
	var removed []Image
	for _, d := range ds {
		gone[d.Annotations[annotationRefName]] = true
		removed = append(removed, Image{Ref: d.Annotations[annotationOriginal], Name: d.Annotations[annotationRefName], Digest: d.Digest})
	}
	kept := idx.Manifests[:0]
	for _, d := range idx.Manifests {
		if !gone[d.Annotations[annotationRefName]] {
			kept = append(kept, d)
		}
	}
	idx.Manifests = kept
	if err := s.writeIndexLocked(idx); err != nil {
		return nil, err
	}
	for _, r := range removed {
		s.log.Info("image removed", "ref", r.Ref, "digest", r.Digest.String())
	}
	return removed, nil
}

// writeFileAtomic writes data to a temp file beside path, syncs it and
// renames it over path.
func writeFileAtomic(path string, data []byte) error {
	return writeFile(path, data, true)
}

// writeFile writes data to path through a temporary file renamed over it;
// with sync it returns once both are on disk.
func writeFile(path string, data []byte, sync bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
