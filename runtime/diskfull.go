package runtime

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A full work-dir filesystem (docs/runtime.md "Disk").
//
// The agent's checkpoints, logs, images and every sandbox share the work
// dir's filesystem. When it fills, the agent keeps running: every write
// path (the sqlite checkpoint, status update persistence, log files,
// sandboxes, image layers) returns its error, which is reported, and
// status updates stay queued in memory and are re-sent until acknowledged.
// The agent watches the filesystem's free space (statfs) and calls it
// full when less than both diskFullFraction of it and diskFullBytes are
// available to unprivileged writers, or less than Config.DiskFullBelow
// (on a node whose master shares the filesystem: the space kept for
// etcd, see node/etcd_reserve.go). While it is full:
//   - a LAUNCH is refused: TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED,
//     with a message naming the full disk (a task could not even write
//     its sandbox, and a launch needs checkpoint writes);
//   - slave/disk_full is 1 in /metrics/snapshot, /health and /state carry
//     the condition and the free bytes, and the agent logs once when it
//     begins and once when it ends.
//
// Once space is freed the next check (or launch) sees it and launches
// resume; nothing else has to be restarted.

const (
	diskFullFraction = 0.01     // of the filesystem's size
	diskFullBytes    = 64 << 20 // 64 MiB
)

// diskCheckInterval is how often free space is measured (a variable for
// tests). statfs is one cheap system call.
var diskCheckInterval = time.Second

// diskSpace is the last measurement of the work dir's filesystem.
type diskSpace struct {
	mu          sync.Mutex // guards the fields below
	full        bool
	avail, size uint64 // bytes
	free        uint64 // bytes free, those reserved for root included (f_bfree)
	err         error  // the last statfs error, if any
}

// checkDiskSpace measures the work dir's filesystem now, records it and
// logs a change of condition. It reports whether the disk is full.
func (a *Agent) checkDiskSpace() bool {
	var st unix.Statfs_t
	err := unix.Statfs(a.cfg.WorkDir, &st)
	ds := &a.space
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if err != nil {
		if ds.err == nil {
			a.log.Warn("cannot measure the work dir's free space", "work_dir", a.cfg.WorkDir, "err", err)
		}
		ds.err = err
		return ds.full
	}
	ds.err = nil
	avail, size := st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize)
	full := float64(avail) < diskFullFraction*float64(size) && avail < diskFullBytes || avail < a.cfg.DiskFullBelow
	switch {
	case full && !ds.full:
		a.log.Error("work-dir filesystem full: launches are refused until space is freed",
			"work_dir", a.cfg.WorkDir, "free_bytes", avail, "size_bytes", size)
	case !full && ds.full:
		a.log.Info("work-dir filesystem has space again: launches resume",
			"work_dir", a.cfg.WorkDir, "free_bytes", avail, "size_bytes", size)
	}
	ds.full, ds.avail, ds.size, ds.free = full, avail, size, st.Bfree*uint64(st.Bsize)
	return full
}

// watchDiskSpace measures free space every diskCheckInterval until ctx
// ends.
func (a *Agent) watchDiskSpace(ctx context.Context) {
	a.checkDiskSpace()
	tick := time.NewTicker(diskCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			a.checkDiskSpace()
		}
	}
}

// diskFullRefusal is the message a launch is refused with when the work
// dir's filesystem is full (measured now), else "".
func (a *Agent) diskFullRefusal() string {
	if !a.checkDiskSpace() {
		return ""
	}
	ds := &a.space
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return fmt.Sprintf("Task not launched: the agent's disk is full (work-dir filesystem %s has %d of %d bytes free); "+
		"launches resume when space is freed", a.cfg.WorkDir, ds.avail, ds.size)
}

// diskSpaceJSON is the condition as /health and /state show it.
func (a *Agent) diskSpaceJSON() map[string]any {
	ds := &a.space
	ds.mu.Lock()
	defer ds.mu.Unlock()
	out := map[string]any{"disk_full": ds.full, "work_dir_free_bytes": ds.avail, "work_dir_size_bytes": ds.size}
	if ds.err != nil {
		out["work_dir_statfs_error"] = ds.err.Error()
	}
	return out
}

// registerDiskSpaceMetrics adds slave/disk_full (0 or 1) and
// slave/work_dir_free_bytes.
func (a *Agent) registerDiskSpaceMetrics() {
	a.metrics.GaugeFunc("slave/disk_full", "1 while the work-dir filesystem is full and launches are refused", func() float64 {
		a.space.mu.Lock()
		defer a.space.mu.Unlock()
		if a.space.full {
			return 1
		}
		return 0
	})
	a.metrics.GaugeFunc("slave/work_dir_free_bytes", "bytes free on the work-dir filesystem", func() float64 {
		a.space.mu.Lock()
		defer a.space.mu.Unlock()
		return float64(a.space.avail)
	})
}
