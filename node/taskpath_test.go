package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/node"
	"nodectl/node/nodetest"
)

// taskCluster is an in-process master (real etcd) with fake agents.
type taskCluster struct {
	*nodetest.Cluster
	t      *testing.T
	agents []*fakeAgent
	master string
}

func startTaskCluster(t *testing.T, agents int) *taskCluster {
	t.Helper()
	c := nodetest.Start(t, nodetest.Options{AgentPingTimeout: time.Second})
	tc := &taskCluster{Cluster: c, t: t, master: fmt.Sprintf("127.0.0.1:%d", c.Master.Config.Port)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	hc := &http.Client{Transport: agentTLSTransport(t, c, nil)}
	for i := range agents {
		a := newFakeAgent(t, hc, c.Master.URL(), fmt.Sprintf("fake%d", i), 6000+i, "cpus:2;mem:1024")
		tc.agents = append(tc.agents, a)
		wg.Add(1)
		go func() { defer wg.Done(); a.run(ctx) }()
	}
	nodetest.WaitFor(t, 10*time.Second, "fake agents active", func() bool { return c.Metric("master/slaves_active") == float64(agents) })
	return tc
}

// cli runs a nodectl command in-process against the cluster.
func (tc *taskCluster) cli(args ...string) (string, int) {
	tc.t.Helper()
	var out, errOut bytes.Buffer
	var full []string
	if args[0] == "task" {
		full = append([]string{"task", args[1], "--master", tc.master, "--work-dir", tc.Master.Config.WorkDir}, args[2:]...)
	} else {
		full = append([]string{args[0], "--master", tc.master, "--work-dir", tc.Master.Config.WorkDir}, args[1:]...)
	}
	code := node.RunCLI(full, &out, &errOut)
	return out.String() + errOut.String(), code
}

type stateTask struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	State   api.TaskState `json:"state"`
	SlaveID string        `json:"slave_id"`
}

type stateFramework struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Active         bool        `json:"active"`
	Tasks          []stateTask `json:"tasks"`
	CompletedTasks []stateTask `json:"completed_tasks"`
}

func (tc *taskCluster) state() (fws, done []stateFramework) {
	var st struct {
		Frameworks          []stateFramework `json:"frameworks"`
		CompletedFrameworks []stateFramework `json:"completed_frameworks"`
	}
	if err := nodetest.GetJSON(tc.Master.URL()+"/state", &st); err != nil {
		return nil, nil
	}
	return st.Frameworks, st.CompletedFrameworks
}

func (tc *taskCluster) taskNamed(name string) (stateFramework, stateTask, bool) {
	fws, _ := tc.state()
	for _, f := range fws {
		for _, t := range f.Tasks {
			if t.Name == name {
				return f, t, true
			}
		}
	}
	return stateFramework{}, stateTask{}, false
}

// nodectl execute against a real master: exit codes, the fail-fast for
// resources no agent has, and the master's records of it all.
func TestExecute(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t, 2)
	out, code := tc.cli("execute", "--name", "hello", "--", "echo", "hi")
	if code != 0 {
		t.Fatalf("execute echo: exit %d\n%s", code, out)
	}
	for _, want := range []string{"Subscribed with framework ID", "Submitted task 'hello.", "TASK_RUNNING", "TASK_FINISHED", "Sandbox: on agent"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, code = tc.cli("execute", "--name", "three", "--", "sh -c 'exit 3'")
	if code != 3 || !strings.Contains(out, "TASK_FAILED") {
		t.Fatalf("execute exit 3: exit %d\n%s", code, out)
	}
	// The fail-fast: the message says no agent has it, not that offers
	// ran out.
	out, code = tc.cli("execute", "--name", "huge", "--resources", "cpus:100000;mem:32", "--", "true")
	if code == 0 || !strings.Contains(out, "no agent has cpus:100000") {
		t.Fatalf("execute huge: exit %d\n%s", code, out)
	}
	out, code = tc.cli("execute", "--name", "x", "--resources", "cpus:-1")
	if code != 2 {
		t.Errorf("bad --resources: exit %d\n%s", code, out)
	}
	out, code = tc.cli("execute", "--name", "x")
	if code != 2 || !strings.Contains(out, "no command") {
		t.Errorf("no command: exit %d\n%s", code, out)
	}
	// The three execute frameworks were torn down (huge as soon as the
	// answer that no agent has its resources came); their tasks are
	// history. The built-in apps framework
	// (marathon) subscribes on its own schedule: it does not count.
	all, done := tc.state()
	var fws []stateFramework
	for _, f := range all {
		if f.Name != "marathon" {
			fws = append(fws, f)
		}
	}
	if len(fws) != 0 || len(done) != 3 {
		t.Errorf("frameworks %d completed %d, want 0 and 3", len(fws), len(done))
	}
	snap := map[string]float64{}
	if err := nodetest.GetJSON(tc.Master.URL()+"/metrics/snapshot", &snap); err != nil {
		t.Fatal(err)
	}
	if snap["master/tasks_finished"] != 1 || snap["master/tasks_failed"] != 1 || snap["master/messages_launch_tasks"] != 2 {
		t.Errorf("metrics finished %v failed %v launches %v", snap["master/tasks_finished"], snap["master/tasks_failed"], snap["master/messages_launch_tasks"])
	}
}

