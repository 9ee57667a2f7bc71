package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// GCStats says what GC deleted.
type GCStats struct {
	Blobs      int   // blobs (manifests, configs, compressed layers) deleted
	Layers     int   // unpacked layer directories deleted
	Leases     int   // stale leases (container directory gone) dropped
	BytesFreed int64 // size of the deleted blobs
}

// GC deletes every blob and unpacked layer that no stored name and no lease
// uses, and scratch files of interrupted writes. It holds the store lock
// exclusively, so it waits for running pulls, loads, imports and rootfs
// preparations, and they wait for it.
func (s *Store) GC(ctx context.Context) (GCStats, error) {
	return s.GCWith(ctx, GCOptions{})
}

// GCOptions narrow what GCWith deletes.
type GCOptions struct {
	// StoredBefore, when set, keeps unused blobs and layers stored at or
	// after it (the later of a file's modification and change times: a
	// blob or layer is renamed into place when stored, which sets its
	// change time, whatever times its archive gave it).
	StoredBefore time.Time
}

// GCWith is GC with options: the agent's image garbage collector deletes
// unused blobs and layers by age.
func (s *Store) GCWith(ctx context.Context, opts GCOptions) (GCStats, error) {
	st, err := s.gc(ctx, opts)
	if err != nil {
		return st, fmt.Errorf("gc images: %w", err)
	}
	if st.Blobs+st.Layers+st.Leases > 0 || opts.StoredBefore.IsZero() {
		s.log.Info("image gc done", "blobs", st.Blobs, "layers", st.Layers, "leases", st.Leases, "bytes_freed", st.BytesFreed)
	}
	return st, nil
}

// storedAt is when a blob or layer was stored: the later of its
// modification and change times.
func storedAt(fi fs.FileInfo) time.Time {
	t := fi.ModTime()
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(sys.Ctim.Sec, sys.Ctim.Nsec); c.After(t) {
			t = c
		}
	}
	return t
}

// tooNew reports whether opts keep an entry stored after their cutoff.
func (o GCOptions) tooNew(e fs.DirEntry) bool {
	if o.StoredBefore.IsZero() {
		return false
	}
	fi, err := e.Info()
	return err != nil || !storedAt(fi).Before(o.StoredBefore)
}

func (s *Store) gc(ctx context.Context, opts GCOptions) (GCStats, error) {
	var st GCStats
	lk, err := s.lockExclusive(ctx)
	if err != nil {
		return st, err
	}
	defer lk.unlock()

	liveBlobs := map[string]bool{}
	liveLayers := map[string]bool{}
	idx, err := s.readIndex()
	if err != nil {
		return st, err
	}
	for _, d := range idx.Manifests {
		// A name whose blobs cannot be read would make its layers look
		// unused: stop rather than delete them.
		if err := s.markImage(d.Digest, liveBlobs, liveLayers); err != nil {
			return st, fmt.Errorf("image %s: %w", d.Annotations[annotationOriginal], err)
		}
	}
	leases, err := s.Leases()
	if err != nil {
		return st, err
	}
	for _, l := range leases {
		if _, err := os.Stat(l.ContainerDir); errors.Is(err, fs.ErrNotExist) {
			if err := s.removeLease(l.ContainerDir); err != nil {
				return st, err
			}
			s.log.Warn("dropped stale lease: container directory is gone", "container_dir", l.ContainerDir, "ref", l.Ref)
			st.Leases++
			continue
		}
		for _, h := range l.Blobs {
			liveBlobs[h.Hex] = true
		}
		for _, h := range l.Layers {
			liveLayers[h.Hex] = true
		}
	}

	blobs, err := os.ReadDir(s.blobDir())
	if err != nil {
		return st, err
	}
	for _, e := range blobs {
		if liveBlobs[e.Name()] || opts.tooNew(e) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			st.BytesFreed += fi.Size()
		}
		if err := os.Remove(filepath.Join(s.blobDir(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return st, err
		}
		st.Blobs++
	}
	layers, err := os.ReadDir(s.layerDir())
	if err != nil {
		return st, err
	}
	for _, e := range layers {
		if liveLayers[e.Name()] || opts.tooNew(e) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.layerDir(), e.Name())); err != nil {
			return st, err
		}
		st.Layers++
	}
	// No writer runs while we hold the lock exclusively: whatever is in tmp/
	// was left by an interrupted one.
	tmp, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return st, err
	}
	for _, e := range tmp {
		if err := os.RemoveAll(filepath.Join(s.tmpDir(), e.Name())); err != nil {
			return st, err
		}
	}
	return st, nil
}

// markImage marks the blobs and layers of a stored manifest live.
func (s *Store) markImage(digest v1.Hash, blobs, layers map[string]bool) error {
	img, err := s.image(digest)
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	blobs[digest.Hex] = true
	blobs[m.Config.Digest.Hex] = true
	for _, l := range m.Layers {
		blobs[l.Digest.Hex] = true
	}
	for _, h := range cf.RootFS.DiffIDs {
		layers[h.Hex] = true
	}
	return nil
}
