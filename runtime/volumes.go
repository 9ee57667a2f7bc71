package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
	"nodectl/storage"
)

// Persistent volumes on the agent (https://mesos.apache.org/documentation/latest/persistent-volume/).
//
// The master owns the agent's dynamic reservations and volumes and sends
// the complete set (CHECKPOINT_RESOURCES) after each change and when the
// agent registers with a different set. The agent keeps that set in its
// checkpoint (the resources record) and one row per volume directory
// (<work_dir>/volumes/roles/<role>/<persistence_id>) in the volumes table:
//
//	(none) ──CREATE──▶ ready ──DESTROY──▶ destroying ──dir removed──▶ (none)
//
// A restart finishes a DESTROY that a crash interrupted. A task using a
// volume has its directory bind-mounted at <sandbox>/<container_path>,
// read-write or read-only by the volume's mode. With
// EnforceContainerDiskQuota, the agent measures each volume every
// ContainerDiskWatchInterval and kills a task whose volume has grown beyond
// its size (REASON_CONTAINER_LIMITATION_DISK), as Mesos' posix/disk
// isolator does; no filesystem project quotas are used.

// DefaultContainerDiskWatchInterval is Mesos' --container_disk_watch_interval.
const DefaultContainerDiskWatchInterval = 15 * time.Second

// volumeState is the agent's checkpointed reservations and volumes.
type volumeState struct {
	mu  sync.Mutex    // guards set; held across a whole checkpoint change
	set api.Resources // as the master last sent it
}

// volumePath is where a volume's data lives on the agent.
func volumePath(workDir, role, id string) string {
	return filepath.Join(workDir, "volumes", "roles", role, id)
}

// volumePathOf is where volume v lives, by its disk (Mesos'
// src/slave/paths.cpp getPersistentVolumePath): on the root disk under
// the work dir, on a PATH disk the same tree under the disk's root, and
// on a MOUNT disk the disk's root itself.
func volumePathOf(workDir string, v api.Resource) string {
	s := v.Source()
	switch {
	case s == nil:
		return volumePath(workDir, v.Role, v.PersistenceID())
	case s.Type == api.DiskSourceMount:
		return s.RootDir(workDir)
	default:
		return volumePath(s.RootDir(workDir), v.Role, v.PersistenceID())
	}
}

// isMountRoot reports whether p is the root of one of the agent's MOUNT
// disks: a DESTROY empties such a directory but leaves it, as Mesos does.
func (a *Agent) isMountRoot(p string) bool {
	for _, s := range a.cfg.Resources.DiskSources() {
		if s.Type == api.DiskSourceMount && s.RootDir(a.cfg.WorkDir) == filepath.Clean(p) {
			return true
		}
	}
	return false
}

