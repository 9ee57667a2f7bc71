package container_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// TestAgentRestartReattach: an agent process starts a container and dies; a
// new Driver loads it, sees it running with its output still growing, and
// can wait for and kill it although it is not the monitor's parent.
func TestAgentRestartReattach(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	spec := e.spec(t, "survivor", rootfs, "sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); sleep 0.02; done")
	monitorPid := startInAgent(t, e.cfg, spec)

	// The "restarted agent".
	d2, err := container.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d2.Close)
	ids, err := d2.List()
	if err != nil || len(ids) != 1 || ids[0] != spec.ID {
		t.Fatalf("List = %v, %v", ids, err)
	}
	c, err := d2.Load(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(); err != nil || st != container.Running {
		t.Fatalf("status = %v, %v; want running", st, err)
	}
	if c.MonitorPid() != monitorPid || c.Pid() == 0 {
		t.Fatalf("monitor pid %d (agent said %d), init pid %d", c.MonitorPid(), monitorPid, c.Pid())
	}
	out := sandboxFile(c.Spec(), "stdout")
	size := fileSize(out)
	containertest.Eventually(t, 30*time.Second, func() bool { return fileSize(out) > size+10 },
		"stdout stopped growing at %d bytes", size)

	// Wait from a non-parent honours its context...
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = c.Wait(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with short deadline: %v", err)
	}
	// ...and sees the kill.
	if err := c.Kill(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	ex := wait(t, c)
	if ex.Signal != int(unix.SIGKILL) {
		t.Fatalf("exit = %+v, want SIGKILL", ex)
	}
}

// TestExitWhileAgentDown: the container exits while no agent exists; the
// next agent finds the recorded exit.
func TestExitWhileAgentDown(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	spec := e.spec(t, "exits", rootfs, "sh", "-c", "while [ ! -e go ]; do sleep 0.01; done; exit 7")
	startInAgent(t, e.cfg, spec)

	// No Driver exists now. Let the container finish, and wait for its
	// monitor to record that.
	if err := os.WriteFile(filepath.Join(spec.SandboxDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	exitFile := filepath.Join(e.cfg.Root, "containers", spec.ID, "exit.json")
	containertest.Eventually(t, 30*time.Second, func() bool { return fileSize(exitFile) > 0 }, "no exit recorded")

	d2, err := container.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d2.Close)
	c, err := d2.Load(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(); err != nil || st != container.Exited {
		t.Fatalf("status = %v, %v; want exited", st, err)
	}
	if ex := wait(t, c); ex.Code != 7 {
		t.Fatalf("exit = %+v, want code 7", ex)
	}
}

// TestMonitorKilledIsLost: a monitor killed before it can record anything
// leaves a lost container, which Destroy still cleans up.
func TestMonitorKilledIsLost(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	spec := e.spec(t, "lost", rootfs, "sleep", "1000")
	c := e.start(t, spec)
	if err := unix.Kill(c.MonitorPid(), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(context.Background()); !errors.Is(err, container.ErrLost) {
		t.Fatalf("wait err = %v, want ErrLost", err)
	}
	c2, err := e.d.Load(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c2.Status(); err != nil || st != container.Lost {
		t.Fatalf("status = %v, %v; want lost", st, err)
	}
	// The container itself still runs, unmonitored.
	if err := unix.Kill(c.Pid(), 0); err != nil {
		t.Fatalf("container init gone: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c2.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	containertest.Eventually(t, 30*time.Second, func() bool {
		// The orphaned init came to us (subreaper): reap it.
		var ws unix.WaitStatus
		_, _ = unix.Wait4(c.Pid(), &ws, unix.WNOHANG, nil)
		return unix.Kill(c.Pid(), 0) != nil
	}, "container init %d still alive after Destroy", c.Pid())
	if _, err := e.d.Load(spec.ID); !errors.Is(err, container.ErrNotFound) {
		t.Fatalf("load after destroy: %v", err)
	}
}
