package container_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // for BenchmarkBareLibcontainer's in-process init
	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

func init() {
	// BenchmarkBareLibcontainer runs libcontainer in the test process, which
	// then re-executes this test binary as the container's init.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}

// shimPath is the shim built by TestMain.
var shimPath string

// agentEnv makes the test binary act as a short-lived "agent": start one
// container with a Driver and exit without waiting, like an agent that dies.
const agentEnv = "NODECTL_CONTAINER_TEST_AGENT"

type agentRequest struct {
	Config container.Config
	Spec   container.Spec
}

func TestMain(m *testing.M) {
	if req := os.Getenv(agentEnv); req != "" {
		os.Exit(runAgent(req))
	}
	if os.Geteuid() != 0 {
		// Unit tests still run; tests needing containers skip in newEnv.
		os.Exit(m.Run())
	}
	// Orphaned shims of test "agents" that exited come back to us rather
	// than to the host's init; tests reap them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "set subreaper:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "nodectl-shim-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shimPath, err = containertest.BuildShim(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	containertest.RemoveShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runAgent(reqJSON string) int {
	var req agentRequest
	if err := json.Unmarshal([]byte(reqJSON), &req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	req.Config.Logger = nil // does not survive JSON
	d, err := container.New(req.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := d.Start(context.Background(), req.Spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(c.MonitorPid())
	return 0 // exit without Close or Wait: the container must live on
}

// startInAgent starts spec with a Driver in a separate, short-lived process
// (a simulated agent that then exits) and returns the monitor's pid. At
// cleanup the container is destroyed and its orphaned monitor reaped.
func startInAgent(t *testing.T, cfg container.Config, spec container.Spec) int {
	t.Helper()
	b, err := json.Marshal(agentRequest{Config: cfg, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), agentEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("agent process: %v", err)
	}
	var pid int
	if _, err := fmt.Sscan(string(out), &pid); err != nil {
		t.Fatalf("agent output %q: %v", out, err)
	}
	t.Cleanup(func() {
		// Destroy, then reap the monitor: we are the subreaper it was
		// reparented to, and a zombie left at our exit would go to the
		// host's init.
		d, err := container.New(cfg)
		if err != nil {
			t.Error(err)
			return
		}
		defer d.Close()
		destroy(t, d, spec.ID)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var ws unix.WaitStatus
			if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid || err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("monitor %d did not exit after destroy", pid)
	})
	return pid
}

type env struct {
	cfg container.Config
	d   *container.Driver
}

// newEnv returns a driver with its own root and cgroup parent, both removed
// when the test ends (after every container's cleanup).
func newEnv(t testing.TB) *env {
	t.Helper()
	containertest.RequireRoot(t)
	cfg := container.Config{
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Root:         t.TempDir(),
		ViewRoot:     filepath.Join(t.TempDir(), "views"),
		ShimPath:     shimPath,
		CgroupParent: containertest.CgroupParent(t),
	}
	d, err := container.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close) // its views go; after the containers' destruction
	return &env{cfg: cfg, d: d}
}

// spec returns a spec with a fresh sandbox; rootfs "" makes a command task.
func (e *env) spec(t testing.TB, id, rootfs string, args ...string) container.Spec {
	t.Helper()
	return container.Spec{
		ID:         id,
		Rootfs:     rootfs,
		SandboxDir: t.TempDir(),
		Args:       args,
	}
}

// start starts spec and registers its destruction.
func (e *env) start(t testing.TB, spec container.Spec) *container.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := e.d.Start(ctx, spec)
	if err != nil {
		t.Fatalf("start %s: %v", spec.ID, err)
	}
	t.Cleanup(func() { destroy(t, e.d, spec.ID) })
	return c
}

// destroy destroys a container by id through a fresh handle.
func destroy(t testing.TB, d *container.Driver, id string) {
	t.Helper()
	c, err := d.Load(id)
	if err != nil {
		return // already destroyed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Destroy(ctx); err != nil {
		t.Errorf("destroy %s: %v", id, err)
	}
}

func wait(t testing.TB, c *container.Container) container.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := c.Wait(ctx)
	if err != nil {
		t.Fatalf("wait %s: %v", c.ID(), err)
	}
	return e
}

func sandboxFile(spec container.Spec, name string) string {
	return filepath.Join(spec.SandboxDir, name)
}
