package apps

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// health sends a TASK_RUNNING update with Healthy set, as the agent's
// health checker does.
func (h *harness) health(id string, alive bool) {
	h.t.Helper()
	st := api.TaskStatus{TaskID: api.ID{Value: id}, State: api.TaskRunning, AgentID: &api.ID{Value: "a"}, UUID: []byte("u"), Healthy: &alive}
	if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
		h.t.Fatal(err)
	}
	h.a.step()
}

func (h *harness) statusReason(id string, s api.TaskState, reason string) {
	h.t.Helper()
	st := api.TaskStatus{TaskID: api.ID{Value: id}, State: s, Reason: reason, AgentID: &api.ID{Value: "a"}, UUID: []byte("u")}
	if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
		h.t.Fatal(err)
	}
	h.a.step()
}

func TestHealthCheckTranslation(t *testing.T) {
	var def App
	if err := json.Unmarshal([]byte(`{"id": "/x", "cmd": "x", "portDefinitions": [{}, {}], "healthChecks": [
		{"protocol": "MESOS_HTTPS", "path": "/h", "portIndex": 1},
		{"protocol": "TCP", "port": 8080, "gracePeriodSeconds": 0, "maxConsecutiveFailures": 0, "intervalSeconds": 1},
		{"protocol": "COMMAND", "command": {"value": "true"}, "delaySeconds": 0},
		{"protocol": "HTTP", "portIndex": 5}]}`), &def); err != nil {
		t.Fatal(err)
	}
	def.normalize()
	hcs := healthChecks(&def, []int{31000, 31001})
	if len(hcs) != 3 {
		t.Fatalf("%d checks, want 3 (the one with a bad port index left out): %+v", len(hcs), hcs)
	}
	if hc := hcs[0]; hc.Type != "HTTPS" || hc.HTTP == nil || hc.HTTP.Port != 31001 || hc.HTTP.Path != "/h" || hc.HTTP.Scheme != "https" {
		t.Errorf("https: %+v", hc)
	}
	if hc := hcs[0]; hc.IntervalSeconds != 60 || hc.TimeoutSeconds != 20 || hc.GracePeriodSeconds != 300 || hc.ConsecutiveFailures != 3 || hc.DelaySeconds != 15 {
		t.Errorf("MESOS_ defaults: %+v", hc)
	}
	// Explicit zeros stay zero (a millisecond on the wire, where 0 is the
	// default); Marathon-run protocols start at once; 0 failures never kill.
	if hc := hcs[1]; hc.Type != "TCP" || hc.TCP.Port != 8080 || hc.GracePeriodSeconds != 0.001 || hc.DelaySeconds != 0.001 ||
		hc.ConsecutiveFailures != neverKill || hc.IntervalSeconds != 1 {
		t.Errorf("tcp: %+v", hc)
	}
	if hc := hcs[2]; hc.Type != "COMMAND" || hc.Command.Value != "true" || hc.DelaySeconds != 0.001 || hc.GracePeriodSeconds != 300 {
		t.Errorf("command: %+v", hc)
	}
	def.HealthChecks = nil
	if hcs := healthChecks(&def, []int{1}); len(hcs) != 0 {
		t.Errorf("none: %+v", hcs)
	}
	h := newHarness(t)
	var out struct {
		Details []Detail `json:"details"`
	}
	if code := h.do("POST", "/v2/apps", `{"id":"/a","cmd":"x","portDefinitions":[],"healthChecks":[{"protocol":"HTTP"}]}`, &out); code != 422 || len(out.Details) != 1 || out.Details[0].Path != "/healthChecks/0/portIndex" {
		t.Errorf("portIndex out of range: %d %+v", code, out.Details)
	}
}