// removeContents deletes everything in dir but dir itself.
func removeContents(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// restoreVolumes loads the checkpointed set and finishes interrupted
// DESTROYs. Called once from openCheckpoint.
func (a *Agent) restoreVolumes(ctx context.Context, st storage.State) {
	if len(st.Resources) > 0 {
		var rs api.Resources
		if err := json.Unmarshal(st.Resources, &rs); err != nil {
			a.log.Warn("checkpointed resources unreadable; the master will resend them", "err", err)
		} else {
			a.vols.set = rs.Add(nil)
		}
	}
	for _, v := range st.Volumes {
		if v.Destroying {
			a.removeVolumeDir(ctx, v)
		}
	}
}

// checkpointedResources is what the agent reports at registration.
func (a *Agent) checkpointedResources() api.Resources {
	a.vols.mu.Lock()
	defer a.vols.mu.Unlock()
	return a.vols.set
}

// applyCheckpoint makes the volume directories match the master's set:
// new volumes are created, volumes no longer in the set are destroyed
// (their data deleted, as DESTROY does since Mesos 1.0). It runs on the
// message stream before any later LAUNCH, so a task never starts before
// its volume exists.
func (a *Agent) applyCheckpoint(ctx context.Context, rs api.Resources) {
	a.vols.mu.Lock()
	defer a.vols.mu.Unlock()
	rs = rs.Add(nil)
	now := time.Now()
	for _, v := range rs.Volumes() {
		if a.vols.set.Volumes().Contains(api.Resources{v}) {
			continue
		}
		p := volumePathOf(a.cfg.WorkDir, v)
		if err := os.MkdirAll(p, 0o755); err != nil {
			a.log.Error("create persistent volume", "persistence_id", v.PersistenceID(), "path", p, "err", err)
			continue
		}
		rec := storage.Volume{Role: v.Role, PersistenceID: v.PersistenceID(), Path: p, SizeBytes: mib(v), CreatedAt: now}
		if err := a.store.PutVolume(ctx, rec); err != nil {
			a.log.Error("checkpoint persistent volume", "persistence_id", v.PersistenceID(), "err", err)
		}
		a.log.Info("persistent volume created", "role", v.Role, "persistence_id", v.PersistenceID(), "path", p)
	}
	for _, v := range a.vols.set.Volumes() {
		if rs.Volumes().Contains(api.Resources{v}) {
			continue
		}
		p := volumePathOf(a.cfg.WorkDir, v)
		rec := storage.Volume{Role: v.Role, PersistenceID: v.PersistenceID(), Path: p, SizeBytes: mib(v), Destroying: true}
		if err := a.store.PutVolume(ctx, rec); err != nil {
			a.log.Error("checkpoint persistent volume destroy", "persistence_id", v.PersistenceID(), "err", err)
		}
		a.removeVolumeDir(ctx, rec)
	}
	body, _ := json.Marshal(rs)
	if rs == nil {
		body = []byte("[]")
	}
	if err := a.store.PutResources(ctx, body); err != nil {
		a.log.Error("checkpoint resources", "err", err)
	}
	a.vols.set = rs
}

func (a *Agent) removeVolumeDir(ctx context.Context, v storage.Volume) {
	remove := os.RemoveAll
	if a.isMountRoot(v.Path) {
		remove = removeContents
	}
	if err := remove(v.Path); err != nil {
		a.log.Error("destroy persistent volume", "persistence_id", v.PersistenceID, "path", v.Path, "err", err)
		return
	}
	if err := a.store.DeleteVolume(ctx, v.Role, v.PersistenceID); err != nil {
		a.log.Warn("forget destroyed volume", "persistence_id", v.PersistenceID, "err", err)
	}
	a.log.Info("persistent volume destroyed", "role", v.Role, "persistence_id", v.PersistenceID)
}

func mib(r api.Resource) int64 {
	if r.Scalar == nil {
		return 0
	}
	return int64(r.Scalar.Value * (1 << 20))
}

// taskVolume is a persistent volume a task uses.
type taskVolume struct {
	id, hostPath, containerPath string
	readOnly                    bool
	sizeBytes                   int64
}

func (a *Agent) taskVolumes(ti api.TaskInfo) []taskVolume {
	var out []taskVolume
	for _, r := range ti.Resources.Volumes() {
		if r.Disk.Volume == nil {
			continue
		}
		out = append(out, taskVolume{
			id: r.PersistenceID(), hostPath: volumePathOf(a.cfg.WorkDir, r),
			containerPath: r.Disk.Volume.ContainerPath, readOnly: r.Disk.Volume.Mode == api.VolumeRO, sizeBytes: mib(r),
		})
	}
	return out
}

// volumeMounts are the bind mounts of a task's persistent volumes. The
// mount points are created in the sandbox, which is also what the
// container sees at sandboxTarget.
func (a *Agent) volumeMounts(ti api.TaskInfo, sandbox, sandboxTarget string) ([]container.Mount, error) {
	var out []container.Mount
	for _, v := range a.taskVolumes(ti) {
		if err := api.ValidateContainerPath(v.containerPath); err != nil {
			return nil, err
		}
		if _, err := os.Stat(v.hostPath); err != nil {
			return nil, fmt.Errorf("persistent volume %s: %w", v.id, err)
		}
		if err := os.MkdirAll(filepath.Join(sandbox, v.containerPath), 0o755); err != nil {
			return nil, fmt.Errorf("persistent volume %s mount point: %w", v.id, err)
		}
		out = append(out, container.Mount{Source: v.hostPath, Destination: filepath.Join(sandboxTarget, v.containerPath), ReadOnly: v.readOnly})
	}
	// A volume whose host path is relative names a persistent volume by
	// its containerPath (Mesos resolves a relative host_path in the
	// sandbox): the volume's own directory is bound there too, never the
	// sandbox path, which the task could have made a link.
	for _, v := range volumes(ti) {
		if filepath.IsAbs(v.HostPath) {
			continue
		}
		pv, ok := a.persistentByPath(ti, v.HostPath)
		if !ok {
			return nil, fmt.Errorf("hostPath %q is relative but is not the containerPath of one of the task's persistent volumes", v.HostPath)
		}
		dst := v.ContainerPath
		if !filepath.IsAbs(dst) {
			if err := api.ValidateContainerPath(dst); err != nil {
				return nil, err
			}
			if err := os.MkdirAll(filepath.Join(sandbox, dst), 0o755); err != nil {
				return nil, fmt.Errorf("volume %s mount point: %w", dst, err)
			}
			dst = filepath.Join(sandboxTarget, dst)
		}
		out = append(out, container.Mount{Source: pv.hostPath, Destination: dst, ReadOnly: pv.readOnly || v.Mode == api.VolumeRO})
	}
	return out, nil
}

// persistentByPath is the task's persistent volume whose containerPath is
// p (a relative path), if any.
func (a *Agent) persistentByPath(ti api.TaskInfo, p string) (taskVolume, bool) {
	for _, v := range a.taskVolumes(ti) {
		if filepath.Clean(v.containerPath) == filepath.Clean(p) {
			return v, true
		}
	}
	return taskVolume{}, false
}

// diskUsage is the bytes used under dir (a du-style walk: apparent sizes of
// regular files, each inode once).
func diskUsage(dir string) (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		if ino, ok := inode(info); ok {
			if seen[ino] {
				return nil
			}
			seen[ino] = true
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// killForLimit kills a task for a resource limitation: it ends TASK_FAILED
// with reason, as Mesos reports isolator limitations.
func (a *Agent) killForLimit(ctx context.Context, t *task, reason, msg string) {
	a.tasks.mu.Lock()
	if t.killing || t.state.Terminal() {
		a.tasks.mu.Unlock()
		return
	}
	t.killing, t.limitation = true, true
	t.killReason, t.killMessage = reason, msg
	ctr := t.ctr
	a.tasks.mu.Unlock()
	a.log.Warn("task over its disk quota; killing it", "task_id", t.id, "reason", reason, "message", msg)
	if ctr != nil {
		if err := ctr.Kill(ctx, 0); err != nil && ctx.Err() == nil {
			a.log.Warn("kill task", "task_id", t.id, "err", err)
		}
	}
}

// volumesJSON is the agent's /state view of its volumes, with usage.
func (a *Agent) volumesJSON() []map[string]any {
	out := []map[string]any{}
	for _, v := range a.checkpointedResources().Volumes() {
		p := volumePathOf(a.cfg.WorkDir, v)
		used, _ := diskUsage(p)
		e := map[string]any{
			"role": v.Role, "persistence_id": v.PersistenceID(), "path": p, "size": v.Scalar.Value, "used_bytes": used,
			"container_path": v.Disk.Volume.ContainerPath, "labels": map[string]string{},
		}
		if src := v.Source(); src != nil {
			e["source"] = src
		}
		if d := v.Dynamic(); d != nil && d.Labels != nil {
			for _, l := range d.Labels.Labels {
				e["labels"].(map[string]string)[l.Key] = l.Value
			}
		}
		out = append(out, e)
	}
	return out
}

func inode(info fs.FileInfo) (uint64, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}

func reservedFull(rs api.Resources) map[string]api.Resources {
	out := map[string]api.Resources{}
	for _, r := range rs {
		out[r.Role] = append(out[r.Role], r)
	}
	return out
}
