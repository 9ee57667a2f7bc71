package container_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
	"nodectl/runtime/internal/container/internal/shimapi"
)

// warmEnv is newEnv with warm containers on and a hidden work dir that
// holds the sandboxes (as the agent's work dir does).
func warmEnv(t *testing.T, hidden ...string) (*env, string) {
	t.Helper()
	containertest.RequireRoot(t)
	work := t.TempDir()
	e := newEnv(t)
	e.d.Close() // the env's driver, replaced by one with warm containers
	e.cfg.WarmContainers = true
	e.cfg.HiddenPaths = append([]string{work}, hidden...)
	d, err := container.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	t.Cleanup(d.Close) // runs before the containers' destruction
	return e, work
}

func warmSpec(t *testing.T, work, id string, args ...string) container.Spec {
	dir := filepath.Join(work, "sandboxes", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return container.Spec{ID: id, SandboxDir: dir, Args: args}
}

// warmReady waits for the spare shim's warm container to run its stub and
// returns the stub's pid.
func warmReady(t *testing.T, root string) int {
	t.Helper()
	stub := 0
	containertest.Eventually(t, 30*time.Second, func() bool { stub = warmStub(root); return stub != 0 }, "no warm container after a start")
	return stub
}

// warmStub is the pid of the warm container's stub, 0 if there is not
// exactly one.
func warmStub(root string) int {
	if pids := warmStubs(root); len(pids) == 1 {
		return pids[0]
	}
	return 0
}

// warmStubs are the pids of the warm containers' running stubs.
func warmStubs(root string) []int { return warmStubsOf(root, false) }

// warmStubsOf is warmStubs, with ready only those whose spare shim has
// made them (shimapi.WarmReadyFile in the warm dir): a start that finds
// no warm container for it ends the ones still being made
// (Driver.takeSpare).
func warmStubsOf(root string, ready bool) []int {
	var out []int
	m, _ := filepath.Glob(filepath.Join(root, "runc", "warm-*", "state.json"))
	for _, f := range m {
		if _, err := os.Stat(filepath.Join(root, "warm", filepath.Base(filepath.Dir(f)), shimapi.WarmReadyFile)); ready && err != nil {
			continue
		}
		var st struct {
			Pid int `json:"init_process_pid"`
		}
		b, _ := os.ReadFile(f)
		if json.Unmarshal(b, &st) != nil {
			continue
		}
		if b, _ = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.Pid)); string(b) == "/proc/self/exe\x00stub\x00" {
			out = append(out, st.Pid)
		}
	}
	return out
}

