package cluster

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
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
// field in Mesos' shape; other calls answer 400 naming the call; text is
// 415.
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
	for typ, want := range map[string]string{"SET_LOGGING_LEVEL": "SET_LOGGING_LEVEL is not supported", "GET_NONSENSE": `unknown operator call "GET_NONSENSE"`} {
		if code, out := operatorPost(t, mux, typ, "application/json"); code != 400 || !strings.Contains(out["message"].(string), want) {
			t.Errorf("%s: %d %v", typ, code, out)
		}
	}
	if code, _ := operatorPost(t, mux, "GET_HEALTH", "text/plain"); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", code)
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

// operatorProto posts a master Call in protobuf, asking for accept.
func operatorProto(t *testing.T, h http.Handler, js, accept string) *httptest.ResponseRecorder {
	t.Helper()
	body, err := mesospb.FromJSON(mesospb.OperatorCall, []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", mesospb.MediaProtobuf)
	req.Header.Set("Accept", accept)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The operator API in protobuf: every call with a declared response
// answers protobuf that decodes to what JSON says; the others 406 in
// protobuf and answer JSON to a protobuf call that accepts JSON.
func TestOperatorAPIProtobuf(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Flags = map[string]string{"gc-delay": "1weeks"} })
	agentID := h.agent("a1", "cpus:4;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{User: "root", Role: "web"})
	fw.launch(fw.offer(), mkTask("t1", "cpus:1;mem:64"))
	mux := h.m.routes()
	for typ := range h.m.operatorHandlers() {
		rec := operatorProto(t, mux, `{"type":"`+typ+`"}`, mesospb.MediaProtobuf)
		if !operatorProtobuf[typ] {
			if rec.Code != http.StatusNotAcceptable || !strings.Contains(rec.Body.String(), typ) {
				t.Errorf("%s in protobuf: %d %s", typ, rec.Code, rec.Body)
			}
			if rec = operatorProto(t, mux, `{"type":"`+typ+`"}`, "application/json"); rec.Code != 200 {
				t.Errorf("%s as JSON to a protobuf call: %d %s", typ, rec.Code, rec.Body)
			}
			continue
		}
		if rec.Code != 200 || rec.Header().Get("Content-Type") != mesospb.MediaProtobuf {
			t.Fatalf("%s: %d %v %s", typ, rec.Code, rec.Header(), rec.Body)
		}
		js, err := mesospb.ToJSON(mesospb.OperatorResponse, rec.Body.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		var out map[string]any
		if err := json.Unmarshal(js, &out); err != nil || out["type"] != typ {
			t.Errorf("%s: %s", typ, js)
		}
		if typ == "GET_AGENTS" && !strings.Contains(string(js), `"value":"`+agentID+`"`) {
			t.Errorf("GET_AGENTS: %s", js)
		}
		if typ == "GET_HEALTH" && !strings.Contains(string(js), `"healthy":true`) {
			t.Errorf("GET_HEALTH: %s", js)
		}
	}
	// A body nodectl does not declare (field 999 is no Mesos field).
	body, _ := mesospb.FromJSON(mesospb.OperatorCall, []byte(`{"type":"LIST_FILES"}`))
	body = append(protowire.AppendTag(body, 999, protowire.BytesType), 0)
	req := httptest.NewRequest("POST", "/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", mesospb.MediaProtobuf)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "field 999 of mesos.v1.master.Call") {
		t.Errorf("undeclared field: %d %s", rec.Code, rec.Body)
	}
}
