// Command nodectl-shim creates, starts and then monitors one container, and
// runs extra processes in it (`nodectl-shim exec <rundir>`, see exec.go).
//
// The agent runs `nodectl-shim run <rundir>` in a new session. The shim
// becomes a child subreaper, creates and starts the container with
// libcontainer (so the container's init is its direct child), writes
// monitor.json and a Reply on fd 3, and then execve(2)s nodectl-monitor,
// which keeps its pid and children, waits for the init, records the exit in
// exit.json and exits. The process survives agent restarts. See package
// nodectl/runtime/internal/container and docs/runtime.md for why (numbers).
//
// The driver also keeps one shim started ahead, `nodectl-shim spare
// <driver root>`: it waits for the run directory of its container on fd 5
// (shimapi.ClaimFD), then runs as above; end of file instead (the agent is
// gone) ends it.
//
// If the monitor binary cannot be executed, the shim monitors in-process
// instead: same result, about 4.5 MB instead of 1.5 MB PSS.
//
// libcontainer re-executes this same binary as `nodectl-shim init` inside the
// new namespaces; the nsenter import runs runc's C constructor for that.
//
// Keep imports minimal: every package here is code (and init work) that runs
// at each container start and memory that stays mapped in each monitor.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"golang.org/x/sys/unix"

	"nodectl/runtime/exetrim"
	"nodectl/runtime/internal/container/internal/ociconf"
	"nodectl/runtime/internal/container/internal/shimapi"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// Runs after nsenter's C constructor, before main: the container's
		// init, which never returns. It lives a few milliseconds, until it
		// execs the task: no garbage collection (it runs with the one P
		// the shim gives it, GOMAXPROCS=1 in its environment).
		debug.SetGCPercent(-1)
		libcontainer.Init()
	}
	if len(os.Args) == 2 && os.Args[1] == "stub" {
		stubMain() // a warm container's process (stub.go)
	}
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == ociconf.CaptureArg {
		// Compiles a seccomp profile for the shim that runs it (ociconf's
		// precompiled.go).
		os.Exit(ociconf.CaptureChild(os.Stdin, os.Stdout, os.Stderr))
	}
	if !(len(os.Args) == 3 && (os.Args[1] == "run" || os.Args[1] == "exec" || os.Args[1] == "spare")) &&
		!(len(os.Args) == 4 && os.Args[1] == "spare") {
		fmt.Fprintln(os.Stderr, "usage: nodectl-shim run|exec <rundir> | spare <driver root> [<warm dir>]")
		os.Exit(2)
	}
	if os.Args[1] == "exec" {
		os.Exit(execMain(os.Args[2]))
	}
	// Until it becomes the monitor, the shim lives a few milliseconds of
	// mostly sequential work: one P and no garbage collection cost less
	// CPU per container than the runtime's idle Ps spinning and a GC cycle
	// (a 50-task burst on 2 cores is bound by that CPU). The container's
	// init inherits GOMAXPROCS from this environment (libcontainer passes
	// it on).
	debug.SetGCPercent(-1)
	runtime.GOMAXPROCS(1)
	_ = os.Setenv("GOMAXPROCS", "1")
	dir := os.Args[2]
	var w *warm
	if os.Args[1] == "spare" {
		if len(os.Args) == 4 {
			logTo(os.Args[3]) // the warm dir's log until claimed
			var err error
			if w, err = makeWarm(os.Args[3]); err != nil {
				fmt.Fprintf(os.Stderr, "nodectl-shim: warm container: %v\n", err)
			}
		}
		var ok bool
		if dir, ok = awaitClaim(); !ok {
			if w != nil {
				w.destroy()
			}
			os.Exit(0) // the driver is gone: no container to start
		}
	}
	if err := run(dir, w); err != nil {
		fmt.Fprintf(os.Stderr, "nodectl-shim: %v\n", err)
		os.Exit(1)
	}
}

