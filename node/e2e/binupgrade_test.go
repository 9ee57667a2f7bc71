package e2e

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// installCopy puts a copy of src at dst the way an upgrade does (and
// `nodectl install --systemd`): a new file renamed over the old one, so
// a node running the old file keeps it until it restarts.
func installCopy(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// The in-place upgrade of the binary of docs/install.md: a --role=all
// node runs from an installed copy of nodectl; the file is replaced by
// another copy, the node gets SIGTERM (what `systemctl restart` sends
// with KillMode=process) and starts from the new file. Agent recovery
// keeps the app's task: RUNNING, same task id, same process, no status
// update after the restart but RUNNING ones of that task.
func TestBinaryUpgradeInPlace(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	installed := filepath.Join(t.TempDir(), "nodectl")
	installCopy(t, bin, installed)
	old, err := os.Stat(installed)
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t)
	args := n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;"+hostPorts())
	p := startCmd(t, exec.Command(installed, args...), args)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })

	cmdline := "sleep " + appMark(7631)
	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/upgraded", "cmd": "`+cmdline+`", "cpus": 0.05, "mem": 16}`, 201)
	appWaitRunning(t, n, "/e2e/upgraded", 1, false, 30*time.Second)
	tasks := appTaskIDs(n, "/e2e/upgraded")
	var pids []int
	waitFor(t, 10*time.Second, "the task's process", func() bool { pids = pidsOf(cmdline); return len(pids) == 1 })

	// The upgrade: a new file, then a restart of the node.
	installCopy(t, bin, installed)
	if now, err := os.Stat(installed); err != nil || os.SameFile(old, now) {
		t.Fatalf("the binary was not replaced by a new file (%v)", err)
	}
	p.kill(syscall.SIGTERM)
	if !alive(pids[0]) {
		t.Fatal("the task died with the node")
	}
	np := startCmd(t, exec.Command(installed, args...), args)
	restarted := time.Now()
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(np.cmd.Process.Pid) + "/exe"); err != nil || exe != installed {
		t.Errorf("the restarted node runs %q (%v), want the new %s", exe, err, installed)
	}
	waitFor(t, 60*time.Second, "agent recovered", func() bool { return metric(n.agentURL(), "slave/recovered") == 1 })
	t.Logf("restart on the new binary to agent recovered: %s", time.Since(restarted).Round(time.Millisecond))
	ev := appEvents(t, n)
	appWaitRunning(t, n, "/e2e/upgraded", 1, false, 30*time.Second)
	if got := appTaskIDs(n, "/e2e/upgraded"); !slices.Equal(got, tasks) {
		t.Errorf("tasks after the upgrade %v, want %v", got, tasks)
	}
	if got := pidsOf(cmdline); !slices.Equal(got, pids) {
		t.Errorf("task processes after the upgrade %v, want the original %v", got, pids)
	}
	if a, ok := appGet(n, "/e2e/upgraded"); !ok || a.LastTaskFailure != nil {
		t.Errorf("app after the upgrade: %+v (ok %v), want no task failure", a, ok)
	}
	// Past the new leader's reconciliation grace (5 s): no task ended, none
	// was launched.
	waitFor(t, 30*time.Second, "the reconciliation window over, without relaunches", func() bool {
		for _, e := range ev.of("status_update_event") {
			if !slices.Contains(tasks, e.str("taskId")) || e.str("taskStatus") != "TASK_RUNNING" {
				t.Fatalf("after the upgrade: %s %s", e.str("taskId"), e.str("taskStatus"))
			}
		}
		return time.Since(restarted) > 8*time.Second
	})
}
