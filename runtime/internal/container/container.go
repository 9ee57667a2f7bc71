package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// Container is a handle on one container, from Driver.Start or Driver.Load.
// Dropping the handle (after Close) leaves the container running: that is
// the agent's "detach". Methods are safe for concurrent use.
type Container struct {
	d          *Driver
	id         string
	dir        string
	spec       Spec
	initPid    int
	monitorPid int

	mu sync.Mutex
	// monitor is a pidfd on the shim, nil when the shim was already gone at
	// Load (or never recorded). Guarded by mu.
	monitor *os.File
	// lc is libcontainer's handle, loaded on first use. Guarded by mu.
	lc *libcontainer.Container
	// gate holds a container started with Spec.WaitBeforeExec until
	// OpenGate (gate.go). Guarded by mu.
	gate *gate
}

// ID returns the container id.
func (c *Container) ID() string { return c.id }

// Pid returns the host pid of the container's init process (0 if unknown).
func (c *Container) Pid() int { return c.initPid }

// MonitorPid returns the pid of the container's shim (0 if unknown).
func (c *Container) MonitorPid() int { return c.monitorPid }

// Spec returns the normalized spec the container was started with.
func (c *Container) Spec() Spec { return c.spec }

// Close releases the handle's resources. The container keeps running
// (a container still waiting at its gate never runs: its shim destroys it).
func (c *Container) Close() error {
	if g := c.takeGate(); g != nil {
		g.w.Close()
		g.r.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.monitor == nil {
		return nil
	}
	err := c.monitor.Close()
	c.monitor = nil
	return err
}

// readExit returns the recorded exit, if any.
func (c *Container) readExit() (Exit, bool, error) {
	var r shimapi.Exit
	err := shimapi.ReadJSON(filepath.Join(c.dir, shimapi.ExitFile), &r)
	if errors.Is(err, os.ErrNotExist) {
		return Exit{}, false, nil
	}
	if err != nil {
		return Exit{}, false, fmt.Errorf("read exit of %s: %w", c.id, err)
	}
	return exitFromRecord(r), true, nil
}

// Status reports whether the container runs, has exited, or is lost. It does
// not block.
func (c *Container) Status() (Status, error) {
	if _, ok, err := c.readExit(); err != nil {
		return 0, err
	} else if ok {
		return Exited, nil
	}
	if c.monitorAlive() {
		return Running, nil
	}
	// The monitor may have recorded the exit just before it went away.
	if _, ok, err := c.readExit(); err != nil {
		return 0, err
	} else if ok {
		return Exited, nil
	}
	return Lost, nil
}

func (c *Container) monitorAlive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.monitor == nil {
		return false
	}
	exited, err := pidfdExited(c.monitor.Fd())
	return err == nil && !exited
}

// poll is unix.Poll (a variable for the test that interrupts it).
var poll = unix.Poll

// pidfdExited reports whether the pidfd fd polls readable now, i.e. its
// process has exited. A poll interrupted by a signal is asked again: the
// Go runtime preempts goroutines with signals (SIGURG), and a zero-timeout
// poll(2) fails with EINTR when one is pending. Taken for an exit, that
// EINTR made a restarted agent report a running container lost ("monitor
// gone without an exit record") and destroy it: TestKill9Loop under load,
// twice in 200 kills, each time while recovery waited on hundreds of
// monitors at once.
func pidfdExited(fd uintptr) (bool, error) {
	for {
		n, err := poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return n > 0, err
	}
}

// dupMonitor returns a private copy of the monitor pidfd, so that concurrent
// waiters each have their own poller registration and deadline.
func (c *Container) dupMonitor() (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.monitor == nil {
		return nil, nil
	}
	fd, err := unix.FcntlInt(c.monitor.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup pidfd: %w", err)
	}
	return os.NewFile(uintptr(fd), "pidfd"), nil
}

// reap collects the monitor's exit status if this process forked it, so it
// does not linger as a zombie.
func (c *Container) reap() { c.d.reap(c.monitorPid) }

// Wait blocks until the container has exited and returns its recorded exit.
// It works for containers this process started and for containers Loaded
// after an agent restart (it polls a pidfd on the monitor; the agent need not
// be its parent). It returns ErrLost when the monitor is gone without
// recording an exit, and ctx's error when ctx ends first.
func (c *Container) Wait(ctx context.Context) (Exit, error) {
	if e, ok, err := c.readExit(); err != nil || ok {
		c.reap() // if the monitor is already gone
		return e, err
	}
	f, err := c.dupMonitor()
	if err != nil {
		return Exit{}, fmt.Errorf("wait for container %s: %w", c.id, err)
	}
	if f != nil {
		err = waitFD(ctx, f)
		f.Close()
		if err != nil {
			return Exit{}, fmt.Errorf("wait for container %s: %w", c.id, err)
		}
		c.reap()
	}
	// The monitor writes the exit record before it exits.
	if e, ok, err := c.readExit(); err != nil || ok {
		return e, err
	}
	return Exit{}, fmt.Errorf("wait for container %s: %w", c.id, ErrLost)
}

