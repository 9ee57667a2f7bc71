package cluster

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// operatorPost posts a master Call of type typ to /api/v1.
func operatorPost(t *testing.T, h http.Handler, typ, contentType string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/v1", strings.NewReader(`{"type":"`+typ+`"}`))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: %d %q: %v", typ, rec.Code, rec.Body, err)
	}
	return rec.Code, out
}

// TestOperatorAPI: every served GET_* call answers 200 with its response
// field in Mesos' shape; other calls answer 400 naming the call; protobuf
// is 415.
func TestOperatorAPI(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Flags = map[string]string{"gc-delay": "1weeks"} })
	agentID := h.agent("a1", "cpus:4;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{User: "root", Role: "web"})
	fw.launch(fw.offer(), mkTask("t1", "cpus:1;mem:64"))
	mux := h.m.routes()
	for typ := range h.m.operatorHandlers() {
		code, out := operatorPost(t, mux, typ, "application/json")
		if code != 200 || out["type"] != typ || out[strings.ToLower(typ)] == nil {
			t.Errorf("%s: %d %v", typ, code, out)
		}
	}
	get := func(typ string) map[string]any {
		_, out := operatorPost(t, mux, typ, "application/json")
		return out[strings.ToLower(typ)].(map[string]any)
	}
	if v := get("GET_VERSION")["version_info"].(map[string]any)["version"]; v != api.MesosVersion {
		t.Errorf("GET_VERSION version %v", v)
	}
	agents := get("GET_AGENTS")["agents"].([]any)
	if len(agents) != 1 || agents[0].(map[string]any)["agent_info"].(map[string]any)["id"].(map[string]any)["value"] != agentID {
		t.Errorf("GET_AGENTS %v", agents)
	}
	if tasks := get("GET_TASKS")["tasks"].([]any); len(tasks) != 1 || tasks[0].(map[string]any)["task_id"].(map[string]any)["value"] != "t1" {
		t.Errorf("GET_TASKS %v", tasks)
	}
	if fws := get("GET_FRAMEWORKS")["frameworks"].([]any); len(fws) != 1 {
		t.Errorf("GET_FRAMEWORKS %v", fws)
	}
	if roles := get("GET_ROLES")["roles"].([]any); len(roles) != 1 || roles[0].(map[string]any)["name"] != "web" {
		t.Errorf("GET_ROLES %v", roles)
	}
	if flags := get("GET_FLAGS")["flags"].([]any); len(flags) != 1 || flags[0].(map[string]any)["name"] != "gc_delay" {
		t.Errorf("GET_FLAGS %v", flags)
	}
	st := get("GET_STATE")
	for _, k := range []string{"get_tasks", "get_frameworks", "get_agents", "get_executors"} {
		if st[k] == nil {
			t.Errorf("GET_STATE has no %s: %v", k, st)
		}
	}
	if mi := get("GET_MASTER")["master_info"].(map[string]any); mi["ip"] != float64(16777343) || mi["address"].(map[string]any)["ip"] != "127.0.0.1" {
		t.Errorf("GET_MASTER master_info %v", mi)
	}
	for typ, want := range map[string]string{"RESERVE_RESOURCES": "RESERVE_RESOURCES is not supported", "GET_NONSENSE": `unknown operator call "GET_NONSENSE"`} {
		if code, out := operatorPost(t, mux, typ, "application/json"); code != 400 || !strings.Contains(out["message"].(string), want) {
			t.Errorf("%s: %d %v", typ, code, out)
		}
	}
	if code, _ := operatorPost(t, mux, "GET_HEALTH", "application/x-protobuf"); code != http.StatusUnsupportedMediaType {
		t.Errorf("protobuf: %d", code)
	}
	for _, p := range []string{"/flags", "/roles", "/weights", "/quota", "/maintenance/status", "/maintenance/schedule", "/state.json", "/master/state.json", "/tasks.json", "/version"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			t.Errorf("GET %s: %d %s", p, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/system/stats.json", nil))
	var stats map[string]float64
	if err := json.Unmarshal(rec.Body.Bytes(), &stats); rec.Code != 200 || err != nil || stats["cpus_total"] < 1 || stats["mem_total_bytes"] <= 0 {
		t.Errorf("GET /system/stats.json: %d %s", rec.Code, rec.Body)
	}
}