// A task with a health check counts only once healthy; health is tracked
// from the agent's updates; a task killed for its health is replaced.
func TestHealthTrackingAndDeployments(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", `{"id":"/hc","cmd":"serve","instances":1,"cpus":0.1,"mem":16,"healthChecks":[{"protocol":"MESOS_HTTP","path":"/health"}]}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("h1", res)
	ls := h.fake.launched()
	if len(ls) != 1 || ls[0].HealthCheck == nil || ls[0].HealthCheck.Type != "HTTP" || ls[0].HealthCheck.HTTP.Path != "/health" || ls[0].HealthCheck.HTTP.Port != 31000 {
		t.Fatalf("launched %+v", ls)
	}
	id := ls[0].TaskID.Value
	h.status(id, api.TaskRunning)
	a := h.app("/hc")
	if a["tasksRunning"] != 1.0 || a["tasksHealthy"] != 0.0 || len(a["deployments"].([]any)) != 1 {
		t.Fatalf("running, health unknown: %v", a)
	}
	h.health(id, true)
	a = h.app("/hc")
	if a["tasksHealthy"] != 1.0 || a["tasksUnhealthy"] != 0.0 || len(a["deployments"].([]any)) != 0 {
		t.Fatalf("healthy: %v", a)
	}
	h.now = h.now.Add(time.Minute)
	h.health(id, false)
	var tasks struct {
		Tasks []struct {
			HealthCheckResults []map[string]any `json:"healthCheckResults"`
		} `json:"tasks"`
	}
	h.do("GET", "/v2/apps/hc/tasks", "", &tasks)
	if len(tasks.Tasks) != 1 || len(tasks.Tasks[0].HealthCheckResults) != 1 {
		t.Fatalf("tasks %+v", tasks)
	}
	r := tasks.Tasks[0].HealthCheckResults[0]
	if r["alive"] != false || r["consecutiveFailures"] != 1.0 || r["taskId"] != id || r["firstSuccess"] == nil || r["lastFailure"] == nil {
		t.Errorf("healthCheckResults %v", r)
	}
	if a := h.app("/hc"); a["tasksUnhealthy"] != 1.0 || a["tasksHealthy"] != 0.0 {
		t.Errorf("unhealthy counts: %v", a)
	}
	// The agent kills it after maxConsecutiveFailures: replaced, and said why.
	h.statusReason(id, api.TaskKilled, api.ReasonHealthCheckFailed)
	a = h.app("/hc")
	lf, _ := a["lastTaskFailure"].(map[string]any)
	if lf == nil || lf["taskId"] != id || lf["state"] != "TASK_KILLED" {
		t.Errorf("lastTaskFailure %v", a["lastTaskFailure"])
	}
	h.now = h.now.Add(2 * time.Second) // past the backoff
	h.offerFrom("h1", res)
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("launched %d, want a replacement", n)
	}

	// A rolling restart keeps the old task until the new one is healthy.
	nid := h.fake.launched()[1].TaskID.Value
	h.status(nid, api.TaskRunning)
	h.health(nid, true)
	h.now = h.now.Add(time.Second)
	if code := h.do("POST", "/v2/apps/hc/restart", "", nil); code != 200 {
		t.Fatalf("restart: %d", code)
	}
	h.offerFrom("h1", res)
	ls = h.fake.launched()
	if len(ls) != 3 {
		t.Fatalf("launched %d, want the new one", len(ls))
	}
	h.status(ls[2].TaskID.Value, api.TaskRunning)
	if k := h.fake.killed(); len(k) != 0 {
		t.Fatalf("killed %v before the new task is healthy", k)
	}
	h.health(ls[2].TaskID.Value, true)
	if k := h.fake.killed(); len(k) != 1 || k[0] != nid {
		t.Fatalf("killed %v, want the old %s", k, nid)
	}
	h.status(nid, api.TaskKilled)
	if a := h.app("/hc"); len(a["deployments"].([]any)) != 0 || a["tasksHealthy"] != 1.0 {
		t.Errorf("after restart: %v", a)
	}
}

type sseEvent struct {
	typ  string
	data map[string]any
}

// readSSE parses an event stream into ch until it ends.
func readSSE(resp *http.Response, ch chan<- sseEvent) {
	defer close(ch)
	sc := bufio.NewScanner(resp.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
		case line == "" && ev.typ != "":
			ch <- ev
			ev = sseEvent{}
		}
	}
}

func TestEventStream(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(h.srv)
	defer srv.Close()
	h.do("POST", "/v2/apps", `{"id":"/ev","cmd":"serve","instances":1,"cpus":0.1,"mem":16}`, nil)
	h.offerFrom("h1", res)
	h.runAll()

	resp, err := http.Get(srv.URL + "/v2/events?event_type=status_update_event&event_type=deployment_success&event_type=health_status_changed_event")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 100)
	go readSSE(resp, ch)
	waitFor(t, func() bool { return h.a.bus.count() == 1 })

	if code := h.do("PUT", "/v2/apps/ev", `{"instances":2}`, nil); code != 200 {
		t.Fatalf("scale: %d", code)
	}
	h.offerFrom("h1", res)
	h.runAll()
	var sawStatus, sawSuccess bool
	timeout := time.After(5 * time.Second)
	for !sawStatus || !sawSuccess {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.data["eventType"] != ev.typ || ev.data["event_type"] != ev.typ || ev.data["timestamp"] == nil {
				t.Errorf("event %s: %v", ev.typ, ev.data)
			}
			switch ev.typ {
			case "status_update_event":
				if ev.data["taskStatus"] == "TASK_RUNNING" && ev.data["appId"] == "/ev" && ev.data["host"] == "h1" && ev.data["version"] != nil {
					sawStatus = true
				}
			case "deployment_success":
				sawSuccess = true
			default:
				t.Errorf("filtered-out event %s", ev.typ)
			}
		case <-timeout:
			t.Fatalf("status %v success %v", sawStatus, sawSuccess)
		}
	}
}

func TestEventSlowSubscriberDropped(t *testing.T) {
	old := eventBuffer
	eventBuffer = 2
	defer func() { eventBuffer = old }()
	b := newEventBus()
	s := b.subscribe(nil)
	for range 3 {
		b.publish(busEvent{typ: "x", data: []byte("{}")})
	}
	select {
	case <-s.dropped:
	default:
		t.Fatal("slow subscriber not dropped")
	}
	if b.count() != 0 {
		t.Errorf("count %d", b.count())
	}
	f := b.subscribe([]string{"y"})
	b.publish(busEvent{typ: "x"})
	if len(f.ch) != 0 {
		t.Error("filter let x through")
	}
}
