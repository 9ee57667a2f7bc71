package container_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

func TestEchoHello(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	spec := e.spec(t, "echo", rootfs, "echo", "hello")
	c := e.start(t, spec)
	ex := wait(t, c)
	if !ex.Success() || ex.FinishedAt.IsZero() {
		t.Fatalf("exit = %+v, want success with a time", ex)
	}
	if got := containertest.ReadFile(sandboxFile(spec, "stdout")); got != "hello\n" {
		t.Fatalf("stdout = %q, want %q", got, "hello\n")
	}
	if st, err := c.Status(); err != nil || st != container.Exited {
		t.Fatalf("status = %v, %v; want exited", st, err)
	}
}

func TestExitCodeAndEnvironment(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	spec := e.spec(t, "exit3", rootfs, "sh", "-c", `echo "$FOO $(pwd) $(hostname)"; echo oops >&2; exit 3`)
	spec.Env = []string{"FOO=bar"}
	spec.Hostname = "task-1"
	c := e.start(t, spec)
	ex := wait(t, c)
	if ex.Code != 3 || ex.Signal != 0 || ex.OOMKilled || ex.Reason() != "" {
		t.Fatalf("exit = %+v, want code 3", ex)
	}
	want := "bar " + container.DefaultSandboxTarget + " task-1\n"
	if got := containertest.ReadFile(sandboxFile(spec, "stdout")); got != want {
		t.Fatalf("stdout = %q, want %q", got, want)
	}
	if got := containertest.ReadFile(sandboxFile(spec, "stderr")); got != "oops\n" {
		t.Fatalf("stderr = %q", got)
	}
}

func TestCommandTaskReadOnlyHost(t *testing.T) {
	e := newEnv(t)
	probe := "/usr/nodectl-probe-" + t.Name()
	script := `if touch ` + probe + ` 2>/dev/null; then echo usr-writable; else echo usr-readonly; fi
echo data > "$PWD/out"
if touch /tmp/x; then echo tmp-writable; fi
if [ -e /proc/1/cmdline ] && [ "$$" = 1 ]; then echo own-pidns; fi`
	script += "\nif [ -z \"$(ls -A " + e.cfg.Root + ")\" ]; then echo state-masked; fi"
	spec := e.spec(t, "cmdtask", "", "/bin/sh", "-c", script)
	c := e.start(t, spec)
	ex := wait(t, c)
	t.Cleanup(func() { os.Remove(probe) })
	if !ex.Success() {
		t.Fatalf("exit = %+v; stderr %q", ex, containertest.ReadFile(sandboxFile(spec, "stderr")))
	}
	got := containertest.ReadFile(sandboxFile(spec, "stdout"))
	for _, want := range []string{"usr-readonly", "tmp-writable", "own-pidns", "state-masked"} {
		if !strings.Contains(got, want) {
			t.Errorf("stdout %q lacks %q", got, want)
		}
	}
	if _, err := os.Stat(probe); err == nil {
		t.Errorf("%s was created on the host", probe)
	}
	if got := containertest.ReadFile(sandboxFile(spec, "out")); got != "data\n" {
		t.Errorf("sandbox file = %q, want data", got)
	}
}

func TestMounts(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	ro, rw := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "f"), []byte("ro-data"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := e.spec(t, "mounts", rootfs, "sh", "-c",
		`cat /vol/ro/f; echo; if touch /vol/ro/g 2>/dev/null; then echo ro-writable; fi; echo w > /vol/rw/g`)
	spec.Mounts = []container.Mount{
		{Source: ro, Destination: "/vol/ro", ReadOnly: true},
		{Source: rw, Destination: "/vol/rw"},
	}
	c := e.start(t, spec)
	if ex := wait(t, c); !ex.Success() {
		t.Fatalf("exit = %+v; stderr %q", ex, containertest.ReadFile(sandboxFile(spec, "stderr")))
	}
	if got := containertest.ReadFile(sandboxFile(spec, "stdout")); got != "ro-data\n" {
		t.Errorf("stdout = %q", got)
	}
	if got := containertest.ReadFile(filepath.Join(rw, "g")); got != "w\n" {
		t.Errorf("rw volume file = %q", got)
	}
}

func TestOOMKilled(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	// tmpfs pages are charged to the cgroup and cannot be reclaimed
	// without swap: 64 MiB into /dev/shm in a 16 MiB container must OOM.
	spec := e.spec(t, "oom", rootfs, "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=60")
	spec.MemBytes = 16 << 20
	c := e.start(t, spec)
	ex := wait(t, c)
	if !ex.OOMKilled || ex.Reason() != container.ReasonMemoryLimit {
		t.Fatalf("exit = %+v, want OOM killed (stderr %q)", ex, containertest.ReadFile(sandboxFile(spec, "stderr")))
	}
}

