// Package shimapi is the contract between the container driver (package
// container, linked into nodectl) and the nodectl-shim monitor program: the
// container Spec, the files in a container's run directory, and the helpers
// both sides use to read and write them.
//
// It must stay small and import only the standard library and x/sys: the shim
// links it, and the shim's memory budget (≤ 3 MB PSS per running task) leaves
// no room for more. It must not import libcontainer, specconv or any nodectl
// package.
package shimapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File names inside a container's run directory (<driver root>/containers/<id>/).
const (
	// RequestFile is written by the driver before it starts the shim.
	RequestFile = "request.json"
	// MonitorFile is written by the shim once the container runs: who the
	// monitor is, so a restarted agent can find and verify it.
	MonitorFile = "monitor.json"
	// ExitFile is written atomically by the shim when the container exits.
	ExitFile = "exit.json"
	// ShimLogFile receives the shim's own stdout and stderr.
	ShimLogFile = "shim.log"
	// WarmReadyFile appears in a warm container's dir once the spare shim
	// has made the container: until then it is still being made.
	WarmReadyFile = "ready"
	// SecretEnvFile (0600) holds Spec.SecretEnv for the shim, which
	// removes it once read: secret values are never in RequestFile.
	SecretEnvFile = "secret-env.json"
)

// Names of the task's output files inside the sandbox, as in Mesos.
const (
	StdoutFile = "stdout"
	StderrFile = "stderr"
)

// ReplyFD is the descriptor on which the shim writes its Reply.
const ReplyFD = 3

// GateFD is the read end of the gate pipe of a container started with
// Spec.WaitBeforeExec: the shim creates the container, replies, and reads
// one byte here before it lets the container's process run (runc's create,
// then start). End of file instead (the driver closed the gate, or its
// process died) makes the shim destroy the created container and exit.
const GateFD = 4

// ClaimFD is the read end of a spare shim's claim pipe (`nodectl-shim
// spare`): the driver writes the run directory of the container the shim
// is to start, then closes it. End of file with nothing read: the driver
// is gone, and the spare exits.
const ClaimFD = 5

// Mount is an extra bind mount into the container.
type Mount struct {
	// Source is an absolute host path.
	Source string `json:"source"`
	// Destination is an absolute path inside the container.
	Destination string `json:"destination"`
	// ReadOnly makes the mount (recursively) read-only.
	ReadOnly bool `json:"read_only,omitempty"`
}

// Spec describes one container. The driver validates it and fills defaults
// before the shim sees it.
type Spec struct {
	// ID names the container; [A-Za-z0-9_.-], at most 128 characters.
	ID string `json:"id"`
	// Rootfs is the prepared (already mounted) image root filesystem. Empty
	// means a Mesos "command task": the host filesystem, read-only, is the
	// container's root.
	Rootfs string `json:"rootfs,omitempty"`
	// Image is what Rootfs was made of (the image's manifest digest): the
	// driver makes warm containers of image tasks (Config.WarmRootfs) of
	// the image of the last one.
	Image string `json:"image,omitempty"`
	// Warm is the warm container (its id) Rootfs was taken from
	// (Driver.ClaimWarm): Start takes that container over for this task
	// if the task fits it, and destroys it otherwise.
	Warm string `json:"warm,omitempty"`
	// SandboxDir is the host path of the sandbox; always writable.
	SandboxDir string `json:"sandbox_dir"`
	// SandboxTarget is where the sandbox appears inside the container.
	// Default: /mnt/mesos/sandbox with a Rootfs, SandboxDir without one.
	SandboxTarget string `json:"sandbox_target,omitempty"`
	// Cwd is the working directory inside the container. Default: SandboxTarget.
	Cwd string `json:"cwd,omitempty"`
	// Args is the command line; Args[0] is resolved against PATH by the
	// container's init when it has no slash.
	Args []string `json:"args"`
	// Env is KEY=VALUE pairs. PATH gets a default when missing.
	Env []string `json:"env,omitempty"`
	// SecretEnv is KEY=VALUE pairs of secrets, added to Env (replacing
	// the same names) inside the shim only: never written to RequestFile,
	// so a Spec loaded after a restart has none.
	SecretEnv []string `json:"-"`
	// Mounts are extra bind mounts (persistent volumes, host paths).
	Mounts []Mount `json:"mounts,omitempty"`
	// CPUs becomes cpu shares (1024*CPUs) and, with CPUHardLimit, a CFS
	// quota of CPUs*100ms per 100ms period. 0 means unlimited.
	CPUs float64 `json:"cpus,omitempty"`
	// CPUHardLimit caps the container at CPUs with a CFS quota (Mesos'
	// --cgroups_enable_cfs); without it CPUs only weighs the container
	// against the others when the CPU is contended.
	CPUHardLimit bool `json:"cpu_hard_limit,omitempty"`
	// MemBytes is the memory limit; swap is limited to the same value (no
	// swap). 0 means unlimited.
	MemBytes int64 `json:"mem_bytes,omitempty"`
	// PidsLimit caps the number of tasks (threads). 0 means unlimited.
	PidsLimit int64 `json:"pids_limit,omitempty"`
	// Hostname for the container's UTS namespace. Empty keeps the host's.
	Hostname string `json:"hostname,omitempty"`
	// SeccompProfile names a profile in the driver's seccomp config dir
	// (Mesos' SeccompInfo.profile_name); empty means the driver's default.
	SeccompProfile string `json:"seccomp_profile,omitempty"`
	// SeccompUnconfined runs the container without a seccomp filter (Mesos'
	// SeccompInfo.unconfined); who may ask for it is decided upstream.
	SeccompUnconfined bool `json:"seccomp_unconfined,omitempty"`
	// UID and GID the process runs as. Default root.
	UID uint32 `json:"uid,omitempty"`
	GID uint32 `json:"gid,omitempty"`
	// Groups are the process's supplementary groups.
	Groups []uint32 `json:"groups,omitempty"`
	// IPCNamespacePath joins this IPC namespace (an nsfs path such as
	// /proc/<pid>/task/<tid>/ns/ipc) instead of creating a new one: the
	// containers of one task group share it. Empty: a new namespace.
	IPCNamespacePath string `json:"ipc_namespace_path,omitempty"`
	// NetNSPath joins this network namespace (one the agent pinned and
	// attached with CNI) instead of the host's network. Empty: host network.
	NetNSPath string `json:"netns_path,omitempty"`
	// WaitBeforeExec creates the container and has its process wait for
	// the driver's go (Container.OpenGate, see GateFD) before it runs: the
	// agent attaches the network namespace meanwhile.
	WaitBeforeExec bool `json:"wait_before_exec,omitempty"`
}

