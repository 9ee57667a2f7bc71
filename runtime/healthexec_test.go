package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container/containertest"
)

// runningTask launches cmd as a command task and waits until it runs in its
// container.
func runningTask(t *testing.T, a *Agent, ctx context.Context, msg *api.AgentMessage) *task {
	t.Helper()
	id := msg.Launch.Task.TaskID.Value
	a.dispatch(ctx, msg)
	var tk *task
	waitOrEnded(t, a, id, func() bool {
		tk = a.tasks.get("fw", id)
		if tk == nil {
			return false
		}
		a.tasks.mu.Lock()
		defer a.tasks.mu.Unlock()
		return tk.ctr != nil && tk.state == api.TaskRunning
	})
	return tk
}

// pidsInNamespace counts the live (not zombie) processes in pid's pid
// namespace.
func pidsInNamespace(t *testing.T, pid int) int {
	t.Helper()
	ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if got, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err != nil || got != ns {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := bytes.LastIndexByte(st, ')'); err == nil && i > 0 && len(st) > i+2 && st[i+2] != 'Z' {
			n++
		}
	}
	return n
}

// COMMAND health checks run inside the task's container, with the task's
// cgroup, namespaces and privileges: what the task cannot do, its check
// cannot either (issue 15: a check used to mount a tmpfs and write the
// host's /etc as root on the host).
func TestCommandHealthCheckInContainer(t *testing.T) {
	a, ctx := killTestAgent(t)
	probe := "/etc/nodectl-check-probe-" + sanitizeName(t.Name())
	t.Cleanup(func() { os.Remove(probe) })
	// The task records what it may do itself, for comparison.
	tk := runningTask(t, a, ctx, launchMessage("checked",
		`if cat /etc/shadow >/dev/null 2>&1; then touch shadow-readable; fi; touch started; exec sleep 1000`, ""))
	containertest.Eventually(t, time.Minute, func() bool {
		_, err := os.Stat(filepath.Join(tk.sandbox, "started"))
		return err == nil
	}, "the task never started")
	a.tasks.mu.Lock()
	initPid := tk.ctr.Pid()
	a.tasks.mu.Unlock()
	// Once the shell has exec'd sleep, the task is that one process.
	containertest.Eventually(t, time.Minute, func() bool {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(initPid) + "/comm")
		return string(comm) == "sleep\n" && pidsInNamespace(t, initPid) == 1
	}, "the task never became one sleep process: %s", lazy(func() string { return procInfo(initPid) }))

	check := func(cmd string) error {
		hc := &api.HealthCheck{Type: "COMMAND", Command: &api.CommandInfo{Value: cmd}}
		return a.probe(ctx, tk, hc, time.Minute)
	}
	healthy := map[string]string{
		"the task's environment":   `test "$MESOS_TASK_ID" = checked && test "$MESOS_SANDBOX" = "$PWD"`,
		"the task's pid namespace": `test "$(readlink /proc/self/ns/pid)" = "$(readlink /proc/1/ns/pid)"`,
		"the task's cgroup":        `test "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)"`,
		"no_new_privs":             `grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/self/status`,
		"the task's capabilities":  `test "$(grep ^CapEff: /proc/self/status)" = "$(grep ^CapEff: /proc/1/status)"`,
		"the task's seccomp mode":  `test "$(grep ^Seccomp: /proc/self/status)" = "$(grep ^Seccomp: /proc/1/status)"`,
		"the task's user":          `test "$(grep ^Uid: /proc/self/status)" = "$(grep ^Uid: /proc/1/status)"`,
	}
	for name, cmd := range healthy {
		t.Run("runs with "+name, func(t *testing.T) {
			if err := check(cmd); err != nil {
				t.Errorf("%s: %v", cmd, err)
			}
		})
	}
	host, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(host), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			if err := check(`! grep -q '^CapEff:[[:space:]]*` + strings.TrimSpace(v) + `$' /proc/self/status`); err != nil {
				t.Errorf("the check has the agent's capabilities (%s): %v", line, err)
			}
		}
	}
	escapes := map[string]string{
		"mount a tmpfs":       "mount -t tmpfs none /mnt",
		"remount /etc rw":     "mount -o remount,rw /etc",
		"write the host /etc": "echo x > " + probe,
	}
	for name, cmd := range escapes {
		t.Run("cannot "+name, func(t *testing.T) {
			// It ran in the container and failed there.
			if err := check(cmd); err == nil || !strings.Contains(err.Error(), "command check: exit code") {
				t.Errorf("%q: %v, want it to run and fail", cmd, err)
			}
		})
	}
	// Whatever the check sees at the work dir's path (here a directory of
	// the task's private /tmp), the host's work dir is not written.
	_ = check("touch " + filepath.Join(a.cfg.WorkDir, "check-was-here"))
	if _, err := os.Stat(probe); err == nil {
		t.Errorf("a check wrote the host's %s", probe)
	}
	if _, err := os.Stat(filepath.Join(a.cfg.WorkDir, "check-was-here")); err == nil {
		t.Errorf("a check wrote the node's work dir")
	}
	t.Run("reads /etc/shadow only if the task can", func(t *testing.T) {
		_, err := os.Stat(filepath.Join(tk.sandbox, "shadow-readable"))
		taskCan := err == nil
		checkCan := check("cat /etc/shadow") == nil
		if checkCan != taskCan {
			t.Errorf("the check can read /etc/shadow: %v, the task: %v", checkCan, taskCan)
		}
		if taskCan {
			t.Log("the task itself still reads /etc/shadow (issue 15 points 1 and 2 hide it)")
		}
	})
	t.Run("timeout kills the check and what it started", func(t *testing.T) {
		hc := &api.HealthCheck{Type: "COMMAND", Command: &api.CommandInfo{Value: "sleep 1000 & sleep 1000"}}
		// The timeout decides nothing here: the check never ends by itself.
		err := a.probe(ctx, tk, hc, 200*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("probe: %v, want a timeout", err)
		}
		var n int
		containertest.Eventually(t, time.Minute, func() bool {
			n = pidsInNamespace(t, initPid)
			return n == 1
		}, "%v processes in the task's container after the check, want the task's one", lazy(func() string { return strconv.Itoa(n) }))
	})
}

