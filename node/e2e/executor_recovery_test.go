package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// buildRecExec builds the test's own custom executor (testdata/recexec,
// on mesos-go's executor library): it keeps its task RUNNING until the
// task is killed and re-subscribes as the library's example does.
func buildRecExec(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "recexec")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/recexec")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build recexec: %v\n%s", err, b)
	}
	return out
}

// procsIn lists processes whose working directory is a run sandbox of
// executor id under dir.
func procsIn(dir, id string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, dir+"/") && strings.Contains(cwd, "/executors/"+id+"/runs/") {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// nextUpdate waits for the framework's next update of task id,
// acknowledging every update it sees.
func nextUpdate(t *testing.T, c *schedClient, id string) api.TaskStatus {
	t.Helper()
	deadline := time.After(2 * time.Minute) // bounds a hang only
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("the scheduler's stream ended waiting for an update of %s", id)
			}
			if ev.Type == api.EventError && ev.Error != nil {
				t.Fatalf("framework error: %s", ev.Error.Message)
			}
			if ev.Type != api.EventUpdate || ev.Update == nil {
				continue
			}
			st := ev.Update.Status
			if err := c.acknowledge(st); err != nil {
				t.Fatalf("acknowledge: %v", err)
			}
			if st.TaskID.Value == id {
				return st
			}
		case <-deadline:
			t.Fatalf("no update of %s", id)
		}
	}
}