// TestWarmContainer: after a command task starts, the spare shim makes a
// container like it ahead; the next such task takes it over — the same
// monitor, its own id, cgroup, limits, sandbox, output, environment and
// isolation — and destroying it leaves nothing.
func TestWarmContainer(t *testing.T) {
	e, work := warmEnv(t)
	e.start(t, warmSpec(t, work, "w1", "/bin/sh", "-c", "sleep 30"))
	stub := warmReady(t, e.cfg.Root)
	spare := spareShims(e.cfg.Root)

	spec := warmSpec(t, work, "w2", "/bin/sh", "-c",
		`echo "$FOO $(pwd) $(id -u) $(grep -c . /proc/self/mountinfo)"; grep Seccomp: /proc/self/status; echo; ls `+work+`; grep -E '^(SigBlk|SigIgn|SigCgt|Cap|NoNewPrivs)' /proc/1/status | tr '\n\t' '  '; echo; sleep 30`)
	spec.Env = []string{"FOO=bar"}
	spec.MemBytes = 64 << 20
	c := e.start(t, spec)
	if len(spare) != 1 || c.MonitorPid() != spare[0] {
		t.Fatalf("monitor pid %d, want the warm spare %v", c.MonitorPid(), spare)
	}
	if c.Pid() != stub {
		t.Fatalf("init pid %d, want the warm container's %d: not taken over", c.Pid(), stub)
	}
	var out string
	containertest.Eventually(t, 30*time.Second, func() bool {
		out = containertest.ReadFile(sandboxFile(spec, "stdout"))
		return strings.Count(out, "\n") >= 5
	}, "the task's output is not in its sandbox")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if f := strings.Fields(lines[0]); len(f) != 4 || f[0] != "bar" || f[1] != spec.SandboxDir || f[2] != "0" {
		t.Errorf("task saw %q, want FOO=bar, cwd %s, uid 0", lines[0], spec.SandboxDir)
	}
	if lines[1] != "Seccomp:\t2" {
		t.Errorf("seccomp: %q, want filtering (2)", lines[1])
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.Pid())); err != nil || len(fds) != 3 {
		t.Errorf("the task has %d fds open (%v), want 3: stdin, stdout, stderr", len(fds), err) // the stub's socket is gone
	}
	// The same signal state, capabilities and no_new_privs as a task in
	// a container made for it (w1 printed its own).
	if ref := taskStatus(t, e, work); lines[4] != ref {
		t.Errorf("the task's status\n%s\nwant, as made for it,\n%s", lines[4], ref)
	}
	if lines[3] != "sandboxes" {
		t.Errorf("the hidden work dir shows %q, want only the way to the sandbox", lines[3])
	}
	if st, err := c.Status(); err != nil || st != container.Running {
		t.Fatalf("status %v, %v", st, err)
	}
	cg := filepath.Join("/sys/fs/cgroup", e.cfg.CgroupParent, "w2")
	limit := filepath.Join(cg, "memory.max")
	if _, err := os.Stat(limit); err != nil { // cgroup v1
		cg = filepath.Join("/sys/fs/cgroup/memory", e.cfg.CgroupParent, "w2")
		limit = filepath.Join(cg, "memory.limit_in_bytes")
	}
	if b, err := os.ReadFile(limit); err != nil || strings.TrimSpace(string(b)) != "67108864" {
		t.Errorf("%s: %q, %v", limit, b, err)
	}
	// A process run in it (a COMMAND health check) joins the task's
	// namespaces and cgroups, found through its renamed state.
	ex, out2, err := c.Exec(context.Background(), container.ExecSpec{Args: []string{"/bin/sh", "-c", "pwd; grep -c /w2$ /proc/self/cgroup"}})
	if f := strings.Fields(string(out2)); err != nil || ex.Code != 0 || len(f) != 2 || f[0] != spec.SandboxDir || f[1] == "0" {
		t.Errorf("exec in the taken-over container: %v, %+v, %q", err, ex, out2)
	}
	if err := c.Kill(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	destroy(t, e.d, "w2")
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left: %v", cg, err)
	}
	if m := mountsUnder(filepath.Join(e.cfg.Root, "containers")); len(m) > 0 {
		t.Errorf("mounts left under the containers' run dirs: %v", m)
	}
	if _, err := os.Stat(spec.SandboxDir); err != nil {
		t.Errorf("sandbox gone with the container: %v", err)
	}

	// A command that is not there fails the start, as without a warm
	// container, and leaves nothing.
	warmReady(t, e.cfg.Root)
	bad := warmSpec(t, work, "w3", "no-such-command")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.d.Start(ctx, bad); err == nil || !strings.Contains(err.Error(), "no-such-command") {
		t.Errorf("start of a missing command: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", e.cfg.CgroupParent, "w3")); !os.IsNotExist(err) {
		t.Errorf("cgroup of the failed start left: %v", err)
	}

	// Close ends the spare and its warm container. (The failed start's
	// spare is a plain one: the next start takes it and a warm one follows.)
	e.start(t, warmSpec(t, work, "w4", "/bin/true"))
	e.start(t, warmSpec(t, work, "w5", "/bin/true"))
	warmReady(t, e.cfg.Root)
	e.d.Close()
	if m, _ := filepath.Glob(filepath.Join(e.cfg.Root, "warm", "*")); len(m) > 0 {
		t.Errorf("warm dirs left after Close: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", e.cfg.CgroupParent, "warm-*")); len(m) > 0 {
		t.Errorf("warm cgroups left after Close: %v", m)
	}
	if m := mountsUnder(filepath.Join(e.cfg.Root, "warm")); len(m) > 0 {
		t.Errorf("warm mounts left after Close: %v", m)
	}
}

// taskStatus is the signal, capability and no_new_privs lines of
// /proc/1/status of a command task in a container made for it (a gated
// start never takes a warm container).
func taskStatus(t *testing.T, e *env, work string) string {
	spec := warmSpec(t, work, "ref", "/bin/sh", "-c", `grep -E '^(SigBlk|SigIgn|SigCgt|Cap|NoNewPrivs)' /proc/1/status | tr '\n\t' '  '; echo; sleep 30`)
	spec.WaitBeforeExec = true
	c := e.start(t, spec)
	if err := c.OpenGate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out string
	containertest.Eventually(t, 30*time.Second, func() bool {
		out = containertest.ReadFile(sandboxFile(spec, "stdout"))
		return strings.HasSuffix(out, "\n")
	}, "no output from the reference task")
	return strings.TrimSpace(out)
}