// A task's COMMAND health check that tries to escape makes it unhealthy; one
// that passes inside the container makes it healthy.
func TestCommandHealthCheckReported(t *testing.T) {
	a, ctx := killTestAgent(t)
	for _, tc := range []struct {
		id, cmd string
		healthy bool
	}{
		{"healthy", `test -d "$MESOS_SANDBOX" && grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/self/status`, true},
		{"mounts", "mount -t tmpfs none /mnt", false},
	} {
		msg := launchMessage(tc.id, "sleep 1000", "")
		msg.Launch.Task.HealthCheck = &api.HealthCheck{Type: "COMMAND", Command: &api.CommandInfo{Value: tc.cmd},
			DelaySeconds: 0.01, IntervalSeconds: 0.2, GracePeriodSeconds: 0.01, ConsecutiveFailures: 1000}
		a.dispatch(ctx, msg)
		var got *api.TaskStatus
		waitOrEnded(t, a, tc.id, func() bool {
			for _, st := range taskStatuses(a, tc.id) {
				if st.Healthy != nil {
					got = &st
					return true
				}
			}
			return false
		})
		if *got.Healthy != tc.healthy || got.State != api.TaskRunning {
			t.Errorf("%s: first health update %s healthy=%v (%q), want healthy=%v", tc.id, got.State, *got.Healthy, got.Message, tc.healthy)
		}
	}
}

func procInfo(pid int) string {
	p := "/proc/" + strconv.Itoa(pid)
	ns, err := os.Readlink(p + "/ns/pid")
	st, _ := os.ReadFile(p + "/stat")
	return fmt.Sprintf("ns %s %v stat %s", ns, err, st)
}

// lazy is a failure message argument computed when the message is printed.
type lazy func() string

func (l lazy) String() string { return l() }
