package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

// The master's /files and its LIST_FILES/READ_FILE reach an agent's files
// under /slave/<agent-id>: the request goes to the agent with the agent's
// own path, and a listing comes back under /slave/<agent-id>.
func TestFilesAgentPaths(t *testing.T) {
	h := newHarness(t)
	logFile := filepath.Join(t.TempDir(), "nodectl-master.log")
	if err := os.WriteFile(logFile, []byte("master line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sandbox := "/frameworks/f/executors/e/runs/latest"
	// A stand-in agent: its files API and its operator API.
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
			w.WriteHeader(http.StatusTeapot) // the caller's credentials reached the agent
			return
		}
		p := r.URL.Query().Get("path")
		switch r.URL.Path {
		case "/files/browse":
			if p != sandbox {
				w.WriteHeader(404)
				_, _ = w.Write([]byte(`{"message":"No file or directory found at path '` + p + `'"}`))
				return
			}
			_ = json.NewEncoder(w).Encode([]api.FileInfo{{Path: sandbox + "/stdout", Size: 5, Mode: "-rw-r--r--"}})
		case "/files/read":
			_, _ = w.Write([]byte(`{"data":"read ` + p + `","offset":0}`))
		case "/api/v1":
			b, _ := io.ReadAll(r.Body)
			var call map[string]map[string]any
			_ = json.Unmarshal(b, &call)
			switch {
			case call["list_files"] != nil:
				_, _ = w.Write([]byte(`{"type":"LIST_FILES","list_files":{"file_infos":[{"path":"` + call["list_files"]["path"].(string) + `/stdout","size":5,"mode":33188,"mtime":{"nanoseconds":1}}]}}`))
			case call["read_file"] != nil:
				_, _ = w.Write([]byte(`{"type":"READ_FILE","read_file":{"size":5,"data":"` + base64.StdEncoding.EncodeToString([]byte(call["read_file"]["path"].(string))) + `"}}`))
			}
		default:
			w.WriteHeader(404)
		}
	}))
	defer agentSrv.Close()
	ip, port, _ := net.SplitHostPort(agentSrv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	rs, _ := api.ParseResources("cpus:1;mem:64")
	resp, err := h.m.register(api.RegisterRequest{Agent: api.AgentInfo{Hostname: "live", IP: ip, Port: p, Resources: rs}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.AgentID
	fh := h.m.FilesHandler(logFile)
	for _, tc := range []struct {
		url  string
		code int
		body string
	}{
		{"/files/browse?path=/slave/" + id + sandbox, 200, `"path":"/slave/` + id + sandbox + `/stdout"`},
		{"/master/files/browse.json?path=/slave/" + id + sandbox, 200, `"path":"/slave/` + id + sandbox + `/stdout"`},
		{"/files/browse?path=/slave/" + id + "/nothing", 404, "No file or directory"},
		{"/files/read?path=/slave/" + id + sandbox + "/stdout&offset=0", 200, `"data":"read ` + sandbox + `/stdout"`},
		{"/files/browse?path=/slave/nope" + sandbox, 404, "unknown agent 'nope'"},
		{"/files/browse?path=/slave/" + id + "/../etc", 400, "Path must not contain '..'"},
		{"/files/read?offset=0", 400, "Expecting 'path=value' in query."},
		{"/files/debug", 200, `"/master/log":"` + logFile + `"`},
		{"/files/debug.json", 200, `"/master/log"`},
		{"/files/read.json?path=/master/log&offset=0", 200, "master line"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.url, nil)
		req.SetBasicAuth("alice", "secret")
		req.Header.Set("Cookie", "nodectl_session=x")
		fh.ServeHTTP(rec, req)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("GET %s: %d %s; want %d containing %s", tc.url, rec.Code, rec.Body, tc.code, tc.body)
		}
	}

	// The operator API's LIST_FILES and READ_FILE, in JSON and protobuf.
	mux := h.m.routes()
	call := func(js string, proto bool) (int, map[string]any) {
		t.Helper()
		body, ctype := []byte(js), mesospb.MediaJSON
		if proto {
			if body, err = mesospb.FromJSON(mesospb.OperatorCall, body); err != nil {
				t.Fatal(err)
			}
			ctype = mesospb.MediaProtobuf
		}
		req := httptest.NewRequest("POST", "/api/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Accept", ctype)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		out := rec.Body.Bytes()
		if proto && rec.Code == 200 {
			if out, err = mesospb.ToJSON(mesospb.OperatorResponse, out); err != nil {
				t.Fatal(err)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s: %d %s", js, rec.Code, out)
		}
		return rec.Code, m
	}
	for _, proto := range []bool{false, true} {
		code, m := call(`{"type":"LIST_FILES","list_files":{"path":"/slave/`+id+sandbox+`"}}`, proto)
		if code != 200 || dig(m, "list_files", "file_infos", 0, "path") != "/slave/"+id+sandbox+"/stdout" || dig(m, "list_files", "file_infos", 0, "mode") != float64(33188) {
			t.Errorf("LIST_FILES on the agent (proto %v): %d %v", proto, code, m)
		}
		code, m = call(`{"type":"READ_FILE","read_file":{"path":"/slave/`+id+sandbox+`/stdout","offset":0}}`, proto)
		s, _ := dig(m, "read_file", "data").(string)
		data, _ := base64.StdEncoding.DecodeString(s)
		if code != 200 || string(data) != sandbox+"/stdout" {
			t.Errorf("READ_FILE on the agent (proto %v): %d %v", proto, code, m)
		}
		code, m = call(`{"type":"READ_FILE","read_file":{"path":"/master/log","offset":7,"length":4}}`, proto)
		s, _ = dig(m, "read_file", "data").(string)
		data, _ = base64.StdEncoding.DecodeString(s)
		if code != 200 || string(data) != "line" || dig(m, "read_file", "size") != float64(12) {
			t.Errorf("READ_FILE of the master's log (proto %v): %d %v", proto, code, m)
		}
		code, m = call(`{"type":"LIST_FILES","list_files":{"path":"/master/log"}}`, proto)
		if code != 200 || dig(m, "list_files", "file_infos", 0, "path") != "/master/log" {
			t.Errorf("LIST_FILES of the master's log (proto %v): %d %v", proto, code, m)
		}
		if code, m = call(`{"type":"LIST_FILES","list_files":{"path":"/slave/nope/x"}}`, proto); code != 404 {
			t.Errorf("LIST_FILES of an unknown agent: %d %v", code, m)
		}
	}
}

// dig follows keys and indexes through a JSON tree (nil when absent).
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

// The master's state calls in protobuf decode to what their JSON says.
func TestOperatorStateProtobuf(t *testing.T) {
	h := newHarness(t)
	agentID := h.agent("a1", "cpus:4;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{User: "root", Role: "web"})
	fw.launch(fw.offer(), mkTask("t1", "cpus:1;mem:64"))
	mux := h.m.routes()
	start := time.Now().Add(time.Hour)
	if code, out := h.serve("POST", "/api/v1", `{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":`+schedule(window(start, "a1", "a2"))+`}}`); code != 200 {
		t.Fatalf("UPDATE_MAINTENANCE_SCHEDULE: %d %s", code, out)
	}
	if code, out := h.serve("POST", "/api/v1", `{"type":"START_MAINTENANCE","start_maintenance":{"machines":[{"hostname":"a2"}]}}`); code != 200 {
		t.Fatalf("START_MAINTENANCE: %d %s", code, out)
	}
	for _, typ := range []string{"GET_STATE", "GET_TASKS", "GET_EXECUTORS", "GET_OPERATIONS", "GET_WEIGHTS",
		"GET_MAINTENANCE_SCHEDULE", "GET_MAINTENANCE_STATUS"} {
		rec := operatorProto(t, mux, `{"type":"`+typ+`"}`, mesospb.MediaProtobuf)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", typ, rec.Code, rec.Body)
		}
		js, err := mesospb.ToJSON(mesospb.OperatorResponse, rec.Body.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		var pb map[string]any
		_ = json.Unmarshal(js, &pb)
		_, viaJSON := operatorPost(t, mux, typ, "application/json")
		// Everything protobuf says, JSON says too (JSON also has the
		// empty lists protobuf cannot tell from absent).
		if !subtree(pb, viaJSON) {
			t.Errorf("%s: protobuf %s\nJSON %v", typ, js, viaJSON)
		}
		switch typ {
		case "GET_STATE":
			if dig(pb, "get_state", "get_tasks", "tasks", 0, "task_id", "value") != "t1" ||
				dig(pb, "get_state", "get_agents", "agents", 0, "agent_info", "id", "value") != agentID ||
				dig(pb, "get_state", "get_frameworks", "frameworks", 0, "framework_info", "role") != "web" {
				t.Errorf("GET_STATE: %s", js)
			}
		case "GET_TASKS":
			if dig(pb, "get_tasks", "tasks", 0, "state") != "TASK_STAGING" && dig(pb, "get_tasks", "tasks", 0, "state") != "TASK_RUNNING" ||
				dig(pb, "get_tasks", "tasks", 0, "agent_id", "value") != agentID {
				t.Errorf("GET_TASKS: %s", js)
			}
		case "GET_MAINTENANCE_SCHEDULE":
			if dig(pb, "get_maintenance_schedule", "schedule", "windows", 0, "machine_ids", 1, "hostname") != "a2" ||
				dig(pb, "get_maintenance_schedule", "schedule", "windows", 0, "unavailability", "start", "nanoseconds") != float64(start.UnixNano()) {
				t.Errorf("GET_MAINTENANCE_SCHEDULE: %s", js)
			}
		case "GET_MAINTENANCE_STATUS":
			if dig(pb, "get_maintenance_status", "status", "down_machines", 0, "hostname") != "a2" ||
				dig(pb, "get_maintenance_status", "status", "draining_machines", 0, "id", "hostname") != "a1" {
				t.Errorf("GET_MAINTENANCE_STATUS: %s", js)
			}
		case "GET_ROLES":
			if dig(pb, "get_roles", "roles", 0, "name") != "web" {
				t.Errorf("GET_ROLES: %s", js)
			}
		}
	}
}

// subtree says whether every value in a is in b (numbers compared as
// float64).
func subtree(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range x {
			if !subtree(v, y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !subtree(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}