func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// TestWarmContainerSwept: a warm container whose spare shim was killed
// (it cannot clean up) is removed by the next driver on the same root.
func TestWarmContainerSwept(t *testing.T) {
	e, work := warmEnv(t)
	e.start(t, warmSpec(t, work, "s1", "/bin/true"))
	stub := warmReady(t, e.cfg.Root)
	spare := spareShims(e.cfg.Root)
	if len(spare) != 1 {
		t.Fatalf("spare shims %v, want one", spare)
	}
	if err := unix.Kill(spare[0], unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The stub ends at end of file on its socket; orphaned, it is our
	// child (TestMain made this process a subreaper): reap it.
	containertest.Eventually(t, 30*time.Second, func() bool {
		var ws unix.WaitStatus
		got, err := unix.Wait4(stub, &ws, unix.WNOHANG, nil)
		return got == stub || err != nil
	}, "the stub outlived its shim")
	// The shim's lock goes with its last thread, maybe after the stub saw
	// end of file.
	locks, _ := filepath.Glob(filepath.Join(e.cfg.Root, "warm", "*", "lock"))
	if len(locks) != 1 {
		t.Fatalf("warm locks %v, want one", locks)
	}
	containertest.Eventually(t, 30*time.Second, func() bool {
		f, err := os.Open(locks[0])
		if err != nil {
			return false
		}
		defer f.Close()
		return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
	}, "the killed shim's lock is still held")
	d, err := container.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if m, _ := filepath.Glob(filepath.Join(e.cfg.Root, "warm", "*")); len(m) > 0 {
		t.Errorf("warm dirs left: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(e.cfg.Root, "runc", "warm-*")); len(m) > 0 {
		t.Errorf("warm container state left: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", e.cfg.CgroupParent, "warm-*")); len(m) > 0 {
		t.Errorf("warm cgroups left: %v", m)
	}
	if m := mountsUnder(e.cfg.Root); len(m) > 0 {
		t.Errorf("mounts left under the driver root: %v", m)
	}
}

// TestWarmContainerHiddenChanged: a path to hide that appeared after the
// warm container was made (a glob of --task-hidden-paths, a host secret)
// keeps the next task out of it: that task's container is made for it.
func TestWarmContainerHiddenChanged(t *testing.T) {
	secrets := t.TempDir()
	e, work := warmEnv(t, filepath.Join(secrets, "secret-*"))
	e.start(t, warmSpec(t, work, "h1", "/bin/true"))
	stub := warmReady(t, e.cfg.Root)
	if err := os.WriteFile(filepath.Join(secrets, "secret-1"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := e.start(t, warmSpec(t, work, "h2", "sleep", "30"))
	if c.Pid() == stub {
		t.Fatalf("the task took over a warm container made before %s/secret-1 was there to hide", secrets)
	}
	if st, err := c.Status(); err != nil || st != container.Running {
		t.Fatalf("status %v, %v", st, err)
	}
}

// TestWarmContainerWaitsForAFit: a task the warm container does not fit
// (here: one with a volume) gets a container of its own and leaves the
// warm one to the next task it fits.
func TestWarmContainerWaitsForAFit(t *testing.T) {
	e, work := warmEnv(t)
	e.start(t, warmSpec(t, work, "f1", "/bin/true"))
	stub := warmReady(t, e.cfg.Root)
	vol := warmSpec(t, work, "f2", "sleep", "30")
	vol.Mounts = []container.Mount{{Source: t.TempDir(), Destination: "/tmp/vol"}}
	if c := e.start(t, vol); c.Pid() == stub {
		t.Fatal("a task with a volume took over the warm container")
	}
	if got := warmReady(t, e.cfg.Root); got != stub {
		t.Fatalf("warm container %d, want the same %d still waiting", got, stub)
	}
	if c := e.start(t, warmSpec(t, work, "f3", "sleep", "30")); c.Pid() != stub {
		t.Fatalf("init pid %d, want the warm container's %d", c.Pid(), stub)
	}
}

// TestWarmContainerInTheWayEnded: a warm container still being made (no
// ready file yet) when a task it does not fit starts is ended, so that its
// making does not compete with that task's container; once nothing is
// starting it is made again, and the next task it fits takes it over.
func TestWarmContainerInTheWayEnded(t *testing.T) {
	e, work := warmEnv(t)
	e.start(t, warmSpec(t, work, "w1", "/bin/true"))
	stub := warmReady(t, e.cfg.Root)
	readies, _ := filepath.Glob(filepath.Join(e.cfg.Root, "warm", "*", "ready"))
	if len(readies) != 1 {
		t.Fatalf("ready files %v, want one", readies)
	}
	if err := os.Remove(readies[0]); err != nil { // as if still being made
		t.Fatal(err)
	}
	vol := warmSpec(t, work, "w2", "sleep", "30")
	vol.Mounts = []container.Mount{{Source: t.TempDir(), Destination: "/tmp/vol"}}
	if c := e.start(t, vol); c.Pid() == stub {
		t.Fatal("a task with a volume took over the warm container")
	}
	// Its shim killed, the stub is orphaned to this process (a subreaper).
	containertest.Eventually(t, 30*time.Second, func() bool {
		var ws unix.WaitStatus
		if got, _ := unix.Wait4(stub, &ws, unix.WNOHANG, nil); got == stub {
			return true
		}
		_, err := os.Stat(fmt.Sprintf("/proc/%d", stub))
		return err != nil
	}, "the warm container being made outlived the start of a task it does not fit")
	again := warmReady(t, e.cfg.Root)
	if again == stub {
		t.Fatalf("warm container %d, want a new one", again)
	}
	if c := e.start(t, warmSpec(t, work, "w3", "sleep", "30")); c.Pid() != again {
		t.Fatalf("init pid %d, want the new warm container's %d", c.Pid(), again)
	}
}

// TestWarmContainerUsers: tasks of two users taking turns each find a warm
// container made for their user; a third user's task gets one beside
// them, and a fourth's makes the least recent user's go.
func TestWarmContainerUsers(t *testing.T) {
	e, work := warmEnv(t)
	n := 0
	start := func(uid uint32) *container.Container {
		n++
		spec := warmSpec(t, work, fmt.Sprintf("u%d", n), "sleep", "30")
		spec.UID, spec.GID = uid, uid
		return e.start(t, spec)
	}
	// stubs waits until the warm containers' stubs run as exactly uids,
	// one each, and are made: the next start ends one still being made
	// when it finds none for its user (Driver.takeSpare), and the test's
	// later check would see that user's replaced.
	stubs := func(uids ...int) map[int]int {
		t.Helper()
		var got map[int]int
		containertest.Eventually(t, 30*time.Second, func() bool {
			got = warmStubsByUID(e.cfg.Root)
			if len(got) != len(uids) || len(warmStubs(e.cfg.Root)) != len(uids) || len(warmStubsOf(e.cfg.Root, true)) != len(uids) {
				return false
			}
			for _, u := range uids {
				if got[u] == 0 {
					return false
				}
			}
			return true
		}, fmt.Sprintf("warm containers for uids %v", uids))
		return got
	}
	start(0)
	root := stubs(0)[0]
	if c := start(65534); c.Pid() == root {
		t.Fatal("a task of another user took over root's warm container")
	}
	w := stubs(0, 65534)
	if w[0] != root {
		t.Fatalf("root's warm container %d replaced by %d", root, w[0])
	}
	if c := start(0); c.Pid() != w[0] {
		t.Fatalf("init pid %d, want root's warm container %d", c.Pid(), w[0])
	}
	w = stubs(0, 65534)
	if c := start(65534); c.Pid() != w[65534] {
		t.Fatalf("init pid %d, want nobody's warm container %d", c.Pid(), w[65534])
	}
	w = stubs(0, 65534)
	// A third user gets a warm container of its own beside them.
	if c := start(1234); c.Pid() == w[0] || c.Pid() == w[65534] {
		t.Fatal("a task of a third user took over another user's warm container")
	}
	w3 := stubs(0, 65534, 1234)
	if w3[65534] != w[65534] || w3[0] != w[0] {
		t.Fatalf("warm containers %v replaced: %v", w, w3)
	}
	// A fourth: root's, the least recent, makes way for its.
	if c := start(4321); c.Pid() == w3[0] || c.Pid() == w3[65534] || c.Pid() == w3[1234] {
		t.Fatal("a task of a fourth user took over another user's warm container")
	}
	w4 := stubs(65534, 1234, 4321)
	if w4[65534] != w3[65534] || w4[1234] != w3[1234] {
		t.Fatalf("warm containers %v replaced: %v", w3, w4)
	}
}

// warmStubsByUID are the pids of the warm containers' stubs by their uid
// (the owner of /proc/<pid> is the process's effective uid).
func warmStubsByUID(root string) map[int]int {
	out := map[int]int{}
	for _, pid := range warmStubs(root) {
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d", pid), &st) == nil {
			out[int(st.Uid)] = pid
		}
	}
	return out
}

// TestWarmContainerStubDied: a warm container whose stub died is not taken
// over: the task gets a container of its own and runs.
func TestWarmContainerStubDied(t *testing.T) {
	e, work := warmEnv(t)
	e.start(t, warmSpec(t, work, "d1", "/bin/true"))
	stub := warmReady(t, e.cfg.Root)
	if err := unix.Kill(stub, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Dead: a zombie (its spare shim does not reap it while it waits).
	containertest.Eventually(t, 30*time.Second, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", stub))
		return err != nil || strings.Contains(string(b), ") Z ")
	}, "the stub did not die")
	c := e.start(t, warmSpec(t, work, "d2", "sleep", "30"))
	if c.Pid() == stub {
		t.Fatal("the task was given the dead stub's container")
	}
	if st, err := c.Status(); err != nil || st != container.Running {
		t.Fatalf("status %v, %v", st, err)
	}
}
