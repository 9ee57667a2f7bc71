package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pidsOf lists processes whose command line is exactly cmdline.
func pidsOf(cmdline string) []int {
	out, _ := exec.Command("pgrep", "-x", "-f", cmdline).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// taskState is the state the master reports for the task named name.
func taskState(url, name string) string {
	var st struct {
		Frameworks []struct {
			Tasks          []struct{ Name, State string } `json:"tasks"`
			CompletedTasks []struct{ Name, State string } `json:"completed_tasks"`
		} `json:"frameworks"`
	}
	if getJSON(url+"/state", &st) != nil {
		return ""
	}
	for _, f := range st.Frameworks {
		for _, t := range append(f.Tasks, f.CompletedTasks...) {
			if t.Name == name {
				return t.State
			}
		}
	}
	return ""
}

func metric(url, name string) float64 {
	var m map[string]float64
	if getJSON(url+"/metrics/snapshot", &m) != nil {
		return -1
	}
	return m[name]
}

// sleeper launches a detached checkpointed `sleep N` task with a unique N
// and returns N's command line and the task's container pid.
func sleeper(t *testing.T, master int, name string, extra ...string) (string, int) {
	t.Helper()
	secs := 5000 + rand.IntN(4000)
	cmdline := fmt.Sprintf("sleep %d", secs)
	args := append([]string{"--name", name, "--checkpoint", "--detach"}, extra...)
	out, code := execute(t, master, append(args, "--", "sleep", strconv.Itoa(secs))...)
	if code != 0 {
		t.Fatalf("execute %s: exit %d\n%s", name, code, out)
	}
	var pids []int
	waitFor(t, 30*time.Second, "task process", func() bool { pids = pidsOf(cmdline); return len(pids) == 1 })
	t.Cleanup(func() {
		for _, p := range pidsOf(cmdline) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})
	return cmdline, pids[0]
}

// kill -9 of a whole --role=all node: the task keeps running, and after the
// restart it is RUNNING under the same id and container, not relaunched.
func TestKill9ReattachesRunningTask(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	args := n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	cmdline, pid := sleeper(t, n.port, "survivor")

	p.kill(syscall.SIGKILL)
	if !alive(pid) {
		t.Fatal("the task died with the agent")
	}
	restarted := time.Now()
	start(t, args...)
	waitFor(t, 30*time.Second, "task RUNNING after restart", func() bool { return taskState(n.url(), "survivor") == "TASK_RUNNING" })
	t.Logf("restart to RUNNING: %s", time.Since(restarted).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "agent recovered", func() bool {
		return metric(n.agentURL(), "slave/recovered") == 1
	})
	if pids := pidsOf(cmdline); len(pids) != 1 || pids[0] != pid {
		t.Errorf("task processes after restart %v, want the original %d only", pids, pid)
	}
}

// A separate agent: a task that finishes while the agent is down is
// reported FINISHED after the restart; a simulated reboot ends tasks as
// lost; --recover=cleanup kills old containers and exits.
func TestAgentRestartCases(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m := newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	a := newNode(t)
	agentArgs := a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms",
		"--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")
	ag := start(t, agentArgs...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })

	// Finishes while the agent is down. (Command tasks have a private /tmp,
	// so the task ends by itself rather than on a marker file.)
	nap := fmt.Sprintf("1.%03d", rand.IntN(1000))
	out, code := execute(t, m.port, "--name", "finisher", "--checkpoint", "--detach", "--", "sh", "-c", "sleep "+nap+"; exit 0")
	if code != 0 {
		t.Fatalf("execute finisher: %d\n%s", code, out)
	}
	waitFor(t, 30*time.Second, "finisher running", func() bool { return taskState(m.url(), "finisher") == "TASK_RUNNING" })
	ag.kill(syscall.SIGKILL)
	waitFor(t, 30*time.Second, "finisher exited while the agent is down", func() bool { return len(pidsOf("sleep "+nap)) == 0 })
	ag = start(t, agentArgs...)
	waitFor(t, 30*time.Second, "finisher FINISHED after restart", func() bool { return taskState(m.url(), "finisher") == "TASK_FINISHED" })

	// A reboot (another boot id): the old task ends, the agent comes back.
	_, pid := sleeper(t, m.port, "rebooted")
	ag.kill(syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL) // a reboot takes the containers with it
	ag = start(t, append(agentArgs, "--boot-id", "simulated-reboot")...)
	waitFor(t, 30*time.Second, "task ended after the reboot", func() bool {
		s := taskState(m.url(), "rebooted")
		return s == "TASK_LOST" || s == "TASK_GONE" || s == "TASK_FAILED"
	})
	waitFor(t, 30*time.Second, "agent active after the reboot", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })

	// --recover=cleanup kills the old containers and exits 0.
	cmdline, pid := sleeper(t, m.port, "cleaned")
	ag.kill(syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cleanup := exec.CommandContext(ctx, bin, append(agentArgs, "--boot-id", "simulated-reboot", "--recover=cleanup")...)
	done := make(chan error, 1)
	go func() { _, err := cleanup.CombinedOutput(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("--recover=cleanup: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cleanup.Process.Kill()
		t.Fatal("--recover=cleanup did not exit")
	}
	waitFor(t, 10*time.Second, "cleaned task process gone", func() bool { return !alive(pid) || len(pidsOf(cmdline)) == 0 })
}

// A corrupted checkpoint is fatal with a clear message under --strict and
// skipped under --no-strict.
func TestCorruptCheckpoint(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	args := n.args("all")
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	waitFor(t, 30*time.Second, "agent id checkpointed", func() bool {
		var st struct{ ID string }
		return getJSON(n.agentURL()+"/state", &st) == nil && st.ID != ""
	})
	p.kill(syscall.SIGTERM) // a clean stop folds the WAL into the database file
	db := filepath.Join(n.dir, "meta", "agent.db")
	st, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.Truncate(db, st.Size()/2))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("strict start on a corrupt checkpoint: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "agent.db") {
		t.Errorf("the error does not name the checkpoint file:\n%s", out)
	}
	start(t, append(args, "--no-strict")...)
	waitFor(t, 30*time.Second, "agent active under --no-strict", func() bool { s := slaves(t, n.url()); return len(s) >= 1 && s[0].Active })
}

// An agent the operator marks gone is fenced: its running task is killed,
// never re-adopted, and the agent registers again under a new id.
func TestGoneAgentIsFenced(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m := newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	a := newNode(t)
	start(t, a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms",
		"--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })
	old := slaves(t, m.url())[0].ID
	cmdline, pid := sleeper(t, m.port, "fenced")

	resp, err := http.Post(m.url()+"/master/agents/"+old+"/gone", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mark gone: %s", resp.Status)
	}
	waitFor(t, 30*time.Second, "the fenced task's process killed", func() bool { return !running(pid) })
	waitFor(t, 30*time.Second, "the agent back under a new id", func() bool {
		for _, s := range slaves(t, m.url()) {
			if s.ID != old && s.Active {
				return true
			}
		}
		return false
	})
	if st := taskState(m.url(), "fenced"); st == "TASK_RUNNING" {
		t.Errorf("the fenced task is still RUNNING in the master")
	}
	if n := len(pidsOf(cmdline)); n != 0 {
		t.Errorf("%d copies of the fenced task still run", n)
	}
}

// An emptied agent.db next to a previous agent's sandboxes and containers
// is fatal under --strict, naming the file and the ways out, and the
// running task survives; --no-strict starts afresh and counts the error.
func TestEmptyCheckpoint(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	args := n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	cmdline, pid := sleeper(t, n.port, "kept")
	p.kill(syscall.SIGTERM) // a clean stop folds the WAL into the database file; the task runs on
	db := filepath.Join(n.dir, "meta", "agent.db")
	must(t, os.Truncate(db, 0))
	for _, f := range []string{db + "-wal", db + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("strict start on an empty checkpoint: %v\n%s", err, out)
	}
	for _, want := range []string{db, "missing or empty", "--no-strict"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the error does not say %q:\n%s", want, out)
		}
	}
	if pids := pidsOf(cmdline); !alive(pid) || len(pids) != 1 || pids[0] != pid {
		t.Fatalf("the strict start touched the running task: processes %v, want %d", pids, pid)
	}

	start(t, append(args, "--no-strict")...)
	waitFor(t, 30*time.Second, "agent recovered under --no-strict", func() bool { return metric(n.agentURL(), "slave/recovered") == 1 })
	if got := metric(n.agentURL(), "slave/recovery_errors"); got != 1 {
		t.Errorf("slave/recovery_errors = %v, want 1", got)
	}
}

// Recovery that overruns --recovery_timeout kills the task waiting to be
// reattached and reports it TASK_FAILED with
// REASON_EXECUTOR_REREGISTRATION_TIMEOUT. (1ns: any recovery overruns it.)
func TestRecoveryTimeout(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	args := n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	cmdline, pid := sleeper(t, n.port, "late")
	p.kill(syscall.SIGKILL)
	if !alive(pid) {
		t.Fatal("the task died with the agent")
	}
	logDir := t.TempDir()
	start(t, append(args, "--recovery_timeout", "1ns", "--log-dir", logDir)...)
	waitFor(t, 30*time.Second, "the late task's process killed", func() bool { return !running(pid) })
	waitFor(t, 30*time.Second, "the late task reported failed", func() bool { return taskState(n.url(), "late") == "TASK_FAILED" })
	// The master's /state, like Mesos', shows no reasons; the agent log does.
	waitFor(t, 30*time.Second, "the reason in the agent log", func() bool {
		b, _ := os.ReadFile(filepath.Join(logDir, "nodectl-agent.log"))
		return strings.Contains(string(b), `msg="task TASK_FAILED"`) && strings.Contains(string(b), "reason=REASON_EXECUTOR_REREGISTRATION_TIMEOUT") &&
			strings.Contains(string(b), "recovery overran --recovery_timeout")
	})
	if pids := pidsOf(cmdline); len(pids) != 0 {
		t.Errorf("the timed-out task still runs: %v", pids)
	}
}
