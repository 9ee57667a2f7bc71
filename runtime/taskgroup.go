package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
)

// Task groups (LAUNCH_GROUP), run as Mesos' default executor runs them
// (Mesos docs: "Nested Container and Task Group (Pod)"): each task of
// the group is its own container, nested under the group's executor:
//
//   - sandboxes: the executor run's sandbox is
//     executors/<executor id>/runs/<executor container id>; each task's
//     sandbox is tasks/<task id> under it, and SANDBOX_PATH volumes of
//     type PARENT are directories of the executor's sandbox, bind-mounted
//     into every task that names them (a pod's ephemeral volumes);
//   - namespaces: the tasks share one IPC namespace, which the group
//     holds (a locked thread that unshared it) for as long as one of its
//     tasks lives, and the host network (no network namespace);
//   - kill policy: when a task ends other than TASK_FINISHED, the other
//     tasks of the group are killed;
//   - persistent volumes in the executor's resources (a resident pod's)
//     are the executor's: a SANDBOX_PATH volume of type PARENT whose path
//     is such a volume's container path binds the volume's own directory
//     into the task, so every task of the group shares it (Mesos mounts
//     it in the executor's sandbox, where its tasks find it).
//
// The group lives in the agent's memory: after an agent restart the
// recovered tasks keep their containers (and namespace), but the kill
// policy no longer links them.

// taskGroup is one launched task group.
type taskGroup struct {
	key         streamKey // framework id, executor id
	containerID string    // the executor's container (its run directory)
	sandbox     string    // the executor run's sandbox (host path)
	taskIDs     []string  // every task of the group, in launch order
	ipcPath     string    // the shared IPC namespace
	release     func()    // ends the namespace holder
	ended       map[string]bool
	failed      bool // a task ended other than FINISHED: the rest are killed
	// volumes are the persistent volumes of the executor's resources, by
	// container path.
	volumes map[string]api.Resource
}

// taskGroups is the agent's live groups.
type taskGroups struct {
	mu sync.Mutex
	m  map[streamKey]*taskGroup
}

// joinGroup makes t a task of its LAUNCH's group (when there is one),
// creating the group at its first task. A task of a group that already
// failed is killed before it launches.
func (a *Agent) joinGroup(t *task, gl *api.GroupLaunch) {
	if gl == nil {
		return
	}
	t.executorID = gl.Executor.ExecutorID.Value
	a.groups.mu.Lock()
	if a.groups.m == nil {
		a.groups.m = map[streamKey]*taskGroup{}
	}
	k := streamKey{t.frameworkID, t.executorID}
	g := a.groups.m[k]
	if g == nil {
		g = &taskGroup{key: k, containerID: uuid.NewString(), ended: map[string]bool{}, volumes: map[string]api.Resource{}}
		for _, v := range gl.Executor.Resources.Volumes() {
			if v.Disk.Volume != nil {
				g.volumes[filepath.Clean(v.Disk.Volume.ContainerPath)] = v
			}
		}
		for _, id := range gl.TaskIDs {
			g.taskIDs = append(g.taskIDs, id.Value)
		}
		g.sandbox = sandboxDir(a.cfg.WorkDir, a.ID(), t.frameworkID, t.executorID, g.containerID)
		path, release, err := holdIPCNamespace()
		if err != nil {
			a.log.Warn("task group: no shared IPC namespace; its tasks get their own", "executor_id", t.executorID, "err", err)
		} else {
			g.ipcPath, g.release = path, release
		}
		a.groups.m[k] = g
	}
	t.group = g
	failed := g.failed
	a.groups.mu.Unlock()
	if failed {
		a.tasks.mu.Lock()
		t.killing = true
		t.killLaunch()
		a.tasks.mu.Unlock()
	}
}

// holdIPCNamespace makes a new IPC namespace, held by a locked OS thread
// until release: the thread is never unlocked, so it exits (and lets the
// namespace go once no container uses it) when its goroutine returns.
func holdIPCNamespace() (string, func(), error) {
	type res struct {
		tid int
		err error
	}
	ready := make(chan res, 1)
	done := make(chan struct{})
	go func() {
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
			goruntime.UnlockOSThread() // unchanged: the thread may be reused
			ready <- res{err: fmt.Errorf("unshare ipc namespace: %w", err)}
			return
		}
		ready <- res{tid: unix.Gettid()}
		<-done
	}()
	r := <-ready
	if r.err != nil {
		return "", nil, r.err
	}
	var once sync.Once
	return fmt.Sprintf("/proc/%d/task/%d/ns/ipc", os.Getpid(), r.tid), func() { once.Do(func() { close(done) }) }, nil
}

// taskSandboxDir is where t's sandbox is: under its group's executor
// sandbox for a task of a group.
func (a *Agent) taskSandboxDir(t *task) string {
	if g := t.group; g != nil {
		return filepath.Join(g.sandbox, "tasks", t.id)
	}
	return sandboxDir(a.cfg.WorkDir, a.ID(), t.frameworkID, t.executorID, t.containerID)
}