// Request is everything the shim needs to create and start one container.
type Request struct {
	Spec Spec `json:"spec"`
	// StateRoot is libcontainer's root directory (state.json per container).
	StateRoot string `json:"state_root"`
	// CgroupPath is the container's cgroup path, e.g. /nodectl/<id>.
	CgroupPath string `json:"cgroup_path"`
	// MonitorPath is the nodectl-monitor binary the shim execs once the
	// container runs; empty means the shim monitors in-process (bigger).
	MonitorPath string `json:"monitor_path,omitempty"`
	// SeccompHelperPath is the nodectl-seccomp binary and SeccompCacheDir
	// where the compiled seccomp filters are kept: with both, the filter
	// of Seccomp is compiled once and loaded by the helper instead of
	// being compiled in each container's init (ociconf's precompiled.go).
	// Empty: libcontainer compiles it in the init.
	SeccompHelperPath string `json:"seccomp_helper_path,omitempty"`
	SeccompCacheDir   string `json:"seccomp_cache_dir,omitempty"`
	// HostRootDir is the root of a command task: the driver's skeleton of
	// the host's top level (package hostroot), shared by command tasks.
	HostRootDir string `json:"host_root_dir,omitempty"`
	// HostRootView says HostRootDir is a view (hostroot.MountView): its
	// entries carry the host's read-only binds already, which the
	// container's root copies; without it the container binds them.
	HostRootView bool `json:"host_root_view,omitempty"`
	// RunDir is the container's run directory (where request.json is).
	RunDir string `json:"run_dir,omitempty"`
	// HiddenPaths are host paths (glob patterns allowed) command tasks do
	// not see: the agent's work dir, the driver's state, the operator's
	// --task-hidden-paths; on top of the shim's own list of host secrets
	// and runc's default masked paths. A hidden directory holding the task's
	// sandbox or volumes shows only the way to them.
	HiddenPaths []string `json:"hidden_paths,omitempty"`
	// Seccomp is the seccomp profile, an OCI LinuxSeccomp object (the
	// driver resolves names and defaults); null means none.
	Seccomp json.RawMessage `json:"seccomp,omitempty"`
	// Slot marks the request of a warm container (see WarmCompatible): the
	// container is made ahead of its task, running the shim's stub, and
	// the hidden directory that holds the sandbox is this host directory
	// (bound read-only, a slave of it) instead of an empty tmpfs, so that
	// the task's sandbox, bound under Slot on the host when the task
	// arrives, appears at its own path inside.
	Slot string `json:"slot,omitempty"`
	// WarmDir is the warm container (its directory: request, slot) a task's
	// container may take over instead of being made: the spare shim that
	// holds it checks WarmCompatible. Destroying the container removes it.
	WarmDir string `json:"warm_dir,omitempty"`
}

