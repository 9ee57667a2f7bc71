package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Progress reports how far one layer's download (or copy into the store) is.
type Progress struct {
	Layer  v1.Hash // compressed digest
	Layers int     // how many layers the image has
	Done   int64   // bytes written so far
	Total  int64   // bytes expected, -1 if unknown
	// Cached: the blob was already stored; Done == Total.
	Cached bool
}

// ProgressFunc receives Progress updates. Calls are serialized.
type ProgressFunc func(Progress)

// blobJobs is how many layers are fetched at once.
const blobJobs = 3

// storeImage writes img's layers, config and manifest into blobs/ (each once
// by digest) and returns the manifest's descriptor.
func (s *Store) storeImage(ctx context.Context, img v1.Image, progress ProgressFunc) (v1.Descriptor, error) {
	var mu sync.Mutex
	var layerCount int
	report := func(p Progress) {
		p.Layers = layerCount
		if progress != nil {
			mu.Lock()
			defer mu.Unlock()
			progress(p)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("list layers: %w", err)
	}
	layerCount = len(layers)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(blobJobs)
	for _, l := range layers {
		g.Go(func() error { return s.storeLayer(gctx, l, report) })
	}
	if err := g.Wait(); err != nil {
		return v1.Descriptor{}, err
	}

	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("read config digest: %w", err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("read config: %w", err)
	}
	if _, err := s.writeBlob(ctx, cfgName, int64(len(rawCfg)), bytes.NewReader(rawCfg), nil); err != nil {
		return v1.Descriptor{}, fmt.Errorf("store config: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("read manifest: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("read manifest digest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("read manifest media type: %w", err)
	}
	if _, err := s.writeBlob(ctx, digest, int64(len(raw)), bytes.NewReader(raw), nil); err != nil {
		return v1.Descriptor{}, fmt.Errorf("store manifest: %w", err)
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: digest}, nil
}

func (s *Store) storeLayer(ctx context.Context, l v1.Layer, report ProgressFunc) error {
	digest, err := l.Digest()
	if err != nil {
		return fmt.Errorf("read layer digest: %w", err)
	}
	size, err := l.Size()
	if err != nil {
		return fmt.Errorf("read layer size %s: %w", digest, err)
	}
	if s.haveBlob(digest, size) {
		report(Progress{Layer: digest, Done: size, Total: size, Cached: true})
		return nil
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("fetch layer %s: %w", digest, err)
	}
	defer rc.Close()
	report(Progress{Layer: digest, Total: size})
	onWrite := func(done int64) { report(Progress{Layer: digest, Done: done, Total: size}) }
	if _, err := s.writeBlob(ctx, digest, size, rc, onWrite); err != nil {
		return fmt.Errorf("store layer %s: %w", digest, err)
	}
	return nil
}

func (s *Store) haveBlob(h v1.Hash, size int64) bool {
	fi, err := os.Stat(s.blobPath(h))
	return err == nil && fi.Mode().IsRegular() && (size < 0 || fi.Size() == size)
}

// writeBlob copies r into blobs/ under h, verifying the digest (and size
// unless it is -1). The blob appears under its name only once complete.
// It reports whether it wrote anything (false: the blob was already there).
func (s *Store) writeBlob(ctx context.Context, h v1.Hash, size int64, r io.Reader, onWrite func(done int64)) (bool, error) {
	if h.Algorithm != "sha256" {
		return false, fmt.Errorf("store blob %s: unsupported digest algorithm", h)
	}
	if s.haveBlob(h, size) {
		return false, nil
	}
	f, err := os.CreateTemp(s.tmpDir(), "blob-"+h.Hex[:12]+"-")
	if err != nil {
		return false, fmt.Errorf("store blob %s: %w", h, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	hasher := sha256.New()
	w := &progressWriter{ctx: ctx, w: io.MultiWriter(f, hasher), onWrite: onWrite}
	n, err := io.Copy(w, r)
	if err != nil {
		return false, fmt.Errorf("store blob %s: %w", h, err)
	}
	if got := hex.EncodeToString(hasher.Sum(nil)); got != h.Hex {
		return false, fmt.Errorf("store blob %s: %w (content is sha256:%s)", h, ErrDigestMismatch, got)
	}
	if size >= 0 && n != size {
		return false, fmt.Errorf("store blob %s: %w: size %d, want %d", h, ErrDigestMismatch, n, size)
	}
	if err := f.Chmod(0o644); err != nil {
		return false, fmt.Errorf("store blob %s: %w", h, err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("store blob %s: %w", h, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("store blob %s: %w", h, err)
	}
	if err := os.Rename(f.Name(), s.blobPath(h)); err != nil {
		return false, fmt.Errorf("store blob %s: %w", h, err)
	}
	return true, nil
}

// progressWriter counts bytes, reports them at most every 256 KiB, and
// stops when ctx is done.
type progressWriter struct {
	ctx      context.Context
	w        io.Writer
	onWrite  func(done int64)
	done     int64
	reported int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.onWrite != nil && (p.done-p.reported >= 256<<10 || err != nil) {
		p.reported = p.done
		p.onWrite(p.done)
	}
	return n, err
}

// ReadFrom keeps io.Copy from bypassing Write.
func (p *progressWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 128<<10)
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			m, werr := p.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(rerr, io.EOF) {
			if p.onWrite != nil && p.reported != p.done {
				p.reported = p.done
				p.onWrite(p.done)
			}
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// image opens a stored image by manifest digest, straight from blobs/ (it
// need not be named in index.json: a leased image may have been untagged).
func (s *Store) image(digest v1.Hash) (v1.Image, error) {
	raw, err := os.ReadFile(s.blobPath(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open image %s: %w: manifest blob missing", digest, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", digest, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", digest, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	img, err := partial.CompressedToImage(&blobImage{s: s, raw: raw, manifest: m, mediaType: mt})
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", digest, err)
	}
	return img, nil
}

// blobImage is a partial.CompressedImageCore over the store's blobs.
type blobImage struct {
	s         *Store
	raw       []byte
	manifest  *v1.Manifest
	mediaType types.MediaType
}

func (b *blobImage) RawManifest() ([]byte, error)        { return b.raw, nil }
func (b *blobImage) MediaType() (types.MediaType, error) { return b.mediaType, nil }
func (b *blobImage) RawConfigFile() ([]byte, error) {
	return os.ReadFile(b.s.blobPath(b.manifest.Config.Digest))
}
func (b *blobImage) Manifest() (*v1.Manifest, error) { return b.manifest, nil }
func (b *blobImage) ConfigName() (v1.Hash, error)    { return b.manifest.Config.Digest, nil }

func (b *blobImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range b.manifest.Layers {
		if d.Digest == h {
			return &blobLayer{path: b.s.blobPath(h), desc: d}, nil
		}
	}
	return nil, fmt.Errorf("layer %s not in manifest", h)
}

// blobLayer is a partial.CompressedLayer over one stored blob.
type blobLayer struct {
	path string
	desc v1.Descriptor
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *blobLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
