package container_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

// gone reports whether no process pid exists any more (zombies count as
// gone).
func gone(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	return containsState(string(st), 'Z')
}

// containsState reports whether /proc/<pid>/stat content s is in state c.
func containsState(s string, c byte) bool {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			return i+2 < len(s) && s[i+2] == c
		}
	}
	return false
}

// TestGateOpen: a container started with WaitBeforeExec is created but its
// process does not run until OpenGate; what is written into a mounted file
// meanwhile is what the process sees.
func TestGateOpen(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	spec := e.spec(t, "gated", rootfs, "sh", "-c", `cat /etc/late; echo ran > "$PWD/ran"`)
	late := t.TempDir() + "/late"
	if err := os.WriteFile(late, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Mounts = []container.Mount{{Source: late, Destination: "/etc/late", ReadOnly: true}}
	spec.WaitBeforeExec = true
	c := e.start(t, spec)
	if c.Pid() == 0 {
		t.Fatal("no init pid for a created container")
	}
	if _, err := os.Stat(sandboxFile(spec, "ran")); err == nil {
		t.Fatal("the process ran before the gate opened")
	}
	// Written in place: the bind mount shares the inode.
	if err := os.WriteFile(late, []byte("written before the gate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.OpenGate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.OpenGate(ctx); err != nil {
		t.Fatalf("second OpenGate: %v", err)
	}
	ex := wait(t, c)
	if !ex.Success() {
		t.Fatalf("exit = %+v; stderr %q", ex, containertest.ReadFile(sandboxFile(spec, "stderr")))
	}
	if got := containertest.ReadFile(sandboxFile(spec, "stdout")); got != "written before the gate\n" {
		t.Fatalf("stdout = %q", got)
	}
}

// TestGateClosed: a gated container destroyed (or killed) before its gate
// opens never runs its process and leaves nothing: no init, no cgroup, no
// state.
func TestGateClosed(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	for _, how := range []string{"destroy", "kill", "cancelled-open"} {
		t.Run(how, func(t *testing.T) {
			spec := e.spec(t, "closed-"+how, rootfs, "sh", "-c", `echo ran > "$PWD/ran"; sleep 1000`)
			spec.WaitBeforeExec = true
			c := e.start(t, spec)
			pid := c.Pid()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			switch how {
			case "destroy":
				if err := c.Destroy(ctx); err != nil {
					t.Fatal(err)
				}
			case "kill":
				if err := c.Kill(ctx, time.Second); err != nil {
					t.Fatal(err)
				}
				if err := c.Destroy(ctx); err != nil {
					t.Fatal(err)
				}
			case "cancelled-open":
				cctx, ccancel := context.WithCancel(ctx)
				ccancel()
				if err := c.OpenGate(cctx); !errors.Is(err, context.Canceled) {
					t.Fatalf("OpenGate = %v, want canceled", err)
				}
				if err := c.Destroy(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(sandboxFile(spec, "ran")); err == nil {
				t.Error("the process ran")
			}
			if !gone(pid) {
				t.Errorf("init %d still there", pid)
			}
			if _, err := e.d.Load(spec.ID); !errors.Is(err, container.ErrNotFound) {
				t.Errorf("container left behind: %v", err)
			}
			if containertest.CgroupExists(e.cfg.CgroupParent + "/" + spec.ID) {
				t.Error("cgroup left behind")
			}
		})
	}
}

// TestGateAgentDies: the agent that started a gated container dies before
// opening the gate. The shim destroys the created container (its process
// never runs), and a restarted agent finds it without a monitor (lost)
// and removes what is left.
func TestGateAgentDies(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	spec := e.spec(t, "orphan-gate", rootfs, "sh", "-c", `echo ran > "$PWD/ran"; sleep 1000`)
	spec.WaitBeforeExec = true
	shim := startInAgent(t, e.cfg, spec)
	containertest.Eventually(t, 30*time.Second, func() bool {
		var ws unix.WaitStatus
		got, err := unix.Wait4(shim, &ws, unix.WNOHANG, nil)
		return got == shim || err != nil
	}, "the shim of a gated container did not exit when its agent died")
	if containertest.CgroupExists(e.cfg.CgroupParent + "/" + spec.ID) {
		t.Error("cgroup left behind by the shim")
	}
	c, err := e.d.Load(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(); err != nil || st != container.Lost {
		t.Fatalf("status = %v, %v; want lost", st, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sandboxFile(spec, "ran")); err == nil {
		t.Error("the process ran")
	}
	if ids, _ := e.d.List(); len(ids) != 0 {
		t.Errorf("List = %v after destroy", ids)
	}
}
