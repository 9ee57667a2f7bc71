package runtime

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"nodectl/runtime/image"
)

// Image garbage collection on the agent. Two collectors share the disk
// watch of the sandbox collector (gc.go):
//
//   - Always: image blobs and unpacked layers that nothing uses (no stored
//     image name, no lease of a prepared container rootfs; a live or
//     recoverable task holds a lease until its container is released)
//     are removed once stored longer ago than the sandbox formula's
//     maximum age, gc_delay × max(0, 1 − gc_disk_headroom − usage): they
//     go after --gc_delay, sooner as the disk fills.
//   - With Mesos' --image_gc_config (docs/container-image.md, "Garbage
//     Collect Unused Container Images"; Slave::checkImageDiskUsage in
//     Mesos' src/slave/slave.cpp): every image_disk_watch_interval, when
//     the disk usage of the image store's filesystem exceeds
//     1 − image_disk_headroom, the images no container uses are pruned as
//     Mesos' pruneImages does: their names are removed (except
//     excluded_images) and every unused blob and layer goes at once.
//
// A layer or blob of an image a container uses is never removed: its
// lease names it, and collection holds the store's lock exclusively, so
// no rootfs is being prepared meanwhile. Counts go to
// slave/gc_image_{blobs,layers,images}_removed, slave/gc_image_bytes_freed
// and slave/gc_image_failed.

// ImageGCConfig is Mesos' --image_gc_config. The zero value (Enabled
// false) is Mesos' default: no disk-triggered image pruning.
type ImageGCConfig struct {
	Enabled bool
	// DiskHeadroom is image_disk_headroom, in [0, 1].
	DiskHeadroom float64
	// DiskWatchInterval is image_disk_watch_interval.
	DiskWatchInterval time.Duration
	// ExcludedImages are image references never pruned.
	ExcludedImages []string
}

type imageGCMetrics struct {
	once                                 sync.Once
	blobs, layers, images, bytes, failed prometheus.Counter
}

func (a *Agent) imageGCCounters() *imageGCMetrics {
	m := &a.imageGC
	m.once.Do(func() {
		m.blobs = a.metrics.Counter("slave/gc_image_blobs_removed", "unused image blobs (manifests, configs, compressed layers) removed by the image garbage collector")
		m.layers = a.metrics.Counter("slave/gc_image_layers_removed", "unused unpacked image layers removed by the image garbage collector")
		m.images = a.metrics.Counter("slave/gc_image_images_removed", "stored image names pruned at low disk (--image_gc_config)")
		m.bytes = a.metrics.Counter("slave/gc_image_bytes_freed", "bytes of image blobs removed by the image garbage collector")
		m.failed = a.metrics.Counter("slave/gc_image_failed", "image garbage collections that failed")
	})
	return m
}

// imageGCPlan says what one tick of the image collector does.
type imageGCPlan struct {
	storedBefore time.Time // unused blobs and layers stored before this go
	prune        bool      // low disk under --image_gc_config: prune unused images now
}

// planImageGC decides a tick: the sandbox formula's age always, and a
// prune when --image_gc_config is set, its interval has passed since
// lastCheck and usage is above 1 − image_disk_headroom.
func planImageGC(now time.Time, delay time.Duration, headroom, usage float64, cfg ImageGCConfig, lastCheck time.Time) (plan imageGCPlan, checked bool) {
	plan.storedBefore = now.Add(-gcMaxAge(delay, headroom, usage))
	if !cfg.Enabled || now.Sub(lastCheck) < cfg.DiskWatchInterval {
		return plan, false
	}
	if cfg.DiskHeadroom+usage > 1 {
		plan.prune = true
		plan.storedBefore = now
	}
	return plan, true
}

// runImageGC collects images on the sandbox collector's interval (or
// image_disk_watch_interval when shorter) until ctx ends.
func (a *Agent) runImageGC(ctx context.Context) {
	if a.images == nil {
		return
	}
	every := min(a.cfg.DiskWatchInterval, a.cfg.GCDelay)
	if a.cfg.ImageGC.Enabled {
		every = min(every, a.cfg.ImageGC.DiskWatchInterval)
	}
	every = max(every, minGCInterval)
	t := time.NewTicker(every)
	defer t.Stop()
	var lastCheck time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		plan, checked := planImageGC(now, a.cfg.GCDelay, a.cfg.GCDiskHeadroom, a.diskUsage(), a.cfg.ImageGC, lastCheck)
		if checked {
			lastCheck = now
		}
		a.collectImages(ctx, plan)
	}
}

// collectImages runs one collection.
func (a *Agent) collectImages(ctx context.Context, plan imageGCPlan) {
	m := a.imageGCCounters()
	a.dropWarmImages(ctx, plan.prune)
	if plan.prune {
		n, err := a.pruneUnusedImages(ctx)
		m.images.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			m.failed.Inc()
			a.log.Warn("image pruning failed", "err", err)
		}
	}
	st, err := a.images.GCWith(ctx, image.GCOptions{StoredBefore: plan.storedBefore})
	m.blobs.Add(float64(st.Blobs))
	m.layers.Add(float64(st.Layers))
	m.bytes.Add(float64(st.BytesFreed))
	if err != nil && !errors.Is(err, context.Canceled) {
		m.failed.Inc()
		a.log.Warn("image garbage collection failed", "err", err)
	}
}

// dropWarmImages ends the warm containers (warmimage.go) whose image is
// no longer named in the store, or all of them when pruning at low disk:
// their leases would keep the image's layers, and no task is waiting for
// them.
func (a *Agent) dropWarmImages(ctx context.Context, all bool) {
	wc, ok := a.driver.(interface{ DropWarm(image string) })
	if !ok {
		return
	}
	if all {
		wc.DropWarm("")
		return
	}
	leases, err := a.images.Leases()
	if err != nil {
		return
	}
	var named map[string]bool
	for _, l := range leases {
		if !strings.HasPrefix(filepath.Base(l.ContainerDir), warmPrefix) {
			continue
		}
		if named == nil {
			imgs, err := a.images.List(ctx)
			if err != nil {
				return
			}
			named = map[string]bool{}
			for _, img := range imgs {
				named[img.Digest.String()] = true
			}
		}
		if !named[l.Image.String()] {
			wc.DropWarm(l.Image.String())
		}
	}
}

// pruneUnusedImages removes the names of stored images no container's
// lease uses and that --image_gc_config does not exclude.
func (a *Agent) pruneUnusedImages(ctx context.Context) (int, error) {
	imgs, err := a.images.List(ctx)
	if err != nil {
		return 0, err
	}
	leases, err := a.images.Leases()
	if err != nil {
		return 0, err
	}
	used := map[string]bool{}
	for _, l := range leases {
		used[l.Image.Hex] = true
	}
	n := 0
	for _, img := range imgs {
		if used[img.Digest.Hex] || slices.Contains(a.cfg.ImageGC.ExcludedImages, img.Ref) || slices.Contains(a.cfg.ImageGC.ExcludedImages, img.Name) {
			continue
		}
		if _, err := a.images.Remove(ctx, img.Ref); err != nil {
			if errors.Is(err, image.ErrNotFound) {
				continue
			}
			return n, err
		}
		a.log.Info("pruned an unused image at low disk", "image", img.Ref)
		n++
	}
	return n, nil
}
