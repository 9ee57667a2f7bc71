package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// postJSON posts body to url and returns the status and the body.
func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// roleCPUs is what /roles says each role holds (offered and used cpus).
func roleCPUs(t *testing.T, n node) map[string]float64 {
	t.Helper()
	var out struct {
		Roles []struct {
			Name      string         `json:"name"`
			Resources map[string]any `json:"resources"`
		} `json:"roles"`
	}
	must(t, getJSON(n.url()+"/roles", &out))
	m := map[string]float64{}
	for _, r := range out.Roles {
		m[r.Name], _ = r.Resources["cpus"].(float64)
	}
	return m
}

// floodUntil runs a framework that launches `sleep 600` tasks of 1 cpu
// and 128 MB on every offer, as many as fit, declining the rest for an
// hour, until done holds (checked with the tasks RUNNING so far). check
// runs on every event, to catch a quota broken on the way.
func floodUntil(t *testing.T, c *schedClient, prefix string, done func(running int) bool, check func()) int {
	t.Helper()
	hour := 3600.0
	running, n := 0, 0
	deadline := time.After(2 * time.Minute)
	for !done(running) {
		var ev api.Event
		select {
		case ev = <-c.events:
		case <-deadline:
			t.Fatalf("%s: %d tasks running after 2 minutes", prefix, running)
		}
		check()
		switch {
		case ev.Type == api.EventOffers && ev.Offers != nil:
			for _, o := range ev.Offers.Offers {
				var tasks []api.TaskInfo
				left := o.Resources
				for {
					ti := api.TaskInfo{Name: prefix, TaskID: api.ID{Value: fmt.Sprintf("%s-%d", prefix, n)}, AgentID: o.AgentID,
						Resources: mustResources(t, "cpus:1;mem:128"), Command: &api.CommandInfo{Value: "sleep 600"}}
					if !left.Contains(ti.Resources) {
						break
					}
					left = left.Subtract(ti.Resources)
					tasks = append(tasks, ti)
					n++
				}
				call := api.Call{Type: api.CallDecline, Decline: &api.DeclineCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &hour}}}
				if len(tasks) > 0 {
					call = api.Call{Type: api.CallAccept, Accept: &api.AcceptCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &hour},
						Operations: []api.Operation{{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: tasks}}}}}
				}
				must(t, c.call(call))
			}
		case ev.Type == api.EventUpdate && ev.Update != nil:
			st := ev.Update.Status
			_ = c.acknowledge(st)
			switch {
			case st.State == api.TaskRunning:
				running++
			case st.State.Terminal():
				t.Fatalf("%s: task %s %s: %s", prefix, st.TaskID.Value, st.State, st.Message)
			}
		case ev.Type == api.EventError && ev.Error != nil:
			t.Fatalf("%s: framework error: %s", prefix, ev.Error.Message)
		}
	}
	return running
}

func mustResources(t *testing.T, s string) api.Resources {
	rs, err := api.ParseResources(s)
	must(t, err)
	return rs
}

// TestQuotaFlood: on a real node (4 cpus), role a is guaranteed 2 cpus
// and role c limited to 1. c floods: it stops at 1 cpu. b floods: it
// stops at what a's guarantee leaves (1 cpu). a subscribes last and gets
// its 2 cpus. /roles never shows c or b above those bounds, and the quota
// and weights are in GET_QUOTA, /roles and /weights. --roles refuses a
// framework in another role.
func TestQuotaFlood(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:4;mem:2048;disk:1024;ports:[31000-31100]", "--weights", "b=2", "--roles", "a,b,c,marathon")...)
	waitFor(t, 30*time.Second, "the node healthy with its agent", func() bool { return healthy(n.url()) && len(slaves(t, n.url())) == 1 })

	// --roles: a framework in another role is refused with the reason.
	code, body := postJSON(t, n.url()+"/api/v1/scheduler", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x","roles":["x"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`)
	if code != 400 || !strings.Contains(body, "roles { x } are not present in the master's --roles (a,b,c,marathon)") {
		t.Errorf("subscribe in role x: %d %s", code, body)
	}
	code, body = postJSON(t, n.url()+"/api/v1", `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[
		{"role":"a","guarantees":{"cpus":{"value":2},"mem":{"value":256}}},
		{"role":"c","limits":{"cpus":{"value":1},"mem":{"value":512}}}]}}`)
	if code != 200 {
		t.Fatalf("UPDATE_QUOTA: %d %s", code, body)
	}
	check := func() {
		held := roleCPUs(t, n)
		if held["c"] > 1 || held["b"] > 1 {
			t.Fatalf("/roles: c holds %v cpus (limit 1), b %v (all a's guarantee leaves is 1)", held["c"], held["b"])
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := func(role string) *schedClient {
		c, err := subscribe(ctx, n.url(), api.FrameworkInfo{User: "root", Name: "quota-" + role, Role: role})
		must(t, err)
		t.Cleanup(c.close)
		return c
	}
	if got := floodUntil(t, sub("c"), "c", func(r int) bool { return r >= 1 }, check); got != 1 {
		t.Errorf("c runs %d tasks", got)
	}
	if got := floodUntil(t, sub("b"), "b", func(r int) bool { return r >= 1 }, check); got != 1 {
		t.Errorf("b runs %d tasks", got)
	}
	if got := floodUntil(t, sub("a"), "a", func(r int) bool { return r >= 2 }, check); got != 2 {
		t.Errorf("a runs %d tasks, want its guarantee of 2 cpus", got)
	}
	check()
	if held := roleCPUs(t, n); held["a"] < 2 {
		t.Errorf("/roles: a holds %v cpus, below its guarantee", held["a"])
	}

	code, body = postJSON(t, n.url()+"/api/v1", `{"type":"GET_QUOTA"}`)
	if code != 200 || !strings.Contains(body, `"role":"c","limits":{"cpus":{"value":1}`) {
		t.Errorf("GET_QUOTA: %d %s", code, body)
	}
	var weights []map[string]any
	must(t, getJSON(n.url()+"/weights", &weights))
	if b, _ := json.Marshal(weights); string(b) != `[{"role":"b","weight":2}]` {
		t.Errorf("/weights: %s", b)
	}
}