// waitFD waits until the pidfd f is readable (its process exited) or ctx
// ends. The pidfd is non-blocking, so the runtime's poller waits for it.
func waitFD(ctx context.Context, f *os.File) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	exited := func(fd uintptr) bool {
		gone, err := pidfdExited(fd)
		return err != nil || gone
	}
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		// Not in the poller: fall back to polling with a short timeout.
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		for {
			var done bool
			if err := rc.Control(func(fd uintptr) {
				n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 50)
				done = n > 0
			}); err != nil {
				return err
			}
			if done {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Read(exited); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// libcontainer returns libcontainer's handle on the container.
func (c *Container) libcontainer() (*libcontainer.Container, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lc != nil {
		return c.lc, nil
	}
	lc, err := loadLibcontainer(c.d.stateRoot(), c.id)
	if err != nil {
		return nil, err
	}
	c.lc = lc
	return lc, nil
}

func loadLibcontainer(root, id string) (*libcontainer.Container, error) {
	lc, err := libcontainer.Load(root, id)
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) || errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("load libcontainer state: %w", err)
	}
	return lc, nil
}

// Signal sends sig to the container's init process. Note that an init
// process in its own pid namespace only receives signals it handles (and
// SIGKILL).
func (c *Container) Signal(sig unix.Signal) error {
	lc, err := c.libcontainer()
	if err != nil {
		return fmt.Errorf("signal container %s: %w", c.id, err)
	}
	if err := lc.Signal(sig); err != nil {
		return fmt.Errorf("signal container %s: %w", c.id, err)
	}
	return nil
}

// signalAll sends sig to every process in the container's cgroup, the way
// Mesos' command executor signals the whole process tree of a task.
func (c *Container) signalAll(sig unix.Signal) error {
	lc, err := c.libcontainer()
	if err != nil {
		return err
	}
	pids, err := lc.Processes()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, sig) // already-exited processes are fine
	}
	return nil
}

// Kill stops the container: SIGTERM to all its processes, then after grace
// SIGKILL to its init (which takes down its whole pid namespace). It returns
// once the container has exited, and nil at once if it already had. A
// container waiting at its gate is destroyed by its shim.
func (c *Container) Kill(ctx context.Context, grace time.Duration) error {
	if err := c.closeGate(ctx); err != nil {
		return fmt.Errorf("kill container %s: %w", c.id, err)
	}
	switch st, err := c.Status(); {
	case err != nil:
		return fmt.Errorf("kill container %s: %w", c.id, err)
	case st == Exited:
		return nil
	}
	if grace > 0 {
		if err := c.signalAll(unix.SIGTERM); err != nil && !errors.Is(err, ErrNotFound) {
			c.d.log.Warn("sigterm container", "container_id", c.id, "err", err)
		}
		gctx, cancel := context.WithTimeout(ctx, grace)
		err := c.waitGone(gctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kill container %s: %w", c.id, ctx.Err())
		}
	}
	if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("kill container %s: %w", c.id, err)
	}
	return c.waitGone(ctx)
}

// waitGone waits for the container to exit; for a container whose monitor
// was lost, by watching its processes instead.
func (c *Container) waitGone(ctx context.Context) error {
	_, err := c.Wait(ctx)
	if errors.Is(err, ErrLost) {
		return c.waitStopped(ctx)
	}
	return err
}

// waitStopped polls libcontainer until the container's init is gone; for
// containers whose monitor was lost.
func (c *Container) waitStopped(ctx context.Context) error {
	lc, err := c.libcontainer()
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kill container %s: %w", c.id, err)
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := lc.Status()
		if err != nil || st == libcontainer.Stopped {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kill container %s: %w", c.id, ctx.Err())
		case <-t.C:
		}
	}
}

// Destroy kills the container if it still runs, then removes its cgroups,
// libcontainer state and run directory (including the exit record). The
// sandbox is left alone. The handle is closed. Destroying a container twice
// is fine.
func (c *Container) Destroy(ctx context.Context) error {
	if err := c.Kill(ctx, 0); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("destroy container %s: %w", c.id, err)
	}
	// The monitor exits right after recording the exit: wait for that, so
	// that a monitor this process started is reaped, not left a zombie.
	if f, err := c.dupMonitor(); err == nil && f != nil {
		err := waitFD(ctx, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("destroy container %s: wait for monitor: %w", c.id, err)
		}
	}
	c.reap()
	c.mu.Lock()
	c.lc = nil
	c.mu.Unlock()
	if err := c.d.cleanup(c.id); err != nil {
		return fmt.Errorf("destroy container %s: %w", c.id, err)
	}
	_ = c.Close()
	c.d.log.Info("container destroyed", "container_id", c.id)
	return nil
}