// WarmCompatible reports why the container of req cannot take over the warm
// container made from warm (a request with Slot), or nil when it can:
// everything fixed when a container is made must be the same — a command
// task's root, or an image task's root taken from that very container
// (Spec.Warm); hidden paths, seccomp profile, user, hostname, namespaces —
// with no extra mounts, no gate, and the sandbox at its own host path (a
// command task) or where the warm container has its slot (an image task).
// Resources, arguments, environment and working directory come later.
func WarmCompatible(warm, req *Request) error {
	w, s := &warm.Spec, &req.Spec
	switch {
	case warm.Slot == "":
		return errors.New("not a warm container")
	case w.Image == "" && (s.Rootfs != "" || req.HostRootDir == "" || req.HostRootDir != warm.HostRootDir):
		return errors.New("not a command task on the same host root")
	case w.Image == "" && s.SandboxTarget != s.SandboxDir:
		return errors.New("the sandbox is not at its host path")
	case w.Image != "" && (s.Rootfs == "" || s.Warm != w.ID || s.Image != w.Image || req.HostRootDir != ""):
		return errors.New("not an image task on this warm container's root")
	case w.Image != "" && s.SandboxTarget != w.SandboxTarget:
		return errors.New("the sandbox is not where the warm container has its slot")
	case len(s.Mounts) > 0 || s.WaitBeforeExec || s.NetNSPath != "" || s.IPCNamespacePath != "":
		return errors.New("mounts, a gate or namespaces of its own")
	case s.UID != w.UID || s.GID != w.GID || !slices.Equal(s.Groups, w.Groups) || s.Hostname != w.Hostname:
		return errors.New("another user or hostname")
	case !bytes.Equal(req.Seccomp, warm.Seccomp) || !slices.Equal(req.HiddenPaths, warm.HiddenPaths):
		return errors.New("another seccomp profile or hidden paths")
	case req.StateRoot != warm.StateRoot || filepath.Dir(req.CgroupPath) != filepath.Dir(warm.CgroupPath):
		return errors.New("another state root or cgroup parent")
	}
	return nil
}

// StubRequest is what a warm container's stub (`nodectl-shim stub`, the
// process a warm container runs until its task arrives) receives on its
// socket, with the task's stdout and stderr as SCM_RIGHTS: it execs Args
// with Env in Cwd. On failure it writes one line and exits; on success the
// socket (close-on-exec) reads end of file.
type StubRequest struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
}

// Reply is what the shim writes on ReplyFD once, then closes it. With
// Spec.WaitBeforeExec it writes two: one when the container is created
// (or could not be), one when its process runs (or could not).
type Reply struct {
	InitPid int    `json:"init_pid,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Monitor identifies a live shim. Pid alone is not enough after a restart
// (pids are reused), so the start time and boot id pin it down.
type Monitor struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // /proc/<pid>/stat field 22, clock ticks since boot
	BootID    string `json:"boot_id"`
	InitPid   int    `json:"init_pid"`
	// CgroupPaths are the container's cgroup directories (libcontainer's
	// State.CgroupPaths): controller → path, "" for cgroup v2.
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`
}