func TestCPUThrottledStats(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	spec := e.spec(t, "cpu", rootfs, "sh", "-c", "while :; do :; done")
	spec.CPUs = 0.1
	spec.CPUHardLimit = true
	spec.MemBytes = 64 << 20
	c := e.start(t, spec)
	var st container.Stats
	containertest.Eventually(t, 30*time.Second, func() bool {
		var err error
		st, err = c.Stats()
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		return st.CPUsNrThrottled > 0 && st.CPUsThrottledTimeSecs > 0
	}, "not throttled: %+v", &st)
	if st.CPUsLimit != 0.1 || st.Processes != 1 || st.Threads < 1 || st.MemLimitBytes != 64<<20 || st.MemTotalBytes == 0 || st.Timestamp == 0 {
		t.Errorf("stats = %+v", st)
	}
	if st.CPUsNrPeriods < st.CPUsNrThrottled || st.CPUsUserTimeSecs+st.CPUsSystemTimeSecs <= 0 {
		t.Errorf("cpu stats = %+v", st)
	}
}

func TestKill(t *testing.T) {
	rootfs := containertest.BusyboxRootfs(t)
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		// wantSignal: SIGKILL (9) needed, or 0 for a clean exit on SIGTERM.
		wantSignal int
		wantFast   bool // returned well before grace ran out
	}{
		{"ignores SIGTERM", `trap "" TERM; echo ready; while :; do sleep 0.05; done`, 300 * time.Millisecond, 9, false},
		{"exits on SIGTERM", `trap "exit 0" TERM; echo ready; while :; do sleep 0.05; done`, 20 * time.Second, 0, true},
		{"no grace", `echo ready; while :; do sleep 0.05; done`, 0, 9, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			spec := e.spec(t, "kill"+string(rune('a'+i)), rootfs, "sh", "-c", tt.script)
			c := e.start(t, spec)
			containertest.Eventually(t, 30*time.Second, func() bool {
				return strings.Contains(containertest.ReadFile(sandboxFile(spec, "stdout")), "ready")
			}, "container never printed ready")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			t0 := time.Now()
			if err := c.Kill(ctx, tt.grace); err != nil {
				t.Fatalf("kill: %v", err)
			}
			took := time.Since(t0)
			if tt.grace > 0 && !tt.wantFast && took < tt.grace {
				t.Errorf("kill took %v, less than the grace %v", took, tt.grace)
			}
			if tt.wantFast && tt.grace > 0 && took >= tt.grace {
				t.Errorf("kill took %v, the whole grace: want it to return once the container exited", took)
			}
			ex := wait(t, c)
			if ex.Signal != tt.wantSignal {
				t.Errorf("exit = %+v, want signal %d", ex, tt.wantSignal)
			}
			// Killing an exited container is fine.
			if err := c.Kill(ctx, time.Second); err != nil {
				t.Errorf("second kill: %v", err)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	sandbox := t.TempDir()
	ok := container.Spec{ID: "ok", Rootfs: rootfs, SandboxDir: sandbox, Args: []string{"true"}}
	tests := []struct {
		name    string
		mutate  func(*container.Spec)
		wantErr error
	}{
		{"bad id", func(s *container.Spec) { s.ID = "a/b" }, container.ErrInvalidSpec},
		{"no args", func(s *container.Spec) { s.Args = nil }, container.ErrInvalidSpec},
		{"relative sandbox", func(s *container.Spec) { s.SandboxDir = "sandbox" }, container.ErrInvalidSpec},
		{"missing sandbox", func(s *container.Spec) { s.SandboxDir = "/nonexistent/sandbox" }, container.ErrInvalidSpec},
		{"relative rootfs", func(s *container.Spec) { s.Rootfs = "rootfs" }, container.ErrInvalidSpec},
		{"tiny memory", func(s *container.Spec) { s.MemBytes = 1024 }, container.ErrInvalidSpec},
		{"sandbox in root", func(s *container.Spec) { s.SandboxDir = e.cfg.Root }, container.ErrInvalidSpec},
		{"command task mount point missing", func(s *container.Spec) {
			s.Rootfs = ""
			s.Mounts = []container.Mount{{Source: "/etc", Destination: "/nonexistent/dir"}}
		}, container.ErrInvalidSpec},
		{"no such binary", func(s *container.Spec) { s.ID = "nobin"; s.Args = []string{"/nonexistent"} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mutate(&s)
			c, err := e.d.Start(context.Background(), s)
			if err == nil {
				c.Destroy(context.Background())
				t.Fatal("start succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			t.Logf("err: %v", err)
		})
	}
	// Nothing is left behind by the failures.
	if ids, err := e.d.List(); err != nil || len(ids) != 0 {
		t.Fatalf("List = %v, %v; want none", ids, err)
	}
	// Duplicate ids are refused.
	s := ok
	s.Args = []string{"sleep", "100"}
	e.start(t, s)
	if _, err := e.d.Start(context.Background(), s); !errors.Is(err, container.ErrExist) {
		t.Fatalf("duplicate start err = %v, want ErrExist", err)
	}
	if ids, err := e.d.List(); err != nil || len(ids) != 1 || ids[0] != "ok" {
		t.Fatalf("List = %v, %v; want [ok]", ids, err)
	}
	if _, err := e.d.Load("nope"); !errors.Is(err, container.ErrNotFound) {
		t.Fatalf("Load(nope) err = %v, want ErrNotFound", err)
	}
}

func TestStartCancelled(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.d.Start(ctx, e.spec(t, "cancelled", rootfs, "true")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ids, _ := e.d.List(); len(ids) != 0 {
		t.Fatalf("List = %v after a cancelled start", ids)
	}
}

// TestStartCancelledMidway cancels starts at various points: each either
// succeeds or fails with the context's error and leaves nothing behind.
func TestStartCancelledMidway(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	for i, d := range []time.Duration{time.Millisecond, 3 * time.Millisecond, 6 * time.Millisecond, 10 * time.Millisecond, 15 * time.Millisecond, 25 * time.Millisecond} {
		id := "mid" + string(rune('a'+i))
		ctx, cancel := context.WithTimeout(context.Background(), d)
		c, err := e.d.Start(ctx, e.spec(t, id, rootfs, "sleep", "1000"))
		cancel()
		if err == nil {
			t.Logf("%v: started", d)
			if err := c.Destroy(context.Background()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Logf("%v: %v", d, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v: err = %v, want DeadlineExceeded", d, err)
		}
		if _, err := e.d.Load(id); !errors.Is(err, container.ErrNotFound) {
			t.Errorf("%v: container left behind: %v", d, err)
		}
		if containertest.CgroupExists(e.cfg.CgroupParent + "/" + id) {
			t.Errorf("%v: cgroup left behind", d)
		}
	}
}

// TestCommandTasksShareTheRootSkeleton: command tasks' root is one
// skeleton of the host's top level, made by the driver; a start adds
// nothing to it, and a new driver sweeps only skeletons no container uses.
func TestCommandTasksShareTheRootSkeleton(t *testing.T) {
	e := newEnv(t)
	// The plain skeletons (no views: a kernel without mount_setattr);
	// views are TestCommandTaskSeesHostMountsOfItsStart's.
	e.cfg.ViewRoot = ""
	d, err := container.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	e.d = d
	rootOf := func(id string) string {
		t.Helper()
		dir, _ := requestRoot(t, e, id)
		return dir
	}
	listing := func(dir string) []string {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	var roots []string
	for _, id := range []string{"share1", "share2"} {
		spec := e.spec(t, id, "", "/bin/sh", "-c", "sleep 30")
		e.start(t, spec)
		roots = append(roots, rootOf(id))
	}
	if roots[0] != roots[1] || filepath.Dir(roots[0]) != filepath.Join(e.cfg.Root, "hostroot") {
		t.Fatalf("command tasks' roots %q, want one skeleton under %s/hostroot", roots, e.cfg.Root)
	}
	host := listing("/")
	if got := listing(roots[0]); !slices.Equal(got, host) {
		t.Errorf("skeleton holds %q, the host's top level is %q", got, host)
	}

	stale := filepath.Join(e.cfg.Root, "hostroot", "0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(stale, "usr"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := container.New(e.cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unused skeleton %s not swept: %v", stale, err)
	}
	if got := listing(roots[0]); !slices.Equal(got, host) {
		t.Errorf("the skeleton in use was touched by the sweep: %q", got)
	}
}

// spareShims lists the pids of the spare shims of the driver rooted at
// root (`nodectl-shim spare <root>`).
func spareShims(root string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		// `spare <root>`, and `spare <root> <warm dir>` with warm containers
		if len(args) >= 3 && filepath.Base(args[0]) == container.ShimName && args[1] == "spare" && args[2] == root {
			pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/cmdline"))
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestSpareShim: after a start the driver keeps a shim started ahead; the
// next start hands it its run directory (the container's monitor is that
// process), and it starts the container as any shim does.
func TestSpareShim(t *testing.T) {
	e := newEnv(t)
	e.start(t, e.spec(t, "spare1", "", "/bin/sh", "-c", "sleep 30"))
	var spare []int
	containertest.Eventually(t, 30*time.Second, func() bool { spare = spareShims(e.cfg.Root); return len(spare) == 1 }, "no spare shim after a start")

	spec := e.spec(t, "spare2", "", "/bin/sh", "-c", "echo from-spare; sleep 30")
	c := e.start(t, spec)
	if c.MonitorPid() != spare[0] {
		t.Fatalf("monitor pid %d, want the spare shim %d", c.MonitorPid(), spare[0])
	}
	containertest.Eventually(t, 30*time.Second, func() bool {
		return containertest.ReadFile(sandboxFile(spec, "stdout")) == "from-spare\n"
	}, "the task's output is not in its sandbox")
	if st, err := c.Status(); err != nil || st != container.Running {
		t.Fatalf("status %v, %v", st, err)
	}
	containertest.Eventually(t, 30*time.Second, func() bool { s := spareShims(e.cfg.Root); return len(s) == 1 && s[0] != spare[0] }, "no new spare shim")
}