func run(dir string, w *warm) error {
	// Keep the reply and gate pipes out of the container's processes (no
	// gate: fd 4 is not open, or the runtime's own, close-on-exec already).
	unix.CloseOnExec(shimapi.ReplyFD)
	unix.CloseOnExec(shimapi.GateFD)
	reply := os.NewFile(shimapi.ReplyFD, "reply")

	req, m, err := start(dir, reply, w)
	if err != nil {
		_ = json.NewEncoder(reply).Encode(shimapi.Reply{Error: err.Error()})
		return err
	}
	// The agent's signals (terminal hangup, Ctrl-C to its process group,
	// systemd's SIGTERM) are not ours: the session is new, and these are
	// ignored (SIG_IGN survives the exec into the monitor) so only SIGKILL
	// can take the monitor down. Only now: the container's process must
	// not inherit them ignored (Go keeps an inherited SIG_IGN of SIGHUP and
	// SIGINT, and libcontainer's init is Go), whether its container was
	// made for it or ahead (warm).
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGTERM, unix.SIGPIPE, unix.SIGQUIT)
	if err := json.NewEncoder(reply).Encode(shimapi.Reply{InitPid: m.InitPid}); err != nil {
		// The agent is gone or gave up; the container runs on regardless.
		fmt.Fprintf(os.Stderr, "nodectl-shim: write reply: %v\n", err)
	}
	reply.Close()

	oomFile := shimapi.OOMCounterFile(m.CgroupPaths)
	if req.MonitorPath != "" {
		// Become the small monitor: same pid, same children, same session.
		args := []string{"nodectl-monitor", dir, strconv.Itoa(m.InitPid)}
		if oomFile != "" {
			args = append(args, oomFile)
		}
		err := unix.Exec(req.MonitorPath, args, []string{"GOMAXPROCS=1"})
		fmt.Fprintf(os.Stderr, "nodectl-shim: exec monitor: %v; monitoring in-process\n", err)
	}

	trimMemory() // monitoring in-process: a long life, with GC again
	exit, err := wait(m.InitPid)
	if err != nil {
		return err
	}
	if n, err := shimapi.OOMKillCount(m.CgroupPaths); err == nil && n > 0 {
		exit.OOMKilled = true
	}
	if err := shimapi.WriteJSONAtomic(filepath.Join(dir, shimapi.ExitFile), exit, true); err != nil {
		return fmt.Errorf("record exit: %w", err)
	}
	return nil
}

// spareTrimAfter is how long a spare shim waits for its claim before it
// drops its binary's pages (awaitClaim).
const spareTrimAfter = time.Second

// awaitClaim is a spare shim's wait (started ahead by the driver, see
// package container's spare.go): it reads the run directory of its
// container from ClaimFD and sends its output to that directory's shim
// log, as the driver does for a shim it starts for a container. ok is
// false when the driver closed the pipe with nothing in it.
func awaitClaim() (dir string, ok bool) {
	// Waiting may take long: the binary's pages the start-up touched go
	// back to the page cache (6 MB resident otherwise); those the start
	// needs fault back in from it. Not at once: a spare claimed soon (the
	// next start of a burst) would only read its smaps and fault them
	// back in.
	trim := time.AfterFunc(spareTrimAfter, func() { _, _ = exetrim.Release(false) })
	claim := os.NewFile(shimapi.ClaimFD, "claim")
	b, err := io.ReadAll(io.LimitReader(claim, 4096))
	trim.Stop()
	claim.Close()
	dir = strings.TrimSuffix(string(b), "\n")
	if err != nil || !filepath.IsAbs(dir) {
		return "", false
	}
	logTo(dir)
	return dir, true
}

