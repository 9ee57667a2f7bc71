package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"nodectl/cluster/api"
	"nodectl/node"
	"nodectl/node/nodetest"
)

// reportLocked queues a status update for a task as the agent's health
// checker would: TASK_RUNNING with Healthy, or a terminal state with a reason.
func (a *fakeAgent) reportLocked(k fakeKey, s api.TaskState, healthy *bool, reason string) {
	t := a.tasks[k]
	t.state = s
	u := uuid.New()
	up := api.StatusUpdate{AgentID: api.ID{Value: a.id}, FrameworkID: api.ID{Value: k.fw}, LatestState: s, Status: api.TaskStatus{
		TaskID: api.ID{Value: k.task}, State: s, Source: api.SourceExecutor, UUID: u[:], Healthy: healthy, Reason: reason,
		AgentID: &api.ID{Value: a.id}, Timestamp: float64(time.Now().UnixNano()) / 1e9,
	}}
	t.pending = append(t.pending, up)
	if len(t.pending) == 1 {
		a.sendHeadLocked(t)
	}
}

// healthReporter makes every running task launched with a health check
// report healthy once, except those in sick.
type healthReporter struct {
	mu       sync.Mutex
	reported map[string]bool
	sick     map[string]bool
}

func (h *healthReporter) run(ctx context.Context, agents []*fakeAgent) {
	for ctx.Err() == nil {
		for _, a := range agents {
			a.mu.Lock()
			for k, t := range a.tasks {
				h.mu.Lock()
				todo := t.info.HealthCheck != nil && t.state == api.TaskRunning && !h.reported[k.task] && !h.sick[k.task]
				if todo {
					h.reported[k.task] = true
				}
				h.mu.Unlock()
				if todo {
					a.reportLocked(k, api.TaskRunning, new(true), "")
				}
			}
			a.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// failHealth reports task id unhealthy, then killed for it, as the agent
// does after maxConsecutiveFailures.
func (h *healthReporter) failHealth(agents []*fakeAgent, id string) bool {
	h.mu.Lock()
	h.sick[id] = true
	h.mu.Unlock()
	for _, a := range agents {
		a.mu.Lock()
		for k, t := range a.tasks {
			if k.task == id && !t.state.Terminal() {
				a.reportLocked(k, api.TaskRunning, new(false), "")
				a.reportLocked(k, api.TaskKilled, nil, api.ReasonHealthCheckFailed)
				a.mu.Unlock()
				return true
			}
		}
		a.mu.Unlock()
	}
	return false
}

func TestAppCommand(t *testing.T) {
	t.Parallel()
	s := startAppsStack(t, 2)
	master := s.url // plain test server: an explicit http:// URL
	hr := &healthReporter{reported: map[string]bool{}, sick: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hr.run(ctx, s.agents) }()
	t.Cleanup(func() { cancel(); <-done })

	cli := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		full := append([]string{"app", args[0], "--master", master}, args[1:]...)
		code := node.RunCLI(full, &out, &errOut)
		return out.String(), errOut.String(), code
	}
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// run: create, and follow the deployment until the task is healthy.
	def := file("web.json", `{"id":"/web","cmd":"sleep 1000","instances":1,"cpus":0.1,"mem":16,"healthChecks":[{"protocol":"MESOS_HTTP","path":"/"}]}`)
	start := time.Now()
	out, errOut, code := cli("run", "-f", def)
	if code != 0 || !strings.Contains(out, "finished") || !strings.Contains(errOut, "1/1 running") || !strings.Contains(errOut, "1 healthy") {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("app run (create + healthy) took %v", time.Since(start))

	out, _, code = cli("list")
	if code != 0 || !strings.Contains(out, "/web") || !strings.Contains(out, "1/1") || !strings.Contains(out, "HEALTHY") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	out, _, code = cli("list", "-o", "json")
	var apps struct {
		Apps []map[string]any `json:"apps"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &apps) != nil || len(apps.Apps) != 1 || apps.Apps[0]["tasksHealthy"] != 1.0 {
		t.Fatalf("list -o json: exit %d\n%s", code, out)
	}

	// scale, then tasks shows both healthy.
	if out, errOut, code = cli("scale", "web", "2"); code != 0 {
		t.Fatalf("scale: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = cli("tasks", "/web")
	if code != 0 || strings.Count(out, "healthy") != 2 || strings.Count(out, "TASK_RUNNING") != 2 {
		t.Fatalf("tasks: exit %d\n%s", code, out)
	}
	out, _, _ = cli("show", "web")
	if !strings.Contains(out, "Health:") || !strings.Contains(out, "2 healthy") {
		t.Fatalf("show:\n%s", out)
	}

	// A task killed for failing its health check is replaced.
	var tasks struct {
		Tasks []struct {
			ID string `json:"id"`
		} `json:"tasks"`
	}
	out, _, _ = cli("tasks", "-o", "json", "web")
	if err := json.Unmarshal([]byte(out), &tasks); err != nil || len(tasks.Tasks) != 2 {
		t.Fatalf("tasks -o json: %v\n%s", err, out)
	}
	victim := tasks.Tasks[0].ID
	if !hr.failHealth(s.agents, victim) {
		t.Fatalf("task %s not on any agent", victim)
	}
	nodetest.WaitFor(t, 10*time.Second, "replacement healthy", func() bool {
		var a struct {
			App struct {
				TasksHealthy    int            `json:"tasksHealthy"`
				LastTaskFailure map[string]any `json:"lastTaskFailure"`
			} `json:"app"`
		}
		s.req("GET", "/v2/apps/web", "", &a)
		return a.App.TasksHealthy == 2 && a.App.LastTaskFailure != nil && a.App.LastTaskFailure["taskId"] == victim
	})
	if out, _, _ = cli("show", "web"); !strings.Contains(out, "Last failure:") || !strings.Contains(out, victim) {
		t.Errorf("show after health kill:\n%s", out)
	}

	// run again with a change: a PUT and a rolling restart.
	def = file("web.json", `{"id":"/web","cmd":"sleep 2000","instances":2,"cpus":0.1,"mem":16,"healthChecks":[{"protocol":"MESOS_HTTP","path":"/"}]}`)
	if out, errOut, code = cli("run", "-f", def); code != 0 || !strings.Contains(errOut, "updated") {
		t.Fatalf("run (update): exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = cli("versions", "web")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "(current)") {
		t.Fatalf("versions: exit %d\n%s", code, out)
	}
	// rollback with no deployment running: the previous version comes back.
	if out, errOut, code = cli("rollback", "-o", "json", "web"); code != 0 || !strings.Contains(out, `"success"`) {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	var cur struct {
		App struct {
			Cmd string `json:"cmd"`
		} `json:"app"`
	}
	s.req("GET", "/v2/apps/web", "", &cur)
	if cur.App.Cmd != "sleep 1000" {
		t.Errorf("after rollback cmd %q", cur.App.Cmd)
	}
	if out, _, code = cli("restart", "web"); code != 0 || !strings.Contains(out, "finished") {
		t.Fatalf("restart: exit %d\n%s", code, out)
	}

	// Errors: one line, non-zero exit.
	bad := file("bad.json", `{"id":"/bad","cmd":"x","args":["y"]}`)
	_, errOut, code = cli("run", "-f", bad)
	if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "/cmd: ") || !strings.Contains(errOut, "; ") {
		t.Errorf("invalid app: exit %d %q", code, errOut)
	}
	_, errOut, code = cli("show", "nope")
	if code != 1 || !strings.Contains(errOut, "App '/nope' does not exist") {
		t.Errorf("show unknown: exit %d %q", code, errOut)
	}
	if _, errOut, code = cli("scale", "web"); code != 2 {
		t.Errorf("scale without N: exit %d %q", code, errOut)
	}

	if out, errOut, code = cli("delete", "web"); code != 0 || !strings.Contains(out, "finished") {
		t.Fatalf("delete: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, _ = cli("list"); strings.Contains(out, "/web") {
		t.Errorf("list after delete:\n%s", out)
	}
}

// GET /v2/events on a real master: a scale shows up as status updates and
// deployment_success.
func TestAppEventsOnRealMaster(t *testing.T) {
	t.Parallel()
	s := startAppsStack(t, 1)
	if code := s.req("POST", "/v2/apps", `{"id":"/ev","cmd":"sleep 1000","instances":1,"cpus":0.1,"mem":16}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	nodetest.WaitFor(t, 10*time.Second, "1 running", func() bool { return s.running("/ev") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/v2/events?event_type=status_update_event&event_type=deployment_success", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	time.Sleep(100 * time.Millisecond) // subscribed before the change
	if code := s.req("PUT", "/v2/apps/ev", `{"instances":2}`, nil); code != 200 {
		t.Fatalf("scale: %d", code)
	}
	sc := bufio.NewScanner(resp.Body)
	var sawRunning, sawSuccess bool
	for (!sawRunning || !sawSuccess) && sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		switch ev["event_type"] {
		case "status_update_event":
			if ev["taskStatus"] == "TASK_RUNNING" && ev["appId"] == "/ev" {
				sawRunning = true
			}
		case "deployment_success":
			sawSuccess = true
		default:
			t.Errorf("unexpected event %v", ev)
		}
	}
	if !sawRunning || !sawSuccess {
		t.Fatalf("running %v success %v (%v)", sawRunning, sawSuccess, sc.Err())
	}
}