// A custom executor survives kill -9 of its --role=all node: the
// restarted agent listens on the executor API's previous port, rebuilds
// the executor from its checkpoint (not as a command task's container),
// and the executor (same process) re-subscribes; its task stays
// TASK_RUNNING in the master, a KILL then reaches it and it ends
// TASK_KILLED, the executor exits and nothing of it is left.
func TestExecutorRecovery(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	execBin := buildRecExec(t)
	n := newNode(t)
	logDir := t.TempDir()
	args := n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]", "--log-dir", logDir)
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	info := api.FrameworkInfo{User: "root", Name: "execrec", Checkpoint: true, FailoverTimeout: 3600}
	c, err := subscribe(ctx, n.url(), info)
	if err != nil {
		t.Fatal(err)
	}
	// An offer can be rescinded between its arrival and our ACCEPT (the
	// agent reports a host port another test's process took): the task is
	// then LOST with "no longer valid", and the next offer is taken.
	taskID := ""
	for attempt := 0; taskID == ""; attempt++ {
		if attempt == 5 {
			t.Fatal("five offers in a row were no longer valid")
		}
		id := "keeper"
		if attempt > 0 {
			id = fmt.Sprintf("keeper-%d", attempt)
		}
		launched := false
		for !launched {
			select {
			case ev, ok := <-c.events:
				if !ok {
					t.Fatal("the scheduler's stream ended before an offer")
				}
				if ev.Type != api.EventOffers || ev.Offers == nil || len(ev.Offers.Offers) == 0 {
					continue
				}
				o := ev.Offers.Offers[0]
				ti := api.TaskInfo{Name: id, TaskID: api.ID{Value: id}, AgentID: o.AgentID,
					Resources: mustResources(t, "cpus:0.1;mem:32"),
					Executor: &api.ExecutorInfo{Type: api.ExecutorTypeCustom, ExecutorID: api.ID{Value: "recexec"}, Name: "recexec",
						Command:   &api.CommandInfo{Value: "exec ./recexec", URIs: []api.CommandURI{{Value: execBin, Executable: true}}},
						Resources: mustResources(t, "cpus:0.1;mem:64")}}
				must(t, c.call(api.Call{Type: api.CallAccept, Accept: &api.AcceptCall{OfferIDs: []api.ID{o.ID},
					Operations: []api.Operation{{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: []api.TaskInfo{ti}}}}}}))
				launched = true
			case <-time.After(time.Minute): // bounds a hang only
				t.Fatal("no offer")
			}
		}
		switch st := nextUpdate(t, c, id); {
		case st.State == api.TaskRunning:
			taskID = id
		case st.State == api.TaskLost && strings.Contains(st.Message, "no longer valid"):
			t.Logf("attempt %d: %s", attempt, st.Message)
		default:
			t.Fatalf("first update: %s %s", st.State, st.Message)
		}
	}
	fw := c.fw
	sandboxes := filepath.Join(n.dir, "slaves")
	var pids []int
	waitFor(t, 30*time.Second, "the executor's process", func() bool { pids = procsIn(sandboxes, "recexec"); return len(pids) > 0 })
	t.Cleanup(func() {
		for _, pid := range procsIn(sandboxes, "recexec") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	c.close()

	p.kill(syscall.SIGKILL)
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("executor process %d died with the agent", pid)
		}
	}
	start(t, args...)
	waitFor(t, 60*time.Second, "the executor re-subscribed", func() bool {
		b, _ := os.ReadFile(filepath.Join(logDir, "nodectl-agent.log"))
		return strings.Contains(string(b), "custom executor re-subscribed after the agent's restart")
	})
	waitFor(t, 60*time.Second, "the task RUNNING in the master after the restart", func() bool { return taskState(n.url(), taskID) == "TASK_RUNNING" })
	if now := procsIn(sandboxes, "recexec"); !slices.Equal(now, pids) {
		t.Errorf("executor processes after the restart %v, want the same %v", now, pids)
	}
	all, _ := filepath.Glob(filepath.Join(sandboxes, "*", "frameworks", fw.Value, "executors", "recexec", "runs", "*", "stdout"))
	var stdout []string // not through the "latest" links
	for _, f := range all {
		if !strings.Contains(f, "/latest/") {
			stdout = append(stdout, f)
		}
	}
	if len(stdout) != 1 {
		t.Fatalf("executor sandboxes: %v", stdout)
	}
	// The agent logs the re-subscription when it accepts it; the executor
	// prints SUBSCRIBED 2 when the event reaches it, a moment later.
	var got []byte
	if !pollUntil(30*time.Second, func() bool {
		got, _ = os.ReadFile(stdout[0])
		return strings.Contains(string(got), "SUBSCRIBED 2")
	}) {
		t.Errorf("the executor did not subscribe a second time:\n%s", got)
	}
	b, _ := os.ReadFile(filepath.Join(logDir, "nodectl-agent.log"))
	if strings.Contains(string(b), "destroying an orphan container") || strings.Contains(string(b), "REASON_COMMAND_EXECUTOR_FAILED") {
		t.Errorf("the executor's container was handled as a command task's or an orphan:\n%s", b)
	}

	// The framework fails over to the restarted master and kills its task.
	info.ID = &fw
	waitFor(t, 60*time.Second, "the framework re-subscribed", func() bool {
		c, err = subscribe(ctx, n.url(), info)
		return err == nil
	})
	t.Cleanup(c.close)
	for subscribed := false; !subscribed; { // c.fw is set with SUBSCRIBED
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatal("the re-subscribed scheduler's stream ended")
			}
			subscribed = ev.Type == api.EventSubscribed
		case <-time.After(time.Minute): // bounds a hang only
			t.Fatal("no SUBSCRIBED")
		}
	}
	must(t, c.call(api.Call{Type: api.CallKill, Kill: &api.KillCall{TaskID: api.ID{Value: taskID}}}))
	for {
		st := nextUpdate(t, c, taskID)
		if st.State == api.TaskRunning {
			continue // re-sent across the restart
		}
		if st.State != api.TaskKilled {
			t.Fatalf("after KILL: %s %s %s", st.State, st.Reason, st.Message)
		}
		break
	}
	waitFor(t, 60*time.Second, "the task TASK_KILLED in the master", func() bool { return taskState(n.url(), taskID) == "TASK_KILLED" })
	// Its last update acknowledged, the executor exits; its container goes.
	waitFor(t, 60*time.Second, "the executor's processes gone", func() bool { return len(procsIn(sandboxes, "recexec")) == 0 })
	waitFor(t, 60*time.Second, "the executor's container destroyed", func() bool {
		b, _ := os.ReadFile(filepath.Join(logDir, "nodectl-agent.log"))
		return strings.Contains(string(b), "custom executor ended")
	})
	for _, sub := range []string{"containers", "runc"} {
		ents, _ := os.ReadDir(filepath.Join(n.dir, "runtime", sub))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if len(names) != 0 {
			t.Errorf("left in the runtime's %s: %v", sub, names)
		}
	}
}
