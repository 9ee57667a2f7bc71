package apps

import (
	"testing"

	"nodectl/cluster/api"
)

// TestHealthChecksEachShown: an app with two health checks launches both
// (HealthCheck, MoreHealthChecks); the agent's per-check results show as
// two healthCheckResults, each with its own alive and failure cause,
// while the task counts as unhealthy when one fails.
func TestHealthChecksEachShown(t *testing.T) {
	h := newHarness(t)
	var out map[string]any
	if code := h.do("POST", "/v2/apps", `{"id":"/hc2","cmd":"serve","instances":1,"cpus":0.1,"mem":16,
		"healthChecks":[{"protocol":"HTTP","path":"/health"},{"protocol":"TCP","portIndex":0}]}`, &out); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	h.offerFrom("h1", res)
	ls := h.fake.launched()
	if len(ls) != 1 || ls[0].HealthCheck == nil || len(ls[0].MoreHealthChecks) != 1 {
		t.Fatalf("launched %+v", ls)
	}
	id := ls[0].TaskID.Value
	h.status(id, api.TaskRunning)
	send := func(a, b bool, cause string) {
		t.Helper()
		all := a && b
		res := []api.CheckResult{{Healthy: &a}, {Healthy: &b}}
		if !b {
			res[1].Message = cause
		}
		st := api.TaskStatus{TaskID: api.ID{Value: id}, State: api.TaskRunning, AgentID: &api.ID{Value: "a"}, UUID: []byte("u"), Healthy: &all, HealthChecks: res}
		if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
			t.Fatal(err)
		}
		h.a.step()
	}
	results := func() []map[string]any {
		var tasks struct {
			Tasks []struct {
				HealthCheckResults []map[string]any `json:"healthCheckResults"`
			} `json:"tasks"`
		}
		h.do("GET", "/v2/apps/hc2/tasks", "", &tasks)
		if len(tasks.Tasks) != 1 {
			t.Fatalf("tasks %+v", tasks)
		}
		return tasks.Tasks[0].HealthCheckResults
	}
	send(true, true, "")
	if r := results(); len(r) != 2 || r[0]["alive"] != true || r[1]["alive"] != true {
		t.Fatalf("both pass: %v", r)
	}
	send(true, false, "connection refused")
	r := results()
	if len(r) != 2 || r[0]["alive"] != true || r[1]["alive"] != false || r[1]["lastFailureCause"] != "connection refused" || r[1]["consecutiveFailures"] != 1.0 || r[0]["lastFailure"] != nil {
		t.Fatalf("second fails: %v", r)
	}
	if a := h.app("/hc2"); a["tasksUnhealthy"] != 1.0 || a["tasksHealthy"] != 0.0 {
		t.Errorf("counts with one check failing: %v", a)
	}
	send(true, true, "")
	if r := results(); r[1]["alive"] != true || r[1]["consecutiveFailures"] != 0.0 || r[1]["lastFailure"] == nil {
		t.Fatalf("recovered: %v", r)
	}
}
