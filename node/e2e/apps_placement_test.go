package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// appAgent starts an agent process with its own hostname for master m.
func appAgent(t *testing.T, m node, hostname string) (*proc, node) {
	t.Helper()
	a := newNode(t)
	p := start(t, a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms",
		"--hostname", hostname, "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")...)
	return p, a
}

// One master, two agents (hosts host-a and host-b): instances without
// constraints spread evenly; when an agent goes silent its tasks become
// unreachable, an app with inactiveAfterSeconds 1 gets a replacement on
// the other host, and an app with unreachableStrategy "disabled" waits.
func TestAppsSpreadAndUnreachable(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m := newNode(t)
	start(t, m.args("master", "--agent-ping-timeout", "500ms", "--max-agent-ping-timeouts", "4")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	agents := map[string]*proc{}
	agents["host-a"], _ = appAgent(t, m, "host-a")
	agents["host-b"], _ = appAgent(t, m, "host-b")
	waitFor(t, 30*time.Second, "two agents active", func() bool {
		s := slaves(t, m.url())
		return len(s) == 2 && s[0].Active && s[1].Active
	})

	appMust(t, m, "POST", "/v2/apps", `{"id": "/e2e/spread", "cmd": "sleep `+appMark(6021)+`", "instances": 4, "cpus": 0.05, "mem": 16}`, 201)
	appWaitRunning(t, m, "/e2e/spread", 4, false, 30*time.Second)
	perHost := map[string]int{}
	for _, tk := range appTasks(m, "/e2e/spread") {
		perHost[tk.Host]++
	}
	if perHost["host-a"] != 2 || perHost["host-b"] != 2 {
		t.Errorf("4 instances placed %v, want 2 per host", perHost)
	}

	appMust(t, m, "POST", "/v2/apps", `{"id": "/e2e/away", "cmd": "sleep `+appMark(6022)+`", "cpus": 0.05, "mem": 16,
		"unreachableStrategy": {"inactiveAfterSeconds": 1, "expungeAfterSeconds": 3600}}`, 201)
	appWaitRunning(t, m, "/e2e/away", 1, false, 30*time.Second)
	first := appTasks(m, "/e2e/away")[0]
	lost, other := first.Host, "host-a"
	if lost == "host-a" {
		other = "host-b"
	}
	appMust(t, m, "POST", "/v2/apps", fmt.Sprintf(`{"id": "/e2e/stay", "cmd": "sleep `+appMark(6023)+`", "cpus": 0.05, "mem": 16,
		"constraints": [["hostname", "CLUSTER", %q]], "unreachableStrategy": "disabled"}`, lost), 201)
	appWaitRunning(t, m, "/e2e/stay", 1, false, 30*time.Second)
	stay := appTaskIDs(m, "/e2e/stay")

	// The agent freezes (its containers keep running): the master marks
	// it unreachable after 4 missed 500 ms pings.
	frozen := agents[lost]
	if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = frozen.cmd.Process.Signal(syscall.SIGCONT) })
	waitFor(t, 30*time.Second, "a replacement of /e2e/away running on "+other, func() bool {
		for _, tk := range appTasks(m, "/e2e/away") {
			if tk.ID != first.ID && tk.Host == other && tk.State == "TASK_RUNNING" {
				return true
			}
		}
		return false
	})
	states := map[string]string{}
	for _, tk := range appTasks(m, "/e2e/away") {
		states[tk.ID] = tk.State
	}
	if states[first.ID] != "TASK_UNREACHABLE" {
		t.Errorf("the frozen host's task is %q, want TASK_UNREACHABLE (tasks %v)", states[first.ID], states)
	}
	tk := appTasks(m, "/e2e/stay")
	if len(tk) != 1 || tk[0].ID != stay[0] || tk[0].State != "TASK_UNREACHABLE" {
		t.Errorf("/e2e/stay (disabled) tasks %+v, want only %s, unreachable", tk, stay[0])
	}
	if q, _ := appGet(m, "/e2e/stay"); q.TasksRunning != 0 || q.TasksStaged != 0 {
		t.Errorf("/e2e/stay launched a replacement: %+v", q)
	}

	// The agent thaws and registers again: the waiting task is running
	// again under its id; /e2e/away has one instance too many, and the
	// youngest (the replacement) goes.
	if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "/e2e/stay's task running again", func() bool {
		tk := appTasks(m, "/e2e/stay")
		return len(tk) == 1 && tk[0].ID == stay[0] && tk[0].State == "TASK_RUNNING"
	})
	waitFor(t, 30*time.Second, "/e2e/away back to its original task", func() bool {
		tk := appTasks(m, "/e2e/away")
		return len(tk) == 1 && tk[0].ID == first.ID && tk[0].State == "TASK_RUNNING"
	})
}
