package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A container directory prepared by PrepareRootfs holds:
//
//	rootfs/   the container's root: an overlayfs mount (lowerdir = the shared
//	          layers, top first) or, in copy mode, a full copy of the layers
//	upper/    overlay mode: the writable layer
//	work/     overlay mode: overlayfs's work directory
//	lower/    overlay mode, image without layers: an empty lower layer
//
// and the store holds a lease naming it, so GC keeps its layers and blobs
// even if the image's name is removed.
const (
	rootfsName  = "rootfs"
	partialName = "rootfs.partial"
	upperName   = "upper"
	workName    = "work"
	emptyName   = "lower"
)

// Lease records what one container's rootfs uses. GC keeps everything a
// lease names; a lease whose container directory is gone is stale and GC
// drops it.
type Lease struct {
	ContainerDir string    `json:"container_dir"`
	Ref          string    `json:"ref"`
	Image        v1.Hash   `json:"image"`  // manifest digest
	Blobs        []v1.Hash `json:"blobs"`  // manifest, config, compressed layers
	Layers       []v1.Hash `json:"layers"` // diff IDs, bottom first
	Mode         string    `json:"mode"`   // "overlay" or "copy"
	Created      time.Time `json:"created"`
}

// PrepareRootfs gives a container its own writable root filesystem over the
// shared read-only layers of the image ref names: an overlayfs mount where
// the kernel supports it (see Config.RootfsMode), a copy otherwise. It
// returns the rootfs path (containerDir/rootfs) and the image config to
// merge into the task. Calling it again for the same container directory
// and image (an agent restarting) returns the existing rootfs untouched.
func (s *Store) PrepareRootfs(ctx context.Context, ref, containerDir string) (string, ImageConfig, error) {
	rootfs, cfg, err := s.prepareRootfs(ctx, ref, containerDir)
	if err != nil {
		return "", ImageConfig{}, fmt.Errorf("prepare rootfs of %s in %s: %w", ref, containerDir, err)
	}
	return rootfs, cfg, nil
}

