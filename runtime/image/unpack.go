package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Unpack makes sure every layer of the image ref names is unpacked under
// layers/ and returns their directories, bottom layer first. Pull, Load,
// Import and PrepareRootfs do it already; the layers are for read-only use.
func (s *Store) Unpack(ctx context.Context, ref string) ([]string, error) {
	lk, err := s.lockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	d, err := s.resolve(ref)
	if err != nil {
		return nil, fmt.Errorf("unpack %s: %w", ref, err)
	}
	return s.unpackImage(ctx, d.Digest)
}

// unpackImage unpacks the layers of a stored manifest. Caller holds the
// shared store lock.
func (s *Store) unpackImage(ctx context.Context, digest v1.Hash) ([]string, error) {
	img, err := s.image(digest)
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", digest, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config of %s: %w", digest, err)
	}
	// Diff IDs come from the config (and are verified while unpacking);
	// asking the layer would decompress it once more just to hash it.
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image %s: %d layers but %d diff ids", digest, len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	dirs := make([]string, 0, len(m.Layers))
	for i, ld := range m.Layers {
		diffID := cf.RootFS.DiffIDs[i]
		l, err := img.LayerByDigest(ld.Digest)
		if err != nil {
			return nil, fmt.Errorf("open layer %s: %w", ld.Digest, err)
		}
		// One unpack per layer at a time in this process; other processes
		// race harmlessly on the final rename.
		_, err, _ = s.unpacks.Do(diffID.String(), func() (any, error) {
			return nil, s.unpackLayer(ctx, l, diffID)
		})
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, s.layerPath(diffID))
	}
	return dirs, nil
}

// unpackLayer extracts one layer into layers/sha256/<diff id hex> unless it
// is there already. It extracts into tmp/ and renames the finished
// directory into place, checking the uncompressed content against diffID.
func (s *Store) unpackLayer(ctx context.Context, l v1.Layer, diffID v1.Hash) error {
	final := s.layerPath(diffID)
	if _, err := os.Lstat(final); err == nil {
		return nil
	}
	digest, _ := l.Digest()
	tmp, err := os.MkdirTemp(s.tmpDir(), "layer-"+diffID.Hex[:12]+"-")
	if err != nil {
		return fmt.Errorf("unpack layer %s: %w", digest, err)
	}
	defer os.RemoveAll(tmp)
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("unpack layer %s: %w", digest, err)
	}
	defer rc.Close()
	hasher := sha256.New()
	tee := io.TeeReader(rc, hasher)
	if err := extract(ctx, tee, tmp, extractOptions{whiteouts: true}); err != nil {
		return fmt.Errorf("unpack layer %s: %w", digest, err)
	}
	// Hash the tar padding after the last entry too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("unpack layer %s: %w", digest, err)
	}
	if got := hex.EncodeToString(hasher.Sum(nil)); diffID.Algorithm != "sha256" || got != diffID.Hex {
		return fmt.Errorf("unpack layer %s: %w: content is sha256:%s, config says %s", digest, ErrDigestMismatch, got, diffID)
	}
	// Make the files durable before the directory gets its final name, so a
	// crash never leaves a complete-looking layer with missing data.
	if err := syncFS(tmp); err != nil {
		return fmt.Errorf("unpack layer %s: %w", digest, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Lstat(final); serr == nil {
			return nil // another process finished first
		}
		return fmt.Errorf("unpack layer %s: %w", digest, err)
	}
	if err := syncDir(s.layerDir()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unpack layer %s: %w", digest, err)
	}
	s.log.Debug("layer unpacked", "digest", digest.String(), "diff_id", diffID.String())
	return nil
}

// syncFS flushes the filesystem holding dir (syncfs(2)).
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
