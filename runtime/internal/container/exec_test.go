package container_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// execIn runs args in c with a generous deadline and fails the test on an
// error.
func execIn(t *testing.T, c *container.Container, s container.ExecSpec) (container.Exit, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, out, err := c.Exec(ctx, s)
	if err != nil {
		t.Fatalf("exec %q: %v (output %q)", s.Args, err, out)
	}
	return e, string(out)
}

// livePids is the set of processes, other than zombies, in the pid
// namespace of the given process (as seen from the host).
func livePids(t *testing.T, pid int) []int {
	t.Helper()
	ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if got, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err != nil || got != ns {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
			continue
		}
		pids = append(pids, p)
	}
	slices.Sort(pids)
	return pids
}

// A process exec'd into a running command task: its exit code and output,
// its environment and working directory, and the container's namespaces,
// cgroup and privileges (not the agent's).
func TestExec(t *testing.T) {
	e := newEnv(t)
	spec := e.spec(t, "exec", "", "/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done")
	spec.Env = []string{"TASKVAR=task"}
	c := e.start(t, spec)
	var before []int
	containertest.Eventually(t, time.Minute, func() bool {
		before = livePids(t, c.Pid())
		return len(before) == 2 // the shell and its sleep
	}, "task processes never settled: %v", lazyPids{&before})

	t.Run("exit code and output", func(t *testing.T) {
		ex, out := execIn(t, c, container.ExecSpec{Args: []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 7"}})
		if ex.Code != 7 || ex.Signal != 0 {
			t.Errorf("exit = %+v, want code 7", ex)
		}
		if !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
			t.Errorf("output = %q, want both streams", out)
		}
	})
	t.Run("environment and working directory", func(t *testing.T) {
		ex, out := execIn(t, c, container.ExecSpec{Args: []string{"sh", "-c", `echo "$(pwd) $TASKVAR $CHECKVAR"`}, Env: []string{"CHECKVAR=check"}})
		if want := spec.SandboxDir + "  check\n"; !ex.Success() || out != want {
			t.Errorf("exit %+v, output %q; want %q", ex, out, want)
		}
		_, out = execIn(t, c, container.ExecSpec{Args: []string{"sh", "-c", `echo "$TASKVAR"`}, Cwd: "/tmp"})
		if out != "task\n" {
			t.Errorf("without Env: output %q, want the container's environment", out)
		}
	})
	t.Run("in the container", func(t *testing.T) {
		// The exec'd process compares itself with the container's init
		// (pid 1 in its pid namespace): same namespaces, cgroup,
		// capabilities, no_new_privs and seccomp mode.
		script := `set -e
[ "$(readlink /proc/self/ns/pid)" = "$(readlink /proc/1/ns/pid)" ] && echo same-pidns
[ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ] && echo same-mntns
[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] && echo same-cgroup
for f in CapEff CapPrm CapBnd NoNewPrivs Seccomp Uid Gid; do
  [ "$(grep "^$f:" /proc/self/status)" = "$(grep "^$f:" /proc/1/status)" ] && echo same-$f
done
grep -E '^(CapEff|NoNewPrivs):' /proc/self/status
touch /tmp/exec-was-here && [ -e /tmp/exec-was-here ] && echo private-tmp`
		ex, out := execIn(t, c, container.ExecSpec{Args: []string{"/bin/sh", "-c", script}})
		if !ex.Success() {
			t.Fatalf("exit %+v, output %q", ex, out)
		}
		for _, want := range []string{"same-pidns", "same-mntns", "same-cgroup", "same-CapEff", "same-CapPrm", "same-CapBnd",
			"same-NoNewPrivs", "same-Seccomp", "same-Uid", "same-Gid", "NoNewPrivs:\t1", "private-tmp"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		host, _ := os.ReadFile("/proc/self/status")
		for _, line := range strings.Split(string(host), "\n") {
			if strings.HasPrefix(line, "CapEff:") && strings.Contains(out, line+"\n") {
				t.Errorf("exec'd process has the agent's capabilities: %s", line)
			}
		}
		if _, err := os.Stat("/tmp/exec-was-here"); err == nil {
			os.Remove("/tmp/exec-was-here")
			t.Errorf("the exec'd process wrote the host's /tmp")
		}
		// The container's pid namespace: its pids are small, and the
		// process is not in ours.
		_, out = execIn(t, c, container.ExecSpec{Args: []string{"/bin/sh", "-c", "echo $$"}})
		if pid, err := strconv.Atoi(strings.TrimSpace(out)); err != nil || pid > 100 {
			t.Errorf("exec'd pid %q: want a small pid in the container's namespace", out)
		}
	})
	t.Run("escapes fail", func(t *testing.T) {
		for _, cmd := range []string{
			"mount -t tmpfs none /mnt",
			"mount -o remount,rw /etc",
			"touch /etc/nodectl-exec-probe",
			"mkdir -p /tmp/m && mount -t tmpfs none /tmp/m",
		} {
			ex, out := execIn(t, c, container.ExecSpec{Args: []string{"/bin/sh", "-c", cmd}})
			if ex.Success() {
				t.Errorf("%q succeeded in the container: %q", cmd, out)
			}
		}
		if _, err := os.Stat("/etc/nodectl-exec-probe"); err == nil {
			os.Remove("/etc/nodectl-exec-probe")
			t.Errorf("the exec'd process wrote the host's /etc")
		}
	})
	t.Run("output keeps the tail", func(t *testing.T) {
		_, out := execIn(t, c, container.ExecSpec{Args: []string{"/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done; echo END"}})
		if len(out) != container.ExecOutputLimit || !strings.HasSuffix(out, "0123456789\nEND\n") {
			t.Errorf("output: %d bytes ending %q; want the last %d", len(out), out[max(0, len(out)-20):], container.ExecOutputLimit)
		}
	})
	t.Run("leaves nothing behind", func(t *testing.T) {
		ex, _ := execIn(t, c, container.ExecSpec{Args: []string{"/bin/sh", "-c", "sleep 3600 & sleep 3600 & exit 0"}})
		if !ex.Success() {
			t.Errorf("exit %+v", ex)
		}
		var now []int
		containertest.Eventually(t, time.Minute, func() bool {
			now = livePids(t, c.Pid())
			return slices.Equal(now, before)
		}, "processes in the container after exec: %v, before: %v", lazyPids{&now}, before)
	})
	t.Run("timeout kills", func(t *testing.T) {
		// The deadline comes once the process runs (it leaves a mark in
		// the sandbox), as a check's timeout would.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mark := filepath.Join(spec.SandboxDir, "exec-started")
		go func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for range tick.C {
				if _, err := os.Stat(mark); err == nil {
					cancel()
					return
				}
				if ctx.Err() != nil {
					return
				}
			}
		}()
		ex, out, err := c.Exec(ctx, container.ExecSpec{Args: []string{"/bin/sh", "-c", "sleep 3600 & echo started; touch exec-started; sleep 3600"}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want the context's end", err)
		}
		if ex.Signal != 9 || ex.Code != 137 {
			t.Errorf("exit %+v, want killed by SIGKILL", ex)
		}
		if string(out) != "started\n" {
			t.Errorf("output %q", out)
		}
		var now []int
		containertest.Eventually(t, time.Minute, func() bool {
			now = livePids(t, c.Pid())
			return slices.Equal(now, before)
		}, "processes in the container after a timed out exec: %v, before: %v", lazyPids{&now}, before)
	})
	t.Run("bad requests", func(t *testing.T) {
		ctx := context.Background()
		if _, _, err := c.Exec(ctx, container.ExecSpec{}); !errors.Is(err, container.ErrInvalidSpec) {
			t.Errorf("empty args: %v", err)
		}
		ex, _, err := c.Exec(ctx, container.ExecSpec{Args: []string{"/no/such/binary"}})
		if err == nil && ex.Success() {
			t.Errorf("a missing binary succeeded")
		}
	})
	if got := livePids(t, c.Pid()); !slices.Equal(got, before) {
		t.Errorf("task processes changed: %v, before %v", got, before)
	}
	if st, err := c.Status(); err != nil || st != container.Running {
		t.Errorf("task status after the execs: %v %v", st, err)
	}
}

// The exec'd process runs as the container's user, and that user's limits
// hold: no root files, no capabilities.
func TestExecAsTaskUser(t *testing.T) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	// MkdirTemp made it 0700: let the task's user reach /bin.
	if err := os.Chmod(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := e.spec(t, "execuser", rootfs, "sleep", "3600")
	spec.UID, spec.GID = 65534, 65534
	if err := os.Chown(spec.SandboxDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec.SandboxDir, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := e.start(t, spec)
	ex, out := execIn(t, c, container.ExecSpec{Args: []string{"sh", "-c", `grep -E '^(Uid|Gid|CapEff|NoNewPrivs):' /proc/self/status; cat secret && echo read-secret; touch own && echo wrote-sandbox`}})
	if !ex.Success() {
		t.Fatalf("exit %+v, output %q", ex, out)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "NoNewPrivs:\t1", "wrote-sandbox"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "read-secret") {
		t.Errorf("uid 65534 read a root-only file:\n%s", out)
	}
}

// Nothing can be exec'd in a container that has exited.
func TestExecNotRunning(t *testing.T) {
	e := newEnv(t)
	spec := e.spec(t, "execdone", "", "/bin/true")
	c := e.start(t, spec)
	wait(t, c)
	if _, _, err := c.Exec(context.Background(), container.ExecSpec{Args: []string{"/bin/true"}}); !errors.Is(err, container.ErrNotRunning) {
		t.Fatalf("exec in an exited container: %v, want ErrNotRunning", err)
	}
}

// lazyPids prints *p when the failure message is printed.
type lazyPids struct{ p *[]int }

func (l lazyPids) String() string { return fmt.Sprint(*l.p) }
