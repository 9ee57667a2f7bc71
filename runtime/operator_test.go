package runtime

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

// operatorPost sends one agent operator call (JSON or protobuf, answer in
// the same) to a's handler and returns the status and the JSON answer
// (decoded from protobuf when asked in protobuf).
func operatorPost(t *testing.T, a *Agent, call string, proto bool) (int, map[string]any) {
	t.Helper()
	body, ctype := []byte(call), mesospb.MediaJSON
	if proto {
		var err error
		if body, err = mesospb.FromJSON(mesospb.AgentCall, body); err != nil {
			t.Fatalf("encode %s: %v", call, err)
		}
		ctype = mesospb.MediaProtobuf
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", ctype)
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	out := rec.Body.Bytes()
	if proto && rec.Code == http.StatusOK {
		if got := rec.Header().Get("Content-Type"); got != mesospb.MediaProtobuf {
			t.Fatalf("%s: Content-Type %q", call, got)
		}
		var err error
		if out, err = mesospb.ToJSON(mesospb.AgentResponse, out); err != nil {
			t.Fatalf("%s: decode protobuf answer: %v", call, err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s: %d %s: %v", call, rec.Code, out, err)
	}
	return rec.Code, m
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// The agent's operator API answers the read-only calls from its state in
// JSON and in protobuf, lists and reads a running task's sandbox, and
// refuses the calls nodectl does not serve with 400 naming them.
func TestOperatorAgentCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		cfg := fakeAgentConfig(t, t.TempDir(), d)
		cfg.LogFile = filepath.Join(t.TempDir(), "nodectl-agent.log")
		if err := os.WriteFile(cfg.LogFile, []byte("agent log line\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		a, ctx, _ := startFakeAgent(t, cfg)
		a.status = newStatusManager(func(_ context.Context, u api.StatusUpdate) error { return nil }, a.tasks.complete, a.log)
		launch := fakeLaunch("t1")
		launch.Launch.Task.HealthCheck = &api.HealthCheck{Type: "HTTPS", HTTP: &api.HTTPCheck{Port: 8443, Path: "/ping"}, IntervalSeconds: 600, GracePeriodSeconds: 600}
		a.dispatch(ctx, launch)
		synctest.Wait()
		c := d.only()
		if c == nil {
			t.Fatalf("want one container, have %v", d.ids())
		}
		if err := os.WriteFile(filepath.Join(c.spec.SandboxDir, "stdout"), []byte("hello sandbox\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, proto := range []bool{false, true} {
			code, m := operatorPost(t, a, `{"type":"GET_HEALTH"}`, proto)
			if code != 200 || dig(m, "get_health", "healthy") != true {
				t.Errorf("GET_HEALTH (proto %v): %d %v", proto, code, m)
			}
			for _, call := range []string{"GET_FLAGS", "GET_VERSION", "GET_METRICS", "GET_LOGGING_LEVEL", "GET_RESOURCE_PROVIDERS", "GET_OPERATIONS", "GET_EXECUTORS", "GET_FRAMEWORKS"} {
				if code, m := operatorPost(t, a, `{"type":"`+call+`"}`, proto); code != 200 || m["type"] != call {
					t.Errorf("%s (proto %v): %d %v", call, proto, code, m)
				}
			}
			_, m = operatorPost(t, a, `{"type":"GET_TASKS"}`, proto)
			if dig(m, "get_tasks", "launched_tasks", 0, "task_id", "value") != "t1" || dig(m, "get_tasks", "launched_tasks", 0, "state") != "TASK_RUNNING" ||
				dig(m, "get_tasks", "launched_tasks", 0, "health_check", "http", "scheme") != "https" {
				t.Errorf("GET_TASKS (proto %v): %v", proto, m)
			}
			_, m = operatorPost(t, a, `{"type":"GET_STATE"}`, proto)
			if dig(m, "get_state", "get_tasks", "launched_tasks", 0, "agent_id", "value") != "agent-1" ||
				dig(m, "get_state", "get_frameworks", "frameworks", 0, "framework_info", "id", "value") != "fw" ||
				dig(m, "get_state", "get_executors", "executors", 0, "executor_info", "executor_id", "value") != "t1" {
				t.Errorf("GET_STATE (proto %v): %v", proto, m)
			}
			_, m = operatorPost(t, a, `{"type":"GET_CONTAINERS"}`, proto)
			if dig(m, "get_containers", "containers", 0, "container_id", "value") != c.ID() ||
				dig(m, "get_containers", "containers", 0, "resource_statistics", "mem_rss_bytes") != float64(1<<20) {
				t.Errorf("GET_CONTAINERS (proto %v): %v", proto, m)
			}
			_, m = operatorPost(t, a, `{"type":"GET_AGENT"}`, proto)
			if dig(m, "get_agent", "agent_info", "id", "value") != "agent-1" || dig(m, "get_agent", "agent_info", "hostname") != "agent.test" {
				t.Errorf("GET_AGENT (proto %v): %v", proto, m)
			}
			// The sandbox by its virtual path, as the Mesos UI names it.
			dir := "/frameworks/fw/executors/t1/runs/latest"
			code, m = operatorPost(t, a, `{"type":"LIST_FILES","list_files":{"path":"`+dir+`"}}`, proto)
			found := false
			for _, fi := range dig(m, "list_files", "file_infos").([]any) {
				found = found || dig(fi, "path") == dir+"/stdout" && dig(fi, "size") == float64(14)
			}
			if code != 200 || !found {
				t.Errorf("LIST_FILES (proto %v): %d %v", proto, code, m)
			}
			code, m = operatorPost(t, a, `{"type":"READ_FILE","read_file":{"path":"`+dir+`/stdout","offset":6,"length":7}}`, proto)
			data, _ := base64.StdEncoding.DecodeString(dig(m, "read_file", "data").(string))
			if code != 200 || string(data) != "sandbox" || dig(m, "read_file", "size") != float64(14) {
				t.Errorf("READ_FILE (proto %v): %d %v (%q)", proto, code, m, data)
			}
			// The same sandbox by its real path.
			real := c.spec.SandboxDir
			code, m = operatorPost(t, a, `{"type":"READ_FILE","read_file":{"path":"`+real+`/stdout","offset":0}}`, proto)
			data, _ = base64.StdEncoding.DecodeString(dig(m, "read_file", "data").(string))
			if code != 200 || string(data) != "hello sandbox\n" {
				t.Errorf("READ_FILE by the real path (proto %v): %d %v", proto, code, m)
			}
			code, m = operatorPost(t, a, `{"type":"READ_FILE","read_file":{"path":"/slave/log","offset":0}}`, proto)
			data, _ = base64.StdEncoding.DecodeString(dig(m, "read_file", "data").(string))
			if code != 200 || string(data) != "agent log line\n" {
				t.Errorf("READ_FILE /slave/log (proto %v): %d %v", proto, code, m)
			}
			if code, m = operatorPost(t, a, `{"type":"READ_FILE","read_file":{"path":"/frameworks/fw/executors/t1/runs/latest","offset":0}}`, proto); code != 400 {
				t.Errorf("READ_FILE of a directory: %d %v", code, m)
			}
			if code, m = operatorPost(t, a, `{"type":"READ_FILE","read_file":{"path":"/frameworks/fw/executors/t1/runs/latest/../../../../../../etc/passwd","offset":0}}`, proto); code != 400 {
				t.Errorf("READ_FILE with ..: %d %v", code, m)
			}
			if code, m = operatorPost(t, a, `{"type":"LIST_FILES","list_files":{"path":"/etc"}}`, proto); code != 404 {
				t.Errorf("LIST_FILES /etc: %d %v", code, m)
			}
			for _, call := range []string{"LAUNCH_NESTED_CONTAINER_SESSION", "ATTACH_CONTAINER_OUTPUT", "KILL_NESTED_CONTAINER", "SET_LOGGING_LEVEL", "PRUNE_IMAGES"} {
				code, m := operatorPost(t, a, `{"type":"`+call+`"}`, proto)
				if msg, _ := m["message"].(string); code != 400 || !strings.Contains(msg, call) {
					t.Errorf("%s: %d %v, want 400 naming it", call, code, m)
				}
			}
		}
		if code, m := operatorPost(t, a, `{"type":"NO_SUCH_CALL"}`, false); code != 400 {
			t.Errorf("unknown call: %d %v", code, m)
		}
		// Neither JSON nor protobuf: 415 and 406.
		req := httptest.NewRequest(http.MethodPost, "/slave(1)/api/v1", strings.NewReader(`{"type":"GET_HEALTH"}`))
		req.Header.Set("Content-Type", "text/plain")
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusUnsupportedMediaType {
			t.Errorf("text/plain call: %d", rec.Code)
		}
		req = httptest.NewRequest(http.MethodPost, "/slave(1)/api/v1", strings.NewReader(`{"type":"GET_HEALTH"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/html")
		rec = httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotAcceptable {
			t.Errorf("Accept text/html: %d", rec.Code)
		}
	})
}
