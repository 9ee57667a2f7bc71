package main

// A warm container is made by a spare shim before its task exists: the
// spare (`nodectl-shim spare <driver root> <warm dir>`) creates and starts
// the container the driver described in <warm dir>/request.json — the
// root, hidden paths, seccomp profile, user and namespaces of the last
// command task, or a root of its own of the last image task's image —
// running the stub (stub.go) instead of a task. When the driver then hands
// it a task's run directory whose request names this warm dir
// (shimapi.WarmCompatible held), the shim takes the container over for
// that task (adopt): it binds the task's sandbox under the slot (onto it,
// for an image task: the slot is bound at /mnt/mesos/sandbox), renames
// the cgroup and libcontainer's state to the task's container id, applies
// the task's resources, and gives the stub the task's command line,
// environment, working directory and output files; the stub execs it.
// Everything libcontainer set up — namespaces, mounts, capabilities,
// no_new_privs, seccomp, user — was set up for this kind of task already;
// only what comes after is the task's own. A task the warm container does
// not fit gets a container made as usual, and the warm one is destroyed.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/hostsecrets"
	"nodectl/runtime/internal/container/internal/ociconf"
	"nodectl/runtime/internal/container/internal/shimapi"
	"nodectl/runtime/internal/container/internal/warmdir"
)

// warmLockFile is held (flock) by the spare shim while its warm dir is
// unclaimed: the driver sweeps warm dirs nobody holds.
const warmLockFile = "lock"

// warm is a warm container this shim made and holds.
type warm struct {
	dir   string // <driver root>/warm/<id>
	req   shimapi.Request
	cover string // the hidden directory its slot is bound over
	// hidden is what it hides (hostsecrets.Matches): a task is given it
	// only while that is still what a container made now would hide.
	hidden []string
	st     *ociconf.Started
	sock   *os.File // our end of the stub's socket
	lock   *os.File
}