// Exit is the recorded end of a container's init process.
type Exit struct {
	// Code is the exit status, or 128+Signal when killed by a signal.
	Code int `json:"code"`
	// Signal is the terminating signal, 0 if the process exited.
	Signal int `json:"signal,omitempty"`
	// OOMKilled is true when the kernel OOM killer killed a process in the
	// container's memory cgroup.
	OOMKilled  bool      `json:"oom_killed,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
}

// WriteJSONAtomic writes v to path through a temp file in the same directory
// and rename(2), so readers see the old content or the new, never a torn
// file. With sync, the data and the directory entry are fsynced too.
func WriteJSONAtomic(path string, v any, sync bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return WriteFileAtomic(path, b, 0o644, sync)
}

// WriteFileAtomic is WriteJSONAtomic for raw bytes.
func WriteFileAtomic(path string, data []byte, mode os.FileMode, sync bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	ok = true
	if sync {
		d, err := os.Open(dir)
		if err != nil {
			return fmt.Errorf("open dir %s: %w", dir, err)
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			return fmt.Errorf("sync dir %s: %w", dir, err)
		}
	}
	return nil
}

// ReadJSON decodes path into v. A missing file returns an error satisfying
// errors.Is(err, os.ErrNotExist).
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// ProcStartTime returns field 22 (starttime) of /proc/<pid>/stat.
func ProcStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// comm (field 2) may contain spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no comm", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	const idx = 22 - 3
	if len(fields) <= idx {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	v, err := strconv.ParseUint(fields[idx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat starttime: %w", pid, err)
	}
	return v, nil
}

// BootID returns the kernel's boot id, which changes on every boot.
func BootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// ErrNoOOMCounter means the kernel exposes no oom_kill counter for the cgroup.
var ErrNoOOMCounter = errors.New("no oom_kill counter")

// OOMCounterFile returns the file holding the "oom_kill" counter of the
// memory cgroup in paths (libcontainer's State.CgroupPaths), or "". On a
// hybrid v1 host paths has both "memory" and "" (the v2 hierarchy without
// the memory controller): v1 memory wins.
func OOMCounterFile(paths map[string]string) string {
	if p, ok := paths["memory"]; ok {
		return filepath.Join(p, "memory.oom_control")
	}
	if p, ok := paths[""]; ok {
		return filepath.Join(p, "memory.events")
	}
	return ""
}

// OOMKillCount returns how many processes the OOM killer killed in the memory
// cgroup described by paths (libcontainer's State.CgroupPaths): cgroup v2
// memory.events "oom_kill", or cgroup v1 memory.oom_control "oom_kill"
// (Linux ≥ 4.13).
func OOMKillCount(paths map[string]string) (uint64, error) {
	file := OOMCounterFile(paths)
	if file == "" {
		return 0, ErrNoOOMCounter
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == "oom_kill" {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s: %w", file, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", file, err)
	}
	return 0, ErrNoOOMCounter
}

// ExecRequest is what the driver writes on the standard input of
// `nodectl-shim exec <rundir>`: one extra process to run inside the
// container described by <rundir>/request.json, the way `runc exec` does.
// The process joins the container's namespaces and cgroup and gets the
// container's user (Spec.UID/GID), capabilities, no_new_privs, seccomp
// filter and AppArmor/SELinux labels; the request can only choose what to
// run, never how privileged it is.
type ExecRequest struct {
	// Args is the command line; Args[0] is resolved against the PATH in Env.
	Args []string `json:"args"`
	// Env is KEY=VALUE pairs; empty means the container's own Spec.Env.
	Env []string `json:"env,omitempty"`
	// Cwd is the working directory inside the container; empty means the
	// container's Spec.Cwd.
	Cwd string `json:"cwd,omitempty"`
	// Session makes this an interactive session (`nodectl exec`): the
	// process's stdin is the shim's SessionStdinFD and its stderr
	// SessionStderrFD, kept apart from stdout; with TTY, the process gets a
	// new pseudo-terminal as its controlling terminal instead, whose master
	// libcontainer sends over SessionConsoleFD (runc's --console-socket), so
	// the caller holds it and resizes it.
	Session bool `json:"session,omitempty"`
	// TTY asks for a pseudo-terminal (only with Session).
	TTY bool `json:"tty,omitempty"`
	// Rows and Cols are the terminal's initial size (TTY only; 0: the
	// kernel's default).
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
}

// The shim's descriptors of an interactive exec session (ExecRequest.Session)
// beyond 0 (the request), 1 (the process's stdout), 2 (the shim's log) and
// ReplyFD. A TTY session gets only SessionConsoleFD.
const (
	SessionStdinFD   = 4 // the process's stdin (not TTY)
	SessionStderrFD  = 5 // the process's stderr (not TTY)
	SessionConsoleFD = 4 // an AF_UNIX socket for the pty master (TTY)
)

// ExecReply is what `nodectl-shim exec` writes on ReplyFD once the process
// has ended (or could not start). The process's stdout and stderr go to the
// shim's stdout.
type ExecReply struct {
	// Code is the exit status, or 128+Signal when killed by a signal.
	Code int `json:"code"`
	// Signal is the terminating signal, 0 if the process exited.
	Signal int `json:"signal,omitempty"`
	// Killed is true when the shim killed the process because it was told
	// to (SIGTERM or SIGINT: the caller's timeout).
	Killed bool `json:"killed,omitempty"`
	// Error says why the process could not run; Code and Signal are then
	// meaningless.
	Error string `json:"error,omitempty"`
	// NotRunning is set with Error when the container was not running.
	NotRunning bool `json:"not_running,omitempty"`
}

// MergeEnv returns env with extra added, an extra variable replacing one
// of env with the same name.
func MergeEnv(env, extra []string) []string {
	if len(extra) == 0 {
		return env
	}
	names := map[string]bool{}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		names[k] = true
	}
	out := make([]string, 0, len(env)+len(extra))
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !names[k] {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}