func (s *Store) prepareRootfs(ctx context.Context, ref, containerDir string) (string, ImageConfig, error) {
	dir, err := filepath.Abs(containerDir)
	if err != nil {
		return "", ImageConfig{}, err
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return "", ImageConfig{}, err
	}
	lk, err := s.lockShared(ctx)
	if err != nil {
		return "", ImageConfig{}, err
	}
	defer lk.unlock()

	d, err := s.resolve(ref)
	if err != nil {
		return "", ImageConfig{}, err
	}
	img, err := s.image(d.Digest)
	if err != nil {
		return "", ImageConfig{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", ImageConfig{}, fmt.Errorf("read config: %w", err)
	}
	cfg := imageConfig(cf)
	rootfs := filepath.Join(dir, rootfsName)

	if old, err := s.readLease(dir); err == nil {
		ready := rootfsReady(rootfs, old.Mode)
		switch {
		case ready && old.Image == d.Digest:
			return rootfs, cfg, nil
		case ready:
			return "", ImageConfig{}, fmt.Errorf("%w: it holds a rootfs of %s (%s); release it first", ErrBusy, old.Ref, old.Image)
		case old.Image == d.Digest && old.Mode == RootfsOverlay.String():
			// The mount is gone (a reboot) but the writable layer is not:
			// mount it again rather than lose the container's changes.
			err := s.remount(ctx, d.Digest, dir)
			if err == nil {
				s.log.Info("rootfs remounted", "ref", ref, "container_dir", dir)
				return rootfs, cfg, nil
			}
			s.log.Warn("remount rootfs failed; preparing a fresh one", "container_dir", dir, "err", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", ImageConfig{}, err
	}
	if err := teardown(dir); err != nil { // leftovers of an interrupted attempt
		return "", ImageConfig{}, err
	}

	lowers, err := s.unpackImage(ctx, d.Digest)
	if err != nil {
		return "", ImageConfig{}, err
	}
	lease, err := s.newLease(img, ref, dir)
	if err != nil {
		return "", ImageConfig{}, err
	}
	mode := s.effectiveMode()
	lease.Mode = mode.String()
	// The lease exists before the rootfs does, so GC never sees a rootfs
	// without one.
	if err := s.writeLease(lease); err != nil {
		return "", ImageConfig{}, err
	}
	fail := func(err error) (string, ImageConfig, error) {
		if terr := teardown(dir); terr != nil {
			s.log.Warn("clean up failed rootfs", "container_dir", dir, "err", terr)
		} else {
			s.removeLease(dir)
		}
		return "", ImageConfig{}, err
	}
	if mode == RootfsOverlay {
		err := mountOverlay(lowers, dir)
		if err != nil && s.mode == RootfsOverlay {
			return fail(err)
		}
		if err != nil {
			s.log.Warn("overlayfs mount failed; copying the image instead", "container_dir", dir, "err", err)
			if terr := teardown(dir); terr != nil {
				return fail(terr)
			}
			mode = RootfsCopy
			lease.Mode = mode.String()
			if err := s.writeLease(lease); err != nil {
				return fail(err)
			}
		}
	}
	if mode == RootfsCopy {
		partial := filepath.Join(dir, partialName)
		if err := copyLayers(ctx, lowers, partial); err != nil {
			return fail(err)
		}
		if err := os.Rename(partial, rootfs); err != nil {
			return fail(err)
		}
	}
	s.log.Info("rootfs prepared", "ref", ref, "digest", d.Digest.String(), "container_dir", dir, "mode", mode.String())
	return rootfs, cfg, nil
}

// remount mounts an overlay rootfs again over its surviving upper layer.
func (s *Store) remount(ctx context.Context, digest v1.Hash, dir string) error {
	if fi, err := os.Stat(filepath.Join(dir, upperName)); err != nil || !fi.IsDir() {
		return fmt.Errorf("no upper layer: %v", err)
	}
	lowers, err := s.unpackImage(ctx, digest)
	if err != nil {
		return err
	}
	return mountOverlay(lowers, dir)
}

// ReleaseRootfs undoes PrepareRootfs: it unmounts the rootfs, deletes
// rootfs, upper and work under containerDir and drops the lease, so GC may
// collect the image's layers once nothing else uses them. Releasing a
// directory that holds no rootfs is not an error.
func (s *Store) ReleaseRootfs(containerDir string) error {
	dir, err := filepath.Abs(containerDir)
	if err != nil {
		return fmt.Errorf("release rootfs in %s: %w", containerDir, err)
	}
	if err := teardown(dir); err != nil {
		return fmt.Errorf("release rootfs in %s: %w", containerDir, err)
	}
	if err := s.removeLease(dir); err != nil {
		return fmt.Errorf("release rootfs in %s: %w", containerDir, err)
	}
	s.log.Info("rootfs released", "container_dir", dir)
	return nil
}

// MoveRootfs moves the rootfs PrepareRootfs made in container directory
// from, mounted, to container directory to (which must not exist), with
// its lease: a warm container's root given to the task that takes the
// container over. The overlay stays mounted (a directory holding a mount
// point renames with it); a container running on it runs on. A move cut
// short leaves one of the two leases stale (its directory gone), which
// GC drops. The new lease reaches the disk in the background (a task's
// start waits for no fsync of it: 1–4 ms of a ~12 ms start on the 2-core
// dev box), then the directories that hold the lease and the rootfs.
func (s *Store) MoveRootfs(ctx context.Context, from, to string) error {
	if err := s.moveRootfs(ctx, from, to); err != nil {
		return fmt.Errorf("move rootfs from %s to %s: %w", from, to, err)
	}
	return nil
}

func (s *Store) moveRootfs(ctx context.Context, from, to string) error {
	from, err := filepath.Abs(from)
	if err != nil {
		return err
	}
	if to, err = filepath.Abs(to); err != nil {
		return err
	}
	lk, err := s.lockShared(ctx)
	if err != nil {
		return err
	}
	defer lk.unlock()
	l, err := s.readLease(from)
	if err != nil {
		return err
	}
	if !rootfsReady(filepath.Join(from, rootfsName), l.Mode) {
		return errors.New("no rootfs there")
	}
	l.ContainerDir = to
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	lease := s.leasePath(to)
	if err := writeFile(lease, b, false); err != nil {
		return fmt.Errorf("write lease: %w", err)
	}
	if err := os.Rename(from, to); err != nil {
		_ = s.removeLease(to)
		return err
	}
	go func() {
		if f, err := os.Open(lease); err == nil {
			err = f.Sync()
			f.Close()
			if err == nil {
				_ = syncDir(filepath.Dir(lease))
				_ = syncDir(filepath.Dir(to))
			}
		}
	}()
	return s.removeLease(from)
}

// ImageDigest is the manifest digest of the stored image ref names.
func (s *Store) ImageDigest(ctx context.Context, ref string) (v1.Hash, error) {
	lk, err := s.lockShared(ctx)
	if err != nil {
		return v1.Hash{}, err
	}
	defer lk.unlock()
	d, err := s.resolve(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	return d.Digest, nil
}

// Leases lists the prepared container rootfs, oldest first.
func (s *Store) Leases() ([]Lease, error) {
	ents, err := os.ReadDir(s.leaseDir())
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	var out []Lease
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.leaseDir(), e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read lease %s: %w", e.Name(), err)
		}
		var l Lease
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("read lease %s: %w", e.Name(), err)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

func (s *Store) newLease(img v1.Image, ref, dir string) (Lease, error) {
	digest, err := img.Digest()
	if err != nil {
		return Lease{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Lease{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Lease{}, err
	}
	l := Lease{ContainerDir: dir, Ref: ref, Image: digest, Layers: cf.RootFS.DiffIDs, Created: time.Now().UTC()}
	l.Blobs = append(l.Blobs, digest, m.Config.Digest)
	for _, ld := range m.Layers {
		l.Blobs = append(l.Blobs, ld.Digest)
	}
	return l, nil
}

// leasePath names a container directory's lease by a hash of its path.
func (s *Store) leasePath(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(s.leaseDir(), hex.EncodeToString(sum[:16])+".json")
}

func (s *Store) readLease(dir string) (Lease, error) {
	b, err := os.ReadFile(s.leasePath(dir))
	if err != nil {
		return Lease{}, err
	}
	var l Lease
	if err := json.Unmarshal(b, &l); err != nil {
		return Lease{}, fmt.Errorf("read lease of %s: %w", dir, err)
	}
	return l, nil
}

func (s *Store) writeLease(l Lease) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.leasePath(l.ContainerDir), b); err != nil {
		return fmt.Errorf("write lease: %w", err)
	}
	return nil
}

func (s *Store) removeLease(dir string) error {
	if err := os.Remove(s.leasePath(dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove lease: %w", err)
	}
	return nil
}

// effectiveMode is the configured RootfsMode, with RootfsAuto resolved once
// by trying an overlayfs mount in the store's tmp directory.
func (s *Store) effectiveMode() RootfsMode {
	s.modeOnce.Do(func() {
		if s.mode != RootfsAuto {
			s.modeEff = s.mode
			return
		}
		if err := probeOverlay(s.tmpDir()); err != nil {
			s.log.Info("overlayfs not usable here; container rootfs will be copies", "err", err)
			s.modeEff = RootfsCopy
			return
		}
		s.modeEff = RootfsOverlay
	})
	return s.modeEff
}

// RootfsMode is how this store builds container rootfs: RootfsOverlay or
// RootfsCopy (RootfsAuto resolved).
func (s *Store) RootfsMode() RootfsMode { return s.effectiveMode() }

// rootfsReady reports whether a rootfs made in mode is complete.
func rootfsReady(rootfs, mode string) bool {
	switch mode {
	case RootfsOverlay.String():
		return isOverlayMount(rootfs)
	case RootfsCopy.String():
		fi, err := os.Lstat(rootfs)
		return err == nil && fi.IsDir()
	}
	return false
}

// teardown unmounts and deletes what PrepareRootfs made in dir. It refuses
// to delete anything while some other mount is still beneath the rootfs.
func teardown(dir string) error {
	rootfs := filepath.Join(dir, rootfsName)
	if isOverlayMount(rootfs) {
		if err := unmount(rootfs); err != nil {
			return err
		}
	}
	for _, p := range []string{rootfs, filepath.Join(dir, partialName)} {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			// Nothing is mounted at or beneath a path that is not there
			// (a mount point cannot be removed): a new container's case,
			// spared a read of the whole mount table, which a burst of
			// image tasks makes long.
			continue
		}
		beneath, err := mountsBeneath(p)
		if err != nil {
			return err
		}
		if len(beneath) > 0 {
			return fmt.Errorf("%w: %s is still mounted", ErrBusy, beneath[0])
		}
	}
	for _, name := range []string{rootfsName, partialName, upperName, workName, emptyName} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	return nil
}