// makeTaskSandbox creates t's sandbox (and its group's).
func (a *Agent) makeTaskSandbox(t *task) (string, error) {
	g := t.group
	if g == nil {
		return makeSandbox(a.cfg.WorkDir, a.ID(), t.frameworkID, t.executorID, t.containerID)
	}
	if _, err := makeSandbox(a.cfg.WorkDir, a.ID(), t.frameworkID, t.executorID, g.containerID); err != nil {
		return "", err
	}
	dir := a.taskSandboxDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create task sandbox: %w", err)
	}
	return dir, nil
}

// groupSpec adds what a task of a group shares to its container spec:
// the group's IPC namespace and its SANDBOX_PATH volumes.
func (a *Agent) groupSpec(t *task, spec *container.Spec, user taskUser) error {
	if t.group != nil {
		spec.Mounts = t.group.withoutExecutorVolumes(spec.Mounts, spec.SandboxTarget)
	}
	if ct := t.info.Container; ct != nil {
		for _, v := range ct.Volumes {
			if v.Source == nil || v.Source.Type != api.VolumeSourceSandboxPath || v.Source.SandboxPath == nil {
				continue // host paths, persistent and secret volumes are mounted elsewhere
			}
			if t.group == nil {
				return errors.New("SANDBOX_PATH volumes of type PARENT need a task group")
			}
			src := filepath.Join(t.group.sandbox, filepath.Clean(v.Source.SandboxPath.Path))
			if pv, ok := t.group.volumes[filepath.Clean(v.Source.SandboxPath.Path)]; ok {
				src = volumePathOf(a.cfg.WorkDir, pv) // the executor's persistent volume
				if _, err := os.Stat(src); err != nil {
					return fmt.Errorf("persistent volume %s: %w", pv.PersistenceID(), err)
				}
			} else if err := os.MkdirAll(src, 0o755); err != nil {
				return fmt.Errorf("volume %s: %w", v.ContainerPath, err)
			}
			// The group's volume belongs to its tasks' user, like their
			// sandboxes (the first task to use it while it is new and root's).
			if err := chownNewVolume(src, user); err != nil {
				return fmt.Errorf("volume %s: %w", v.ContainerPath, err)
			}
			dst := v.ContainerPath
			if !filepath.IsAbs(dst) {
				if err := os.MkdirAll(filepath.Join(spec.SandboxDir, dst), 0o755); err != nil {
					return fmt.Errorf("volume %s mount point: %w", v.ContainerPath, err)
				}
				dst = filepath.Join(spec.SandboxTarget, dst)
			} else if spec.Rootfs == "" {
				return fmt.Errorf("volume %s: an absolute container path needs a container image (use a path relative to the sandbox)", v.ContainerPath)
			}
			spec.Mounts = append(spec.Mounts, container.Mount{Source: src, Destination: dst, ReadOnly: v.Mode == "RO"})
		}
	}
	if t.group != nil {
		spec.IPCNamespacePath = t.group.ipcPath
	}
	return nil
}

// withoutExecutorVolumes drops the mounts of the executor's persistent
// volumes at their container path in a task's sandbox: the master hands
// the executor's resources to the group's first task, but the volumes
// are the executor's, seen by the tasks only where they mount them.
func (g *taskGroup) withoutExecutorVolumes(ms []container.Mount, sandboxTarget string) []container.Mount {
	if len(g.volumes) == 0 {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		if rel, err := filepath.Rel(sandboxTarget, m.Destination); err == nil {
			if _, ok := g.volumes[rel]; ok {
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// groupTaskEnded applies the group's kill policy when t reached a
// terminal state, and lets the group go once every task of it ended.
func (a *Agent) groupTaskEnded(t *task, state api.TaskState) {
	g := t.group
	if g == nil || !state.Terminal() {
		return
	}
	a.groups.mu.Lock()
	g.ended[t.id] = true
	kill := state != api.TaskFinished && !g.failed
	if kill {
		g.failed = true
	}
	done := true
	var rest []string
	for _, id := range g.taskIDs {
		if !g.ended[id] {
			done = false
			rest = append(rest, id)
		}
	}
	if done && a.groups.m[g.key] == g {
		delete(a.groups.m, g.key)
	}
	a.groups.mu.Unlock()
	if done && g.release != nil {
		g.release()
	}
	if !kill {
		return
	}
	a.mu.Lock()
	ctx := a.runCtx
	a.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	for _, id := range rest {
		a.log.Info("task group: killing a task because another one ended", "task_id", id, "ended", t.id, "state", state)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.kill(ctx, &api.KillMessage{FrameworkID: api.ID{Value: t.frameworkID}, TaskID: api.ID{Value: id}})
		}()
	}
}