// --detach returns once the task runs; task list shows it; task kill ends
// it through its framework, even across a master restart.
func TestExecuteDetachListKill(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t, 1)
	out, code := tc.cli("execute", "--name", "sleeper", "--checkpoint", "--detach", "-q", "--", "sleep", "1000")
	if code != 0 {
		t.Fatalf("execute --detach: exit %d\n%s", code, out)
	}
	// -q: the id alone, for ID=$(nodectl execute --detach -q ...)
	id := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(id, "sleeper.") || strings.Contains(id, "\n") {
		t.Fatalf("output %q, want the task id alone", out)
	}
	// The CLI is gone; its framework waits, disconnected, for its
	// failover timeout.
	nodetest.WaitFor(t, 5*time.Second, "framework disconnected", func() bool {
		fw, _, ok := tc.taskNamed("sleeper")
		return ok && !fw.Active
	})
	fw, task, _ := tc.taskNamed("sleeper")
	if task.State != api.TaskRunning || task.ID != id {
		t.Fatalf("after detach: task %+v", task)
	}
	out, code = tc.cli("task", "list")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "TASK_RUNNING") || !strings.Contains(out, "fake0") {
		t.Fatalf("task list: exit %d\n%s", code, out)
	}
	out, code = tc.cli("task", "list", "-o", "json")
	var listed []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0]["id"] != id {
		t.Fatalf("task list -o json: exit %d\n%s", code, out)
	}

	// A leader change: the master restarts from etcd and the agent
	// re-registers with the task.
	if err := tc.Master.Stop(); err != nil {
		t.Fatal(err)
	}
	tc.Master.Start()
	nodetest.WaitFor(t, 20*time.Second, "task RUNNING after the restart", func() bool {
		_, task, ok := tc.taskNamed("sleeper")
		return ok && task.State == api.TaskRunning && tc.Metric("master/slave_reregistrations") >= 1
	})

	out, code = tc.cli("task", "kill", id)
	if code != 0 || !strings.Contains(out, "TASK_KILLED") {
		t.Fatalf("task kill: exit %d\n%s", code, out)
	}
	if s := tc.agents[0].taskState(fw.ID, id); s != "" && s != api.TaskKilled {
		t.Errorf("agent still has the task %s", s)
	}
	_, done := tc.state()
	if len(done) != 1 || len(done[0].CompletedTasks) != 1 || done[0].CompletedTasks[0].State != api.TaskKilled {
		t.Errorf("completed frameworks %+v", done)
	}
	out, code = tc.cli("task", "kill", id)
	if code != 0 || !strings.Contains(out, "already ended") {
		t.Errorf("second kill: exit %d\n%s", code, out)
	}
	out, code = tc.cli("task", "kill", "nope")
	if code != 1 || !strings.Contains(out, "no task nope") {
		t.Errorf("kill of an unknown task: exit %d\n%s", code, out)
	}
}
