package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"nodectl/cluster/api"
)

// Container disk quotas, as Mesos' disk/du isolator enforces them
// (src/slave/containerizer/mesos/isolators/posix/disk.cpp; docs:
// http://mesos.apache.org/documentation/latest/isolators/disk/).
//
// With EnforceContainerDiskQuota (--enforce-container-disk-quota, Mesos'
// --enforce_container_disk_quota), every ContainerDiskWatchInterval the
// agent measures each running task's sandbox against the task's `disk`
// resources that are not persistent volumes, and each persistent volume
// against its own size (volumes.go). A task beyond either is killed and
// ends TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK and a message
// naming the usage and the limit. A task with no `disk` resource has no
// sandbox limit.
//
// The sandbox is measured as du(1) does: a walk that does not follow
// symbolic links, counts the blocks each inode has allocated (st_blocks,
// so sparse files count what they use and preallocated ones what they
// hold), counts a hard-linked inode once, and does not cross into another
// filesystem. Persistent volumes' mount points inside the sandbox are
// skipped: their data is counted against the volume, not twice. The walk
// stops as soon as the usage is beyond the limit, and only one walk runs
// at a time on the agent, so a task with many files costs at most one
// core's share of walking per interval.
//
// Mesos ships --enforce_container_disk_quota off; nodectl turns it on by
// default: without it a task can fill the work-dir filesystem that the
// agent's checkpoints, logs and (on --role=all) etcd share with every
// sandbox (docs/runtime.md "Disk").

// diskWalks serializes sandbox and volume walks across tasks.
var diskWalks sync.Mutex

// sandboxDiskLimit is the bytes of the task's `disk` resources that are
// not persistent volumes: its sandbox quota; 0 means none.
func sandboxDiskLimit(ti api.TaskInfo) int64 {
	var mb float64
	for _, r := range ti.Resources {
		if r.Name == "disk" && r.Type == api.Scalar && r.Scalar != nil && r.PersistenceID() == "" {
			mb += max(0, r.Scalar.Value)
		}
	}
	return int64(mb * (1 << 20))
}

// sandboxUsage is the bytes allocated under dir (see the comment at the
// top of this file). Directories in skip (absolute paths) are not entered.
// It stops early once the total is beyond stopAbove (when stopAbove > 0):
// the result is then some value beyond it.
func sandboxUsage(dir string, skip map[string]bool, stopAbove int64) (int64, error) {
	var rootDev uint64
	var total int64
	seen := map[[2]uint64]bool{}
	errOver := errors.New("over")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // removed while walking, or unreadable: count what can be read
		}
		if d.IsDir() && p != dir && skip[p] {
			return filepath.SkipDir
		}
		info, err := d.Info() // lstat: symbolic links are not followed
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if p == dir {
			rootDev = uint64(st.Dev)
		} else if uint64(st.Dev) != rootDev {
			if d.IsDir() {
				return filepath.SkipDir // a mount point: another filesystem
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			k := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += st.Blocks * 512
		if stopAbove > 0 && total > stopAbove {
			return errOver
		}
		return nil
	})
	if errors.Is(err, errOver) {
		err = nil
	}
	return total, err
}

// watchDisk measures a running task's sandbox and persistent volumes every
// ContainerDiskWatchInterval and kills the task once one is beyond its
// limit. It returns when the task is terminal or being killed, or ctx
// ends.
func (a *Agent) watchDisk(ctx context.Context, t *task) {
	if !a.cfg.EnforceContainerDiskQuota {
		return
	}
	vols := a.taskVolumes(t.info)
	limit := sandboxDiskLimit(t.info)
	if len(vols) == 0 && limit == 0 {
		return
	}
	skip := map[string]bool{}
	for _, v := range vols {
		skip[filepath.Join(t.sandbox, v.containerPath)] = true
	}
	tick := time.NewTicker(a.cfg.ContainerDiskWatchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.tasks.mu.Lock()
		done := t.state.Terminal() || t.killing
		a.tasks.mu.Unlock()
		if done {
			return
		}
		if msg := a.overDiskQuota(t, limit, skip, vols); msg != "" {
			a.killForLimit(ctx, t, api.ReasonContainerLimitationDisk, msg)
			return
		}
	}
}

// overDiskQuota measures once; it returns the limitation message when the
// sandbox or a volume is beyond its limit, else "".
func (a *Agent) overDiskQuota(t *task, limit int64, skip map[string]bool, vols []taskVolume) string {
	diskWalks.Lock()
	defer diskWalks.Unlock()
	if limit > 0 {
		used, err := sandboxUsage(t.sandbox, skip, limit)
		if err != nil {
			a.log.Warn("measure sandbox", "task_id", t.id, "sandbox", t.sandbox, "err", err)
		} else if used > limit {
			return fmt.Sprintf("Disk usage (%d bytes) of the sandbox exceeds its quota (%d bytes)", used, limit)
		}
	}
	for _, v := range vols {
		used, err := diskUsage(v.hostPath)
		if err != nil {
			a.log.Warn("measure persistent volume", "task_id", t.id, "persistence_id", v.id, "err", err)
			continue
		}
		if used > v.sizeBytes {
			return fmt.Sprintf("Disk usage (%d bytes) of persistent volume %s exceeds its quota (%d bytes)", used, v.id, v.sizeBytes)
		}
	}
	return ""
}