// makeWarm creates the warm container described in dir. Errors leave
// nothing behind but dir (the driver's).
func makeWarm(dir string) (_ *warm, err error) {
	w := &warm{dir: dir}
	if w.lock, err = os.OpenFile(filepath.Join(dir, warmLockFile), os.O_RDONLY|os.O_CREATE|unix.O_CLOEXEC, 0o600); err != nil {
		return nil, err
	}
	if err := unix.Flock(int(w.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		w.lock.Close()
		return nil, fmt.Errorf("lock warm dir: %w", err)
	}
	defer func() {
		if err != nil {
			w.destroy()
		}
	}()
	if err := shimapi.ReadJSON(filepath.Join(dir, shimapi.RequestFile), &w.req); err != nil {
		return nil, fmt.Errorf("read warm request: %w", err)
	}
	if w.req.Slot != filepath.Join(dir, "slot") || w.req.RunDir != dir {
		return nil, fmt.Errorf("warm request: slot %q, run dir %q not in %s", w.req.Slot, w.req.RunDir, dir)
	}
	if w.req.Spec.Rootfs == "" { // an image task's root shows nothing of the host's
		if w.cover, err = ociconf.WarmCover(&w.req); err != nil {
			return nil, err
		}
		// What the container hides, as of before it is configured (a
		// path that appears meanwhile makes the take-over check fail:
		// safe).
		w.hidden = hostsecrets.Matches(w.req.HiddenPaths)
	}
	// The slot: a mount of its own in a peer group of its own, so that what
	// is mounted under it propagates to the container's view of it (a
	// slave) and nowhere else.
	slot := w.req.Slot
	if err := os.Mkdir(slot, 0o755); err != nil {
		return nil, err
	}
	for _, m := range []struct {
		src   string
		flags uintptr
	}{{slot, unix.MS_BIND}, {"", unix.MS_PRIVATE}, {"", unix.MS_SHARED}} {
		if err := unix.Mount(m.src, slot, "", m.flags, ""); err != nil {
			return nil, fmt.Errorf("warm slot: %w", err)
		}
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("stub socket: %w", err)
	}
	w.sock = os.NewFile(uintptr(pair[0]), "stub")
	theirs := os.NewFile(uintptr(pair[1]), "stub")
	defer theirs.Close()
	w.req.Spec.Args = []string{"/proc/self/exe", "stub"}
	w.req.Spec.Env = []string{"GOMAXPROCS=1", "GOGC=off", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	w.req.Spec.Cwd = "/"
	if w.st, err = ociconf.StartWith(&w.req, []*os.File{theirs}); err != nil {
		return nil, err
	}
	ready, err := os.OpenFile(filepath.Join(dir, shimapi.WarmReadyFile), os.O_RDONLY|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	ready.Close()
	return w, nil
}

// destroy ends the warm container and removes the warm dir.
func (w *warm) destroy() {
	if w.sock != nil {
		w.sock.Close() // the stub exits at end of file
	}
	if w.st != nil {
		_ = w.st.Container.Signal(unix.SIGKILL)
		_, _ = w.st.Process.Wait()
		_ = w.st.Container.Destroy()
	}
	if warmdir.Release(w.dir) == nil && w.lock != nil {
		w.lock.Close()
	}
}

// adopt takes the warm container over for the task whose request is req
// (run directory dir). It returns the started task as start does; with
// fallback true the warm container did not fit or could not be taken
// over, is gone, and the task needs a container of its own.
func (w *warm) adopt(dir string, req *shimapi.Request) (_ *shimapi.Monitor, fallback bool, err error) {
	s := &req.Spec
	// The sandbox, bound under the slot on the host (onto it for an image
	// task), appears at its own place in the container.
	target, ok := w.req.Slot, true
	if w.req.Spec.Rootfs == "" {
		rel, err := filepath.Rel(w.cover, s.SandboxDir)
		ok = err == nil && rel != "." && !strings.HasPrefix(rel, "..") &&
			slices.Equal(w.hidden, hostsecrets.Matches(req.HiddenPaths))
		target = filepath.Join(w.req.Slot, rel)
	}
	if req.WarmDir != w.dir || shimapi.WarmCompatible(&w.req, req) != nil || !ok {
		w.destroy()
		return nil, true, nil
	}
	// A stub that died (a seccomp profile its Go runtime cannot live
	// under, say) has nothing to exec the task with.
	state, err := w.st.Container.State()
	if st, serr := w.st.Container.Status(); err != nil || serr != nil || st != libcontainer.Running {
		w.destroy()
		return nil, true, nil
	}
	oldCg := state.CgroupPaths
	newCg := map[string]string{}
	for k, p := range oldCg {
		newCg[k] = filepath.Join(filepath.Dir(p), filepath.Base(req.CgroupPath))
	}
	oldState := filepath.Join(w.req.StateRoot, w.req.Spec.ID)
	newState := filepath.Join(req.StateRoot, s.ID)
	initPid := w.st.InitPid
	var cgMoved, stateMoved bool
	undo := func(err error) (*shimapi.Monitor, bool, error) {
		fmt.Fprintf(os.Stderr, "nodectl-shim: take over warm container: %v; making one\n", err)
		_ = w.st.Container.Signal(unix.SIGKILL)
		_, _ = w.st.Process.Wait()
		if cgMoved {
			for k, p := range newCg {
				if os.Rename(p, oldCg[k]) != nil {
					_ = os.Remove(p) // made anew (cgroup v2), its process killed
				}
			}
		}
		if stateMoved {
			_ = os.Rename(newState, oldState)
		}
		w.destroy()
		return nil, true, nil
	}

	if err := os.MkdirAll(target, 0o755); err != nil {
		return undo(err)
	}
	if err := unix.Mount(s.SandboxDir, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return undo(fmt.Errorf("bind sandbox: %w", err))
	}
	stdout, err := ociconf.OpenLog(filepath.Join(s.SandboxDir, shimapi.StdoutFile))
	if err != nil {
		return undo(err)
	}
	defer stdout.Close()
	stderr, err := ociconf.OpenLog(filepath.Join(s.SandboxDir, shimapi.StderrFile))
	if err != nil {
		return undo(err)
	}
	defer stderr.Close()

	// The container's names: its cgroup, libcontainer's state, the warm
	// dir (with the slot mount) into the task's run directory.
	res, quota, err := ociconf.Resources(req)
	if err != nil {
		return undo(err)
	}
	withDevices := *res
	withDevices.Devices, withDevices.SkipDevices = w.st.Resources().Devices, false
	if err := moveCgroups(oldCg, newCg, initPid, &withDevices); err != nil {
		return undo(err)
	}
	cgMoved = true
	if err := os.Rename(oldState, newState); err != nil {
		return undo(fmt.Errorf("rename state: %w", err))
	}
	stateMoved = true
	if err := renameState(newState, s.ID, s.Rootfs, req.CgroupPath, newCg); err != nil {
		return undo(err)
	}
	cg := &cgroups.Cgroup{Path: req.CgroupPath, Resources: res}
	m, err := manager.NewWithPaths(cg, newCg)
	if err == nil {
		err = m.Set(res)
	}
	if err != nil {
		return undo(fmt.Errorf("limit container: %w", err))
	}
	if err := os.Rename(w.dir, filepath.Join(dir, "warm")); err != nil {
		return undo(fmt.Errorf("move warm dir: %w", err))
	}
	w.lock.Close()

	// The task: the stub execs it. End of file on the socket (it is
	// close-on-exec) is the exec; a line is why not.
	b, err := json.Marshal(shimapi.StubRequest{Args: s.Args, Env: s.Env, Cwd: s.Cwd})
	if err != nil {
		return nil, false, err
	}
	rights := unix.UnixRights(int(stdout.Fd()), int(stderr.Fd()))
	if err := unix.Sendmsg(int(w.sock.Fd()), b[:1], rights, nil, 0); err != nil {
		return nil, false, fmt.Errorf("hand the task to the stub: %w", err)
	}
	if _, err := w.sock.Write(b[1:]); err != nil {
		return nil, false, fmt.Errorf("hand the task to the stub: %w", err)
	}
	_ = unix.Shutdown(int(w.sock.Fd()), unix.SHUT_WR)
	why, err := io.ReadAll(io.LimitReader(w.sock, 4096))
	w.sock.Close()
	if err != nil {
		return nil, false, fmt.Errorf("start container: read the stub's answer: %w", err)
	}
	if len(why) > 0 {
		return nil, false, fmt.Errorf("start container: %s", strings.TrimSpace(string(why)))
	}
	if quota != 0 {
		res.CpuQuota = quota
		if err := m.Set(res); err != nil {
			return nil, false, fmt.Errorf("limit container cpu: %w", err)
		}
	}
	return &shimapi.Monitor{Pid: os.Getpid(), InitPid: initPid, CgroupPaths: newCg}, false, nil
}

// moveCgroups gives the container's cgroups (from, controller → path) the
// names in to. cgroup v1 hierarchies rename a cgroup in place, limits,
// device rules and processes and all. cgroup v2 refuses renames: there the
// cgroup is made anew with res (the task's limits and the container's
// device rules: an eBPF program on the cgroup itself), then the container's
// one process (pid) moved into it and the old one removed. On error what
// was done is undone.
func moveCgroups(from, to map[string]string, pid int, res *cgroups.Resources) error {
	var done []string
	undo := func(err error) error {
		for _, k := range done {
			if os.Rename(to[k], from[k]) != nil {
				_ = cgroups.WriteCgroupProc(from[k], pid)
				_ = os.Remove(to[k])
			}
		}
		return err
	}
	for k, p := range from {
		if err := os.Rename(p, to[k]); err != nil {
			if k != "" {
				return undo(fmt.Errorf("rename cgroup: %w", err))
			}
			if err := moveUnified(p, to[k], pid, res); err != nil {
				return undo(err)
			}
		}
		done = append(done, k)
	}
	return nil
}

// moveUnified moves pid from the cgroup v2 cgroup from to a new one, to.
// Under cgroup v2 alone (not hybrid, where the v2 hierarchy has no
// controllers), res is applied first, so the process is never unlimited.
func moveUnified(from, to string, pid int, res *cgroups.Resources) error {
	if err := os.Mkdir(to, 0o755); err != nil {
		return fmt.Errorf("make cgroup: %w", err)
	}
	err := func() error {
		if cgroups.IsCgroup2UnifiedMode() {
			m, err := manager.NewWithPaths(&cgroups.Cgroup{Resources: res}, map[string]string{"": to})
			if err != nil {
				return err
			}
			if err := m.Set(res); err != nil {
				return err
			}
		}
		return cgroups.WriteCgroupProc(to, pid)
	}()
	if err != nil {
		_ = os.Remove(to)
		return fmt.Errorf("move container to its cgroup: %w", err)
	}
	if err := os.Remove(from); err != nil {
		return fmt.Errorf("remove warm cgroup: %w", err)
	}
	return nil
}

// renameState rewrites libcontainer's state.json in dir for the container's
// new id and cgroup, and an image task's root at its new place (rootfs).
func renameState(dir, id, rootfs, cgroupPath string, cgroupDirs map[string]string) error {
	path := filepath.Join(dir, "state.json")
	var st libcontainer.State
	if err := shimapi.ReadJSON(path, &st); err != nil {
		return fmt.Errorf("read container state: %w", err)
	}
	st.ID = id
	if rootfs != "" {
		st.Config.Rootfs = rootfs
	}
	if st.Config.Cgroups != nil {
		st.Config.Cgroups.Path, st.Config.Cgroups.Name = cgroupPath, id
	}
	st.CgroupPaths = cgroupDirs
	if err := shimapi.WriteJSONAtomic(path, &st, false); err != nil {
		return fmt.Errorf("write container state: %w", err)
	}
	return nil
}