// logTo sends the shim's stdout and stderr to dir's shim log, as the
// driver does for a shim it starts.
func logTo(dir string) {
	if log, err := os.OpenFile(filepath.Join(dir, shimapi.ShimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o644); err == nil {
		_ = unix.Dup3(int(log.Fd()), 1, 0)
		_ = unix.Dup3(int(log.Fd()), 2, 0)
		log.Close()
	}
}

// start creates and starts the container and records the monitor. With
// Spec.WaitBeforeExec it replies once the container is created and waits
// at the gate (awaitGate) before the container's process runs.
func start(dir string, reply *os.File, w *warm) (*shimapi.Request, *shimapi.Monitor, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, nil, fmt.Errorf("set child subreaper: %w", err)
	}
	var req shimapi.Request
	if err := shimapi.ReadJSON(filepath.Join(dir, shimapi.RequestFile), &req); err != nil {
		return nil, nil, fmt.Errorf("read request: %w", err)
	}
	// Secret variables come in a file of their own, gone once read.
	secretFile := filepath.Join(dir, shimapi.SecretEnvFile)
	var secretEnv []string
	if err := shimapi.ReadJSON(secretFile, &secretEnv); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read secret environment: %w", err)
	}
	_ = os.Remove(secretFile)
	req.Spec.Env = shimapi.MergeEnv(req.Spec.Env, secretEnv)
	if w != nil {
		m, fallback, err := w.adopt(dir, &req)
		if err != nil {
			return nil, nil, err
		}
		if !fallback {
			if err := recordMonitor(dir, m); err != nil {
				_ = unix.Kill(m.InitPid, unix.SIGKILL)
				return nil, nil, err
			}
			return &req, m, nil
		}
	}
	st, err := ociconf.Start(&req)
	if err != nil {
		return nil, nil, err
	}
	if req.Spec.WaitBeforeExec {
		if err := awaitGate(st, reply); err != nil {
			_ = st.Container.Signal(unix.SIGKILL)
			_, _ = st.Process.Wait()
			_ = st.Container.Destroy()
			return nil, nil, err
		}
	}
	m := &shimapi.Monitor{Pid: os.Getpid(), InitPid: st.InitPid}
	if state, err := st.Container.State(); err == nil {
		m.CgroupPaths = state.CgroupPaths
	}
	if err := recordMonitor(dir, m); err != nil {
		_ = st.Container.Signal(unix.SIGKILL)
		_, _ = st.Process.Wait()
		_ = st.Container.Destroy()
		return nil, nil, err
	}
	return &req, m, nil
}

// recordMonitor fills in m's start time and boot id and writes it to dir.
func recordMonitor(dir string, m *shimapi.Monitor) error {
	var err error
	m.StartTime, err = shimapi.ProcStartTime(m.Pid)
	if err == nil {
		m.BootID, err = shimapi.BootID()
	}
	if err == nil {
		// No fsync: after a crash of the host the container is gone anyway,
		// and a missing monitor.json then reads as "lost", which is right.
		err = shimapi.WriteJSONAtomic(filepath.Join(dir, shimapi.MonitorFile), m, false)
	}
	if err != nil {
		return fmt.Errorf("record monitor: %w", err)
	}
	return nil
}

// awaitGate tells the driver the container is created and waits for its
// go on GateFD, then lets the container's process run.
func awaitGate(st *ociconf.Started, reply *os.File) error {
	gate := os.NewFile(shimapi.GateFD, "gate")
	defer gate.Close()
	if err := json.NewEncoder(reply).Encode(shimapi.Reply{InitPid: st.InitPid}); err != nil {
		return fmt.Errorf("write created reply: %w", err)
	}
	var b [1]byte
	for {
		n, err := gate.Read(b[:])
		if n == 1 {
			return st.Exec()
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// The driver closed the gate (the task was killed, its network
		// could not be attached) or died: the container never runs.
		return fmt.Errorf("the container was not started: gate closed (%v)", err)
	}
}

// wait reaps children until the container's init exits. Other children
// (orphans reparented to us as subreaper) are reaped and ignored.
func wait(initPid int) (shimapi.Exit, error) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return shimapi.Exit{}, fmt.Errorf("wait for init %d: %w", initPid, err)
		}
		if pid != initPid {
			continue
		}
		e := shimapi.Exit{FinishedAt: time.Now().UTC()}
		switch {
		case ws.Exited():
			e.Code = ws.ExitStatus()
		case ws.Signaled():
			e.Signal = int(ws.Signal())
			e.Code = 128 + e.Signal
		default:
			continue // stopped/continued: not an exit
		}
		return e, nil
	}
}

// trimMemory shrinks the long-lived monitor. Everything libcontainer
// allocated is garbage now, so the heap goes back to the kernel. And the
// code and read-only data pages that creating the container touched (most of
// this binary's ~6 MB) are dropped from our page tables: they are clean
// file-backed pages, so MADV_DONTNEED just unmaps them and any page needed
// again faults back in from the page cache. Writable mappings are left
// alone: dropping those would lose data.
func trimMemory() {
	debug.SetGCPercent(20)
	debug.FreeOSMemory()
	_, _ = exetrim.Release(true)
}
