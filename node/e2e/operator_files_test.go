package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api/mesospb"
)

// TestOperatorAgentAndMasterFiles, on one --role=all node: a running
// task's sandbox is browsed and read through the master's /files under
// /slave/<agent-id>/..., and through the agent's operator API proxied by
// the master (POST /agents/<id>/api/v1) in JSON and protobuf; the master's
// GET_STATE and GET_TASKS answer protobuf. An anonymous caller gets 401;
// an app-scoped principal reads its own app's sandbox and gets 403 for
// another app's and for the agent's unfiltered state.
func TestOperatorAgentAndMasterFiles(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	appMust(t, n, "POST", "/auth/users", `{"principal":"alice","secret":"alice-secret-0001","apps":["/team-a"]}`, 201)
	appMust(t, n, "POST", "/v2/apps", `{"id":"/team-a/web","cmd":"echo hello-from-team-a; sleep 3000","cpus":0.01,"mem":16}`, 201)
	appMust(t, n, "POST", "/v2/apps", `{"id":"/team-b/db","cmd":"echo hello-from-team-b; sleep 3000","cpus":0.01,"mem":16}`, 201)
	appWaitRunning(t, n, "/team-a/web", 1, false, 2*time.Minute)
	appWaitRunning(t, n, "/team-b/db", 1, false, 2*time.Minute)
	var st struct {
		Frameworks []struct {
			ID    string `json:"id"`
			Tasks []struct {
				ID      string `json:"id"`
				SlaveID string `json:"slave_id"`
			} `json:"tasks"`
		} `json:"frameworks"`
	}
	if err := getJSON(n.url()+"/state", &st); err != nil {
		t.Fatal(err)
	}
	sandbox := map[string]string{} // app → its sandbox under /slave/<agent-id>
	agentID := ""
	for _, f := range st.Frameworks {
		for _, tk := range f.Tasks {
			for _, app := range []string{"team-a_web", "team-b_db"} {
				if strings.HasPrefix(tk.ID, app+".") {
					sandbox[app] = "/frameworks/" + f.ID + "/executors/" + tk.ID + "/runs/latest"
					agentID = tk.SlaveID
				}
			}
		}
	}
	if len(sandbox) != 2 || agentID == "" {
		t.Fatalf("tasks not in /state: %+v", st)
	}
	admin := &http.Client{Timeout: 30 * time.Second}
	alice := anonClient(t, n)
	anon := anonClient(t, n)
	do := func(c *http.Client, user, method, path, ctype, accept string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, n.url()+path, bytes.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, user+"-secret-0001")
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	// The master's /files over the agent's sandbox.
	master := "/slave/" + agentID + sandbox["team-a_web"]
	waitFor(t, 30*time.Second, "the task's stdout through the master's /files/read", func() bool {
		code, b := do(admin, "", "GET", "/files/read?path="+master+"/stdout&offset=0", "", "", nil)
		return code == 200 && strings.Contains(string(b), "hello-from-team-a")
	})
	code, b := do(admin, "", "GET", "/files/browse?path="+master, "", "", nil)
	if code != 200 || !strings.Contains(string(b), `"path":"`+master+`/stdout"`) {
		t.Errorf("master /files/browse of the sandbox: %d %s", code, b)
	}
	code, b = do(alice, "alice", "GET", "/files/read?path="+master+"/stdout&offset=0", "", "", nil)
	if code != 200 || !strings.Contains(string(b), "hello-from-team-a") {
		t.Errorf("alice reads her app's stdout through /files: %d %s", code, b)
	}
	other := "/slave/" + agentID + sandbox["team-b_db"]
	if code, b = do(alice, "alice", "GET", "/files/read?path="+other+"/stdout&offset=0", "", "", nil); code != 403 {
		t.Errorf("alice reads team-b's stdout through /files: %d %s, want 403", code, b)
	}
	agentLog := "/files/read?path=/slave/" + agentID + "/slave/log&offset=0&length=100"
	// No --log-dir here: the agent has no log file, and says so.
	if code, b = do(admin, "", "GET", agentLog, "", "", nil); code != 404 || !strings.Contains(string(b), "No file or directory found at path '/slave/log'") {
		t.Errorf("admin reads the agent's (absent) log through the master's /files: %d %s", code, b)
	}
	if code, b = do(alice, "alice", "GET", agentLog, "", "", nil); code != 403 {
		t.Errorf("alice reads the agent's log: %d %s, want 403", code, b)
	}
	if code, b = do(anon, "", "GET", "/files/browse?path="+master, "", "", nil); code != 401 {
		t.Errorf("anonymous /files/browse: %d %s, want 401", code, b)
	}

	// The agent's operator API through the master, JSON and protobuf.
	agentAPI := "/agents/" + agentID + "/api/v1"
	call := func(c *http.Client, user, js string, proto bool) (int, map[string]any) {
		t.Helper()
		body, ctype := []byte(js), mesospb.MediaJSON
		if proto {
			var err error
			if body, err = mesospb.FromJSON(mesospb.AgentCall, body); err != nil {
				t.Fatal(err)
			}
			ctype = mesospb.MediaProtobuf
		}
		code, b := do(c, user, "POST", agentAPI, ctype, ctype, body)
		if proto && code == 200 {
			var err error
			if b, err = mesospb.ToJSON(mesospb.AgentResponse, b); err != nil {
				t.Fatalf("%s: %v", js, err)
			}
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return code, m
	}
	readFile := `{"type":"READ_FILE","read_file":{"path":"` + sandbox["team-a_web"] + `/stdout","offset":0}}`
	for _, proto := range []bool{false, true} {
		code, m := call(admin, "", `{"type":"GET_TASKS"}`, proto)
		if js, _ := json.Marshal(m); code != 200 || !strings.Contains(string(js), "team-a_web.") || !strings.Contains(string(js), "team-b_db.") {
			t.Errorf("agent GET_TASKS (proto %v): %d %s", proto, code, js)
		}
		code, m = call(admin, "", `{"type":"GET_STATE"}`, proto)
		if code != 200 || m["get_state"] == nil {
			t.Errorf("agent GET_STATE (proto %v): %d %v", proto, code, m)
		}
		code, m = call(admin, "", `{"type":"GET_CONTAINERS"}`, proto)
		if cs, _ := m["get_containers"].(map[string]any)["containers"].([]any); code != 200 || len(cs) != 2 {
			t.Errorf("agent GET_CONTAINERS (proto %v): %d %v", proto, code, m)
		}
		code, m = call(admin, "", `{"type":"LIST_FILES","list_files":{"path":"`+sandbox["team-a_web"]+`"}}`, proto)
		if js, _ := json.Marshal(m); code != 200 || !strings.Contains(string(js), sandbox["team-a_web"]+"/stdout") {
			t.Errorf("agent LIST_FILES (proto %v): %d %s", proto, code, js)
		}
		for _, who := range []struct {
			c    *http.Client
			user string
		}{{admin, ""}, {alice, "alice"}} {
			code, m = call(who.c, who.user, readFile, proto)
			rf, _ := m["read_file"].(map[string]any)
			s, _ := rf["data"].(string)
			data, _ := base64.StdEncoding.DecodeString(s)
			if code != 200 || !strings.Contains(string(data), "hello-from-team-a") {
				t.Errorf("agent READ_FILE by %q (proto %v): %d %v", who.user, proto, code, m)
			}
		}
		if code, m = call(admin, "", `{"type":"LAUNCH_NESTED_CONTAINER_SESSION"}`, proto); code != 400 || !strings.Contains(m["message"].(string), "nodectl exec") {
			t.Errorf("agent LAUNCH_NESTED_CONTAINER_SESSION (proto %v): %d %v", proto, code, m)
		}
	}
	if code, m := call(alice, "alice", `{"type":"READ_FILE","read_file":{"path":"`+sandbox["team-b_db"]+`/stdout","offset":0}}`, false); code != 403 {
		t.Errorf("alice READ_FILE of team-b's sandbox: %d %v, want 403", code, m)
	}
	if code, m := call(alice, "alice", `{"type":"GET_STATE"}`, false); code != 403 {
		t.Errorf("alice agent GET_STATE: %d %v, want 403", code, m)
	}
	if code, m := call(alice, "alice", `{"type":"GET_HEALTH"}`, false); code != 200 {
		t.Errorf("alice agent GET_HEALTH: %d %v", code, m)
	}
	if code, _ := call(anon, "", `{"type":"GET_HEALTH"}`, false); code != 401 {
		t.Errorf("anonymous agent GET_HEALTH: %d, want 401", code)
	}

	// The master's LIST_FILES/READ_FILE and its state calls in protobuf.
	mcall := func(js string) map[string]any {
		t.Helper()
		body, err := mesospb.FromJSON(mesospb.OperatorCall, []byte(js))
		if err != nil {
			t.Fatal(err)
		}
		code, b := do(admin, "", "POST", "/api/v1", mesospb.MediaProtobuf, mesospb.MediaProtobuf, body)
		if code != 200 {
			t.Fatalf("master %s: %d %s", js, code, b)
		}
		if b, err = mesospb.ToJSON(mesospb.OperatorResponse, b); err != nil {
			t.Fatalf("master %s: %v", js, err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	for _, typ := range []string{"GET_STATE", "GET_TASKS"} {
		m := mcall(`{"type":"` + typ + `"}`)
		if js, _ := json.Marshal(m); !strings.Contains(string(js), "team-a_web.") || !strings.Contains(string(js), `"TASK_RUNNING"`) {
			t.Errorf("master %s in protobuf: %s", typ, js)
		}
	}
	m := mcall(`{"type":"READ_FILE","read_file":{"path":"` + master + `/stdout","offset":0}}`)
	rf, _ := m["read_file"].(map[string]any)
	s, _ := rf["data"].(string)
	if data, _ := base64.StdEncoding.DecodeString(s); !strings.Contains(string(data), "hello-from-team-a") {
		t.Errorf("master READ_FILE of the sandbox: %v", m)
	}
	m = mcall(`{"type":"LIST_FILES","list_files":{"path":"` + master + `"}}`)
	if js, _ := json.Marshal(m); !strings.Contains(string(js), master+"/stdout") {
		t.Errorf("master LIST_FILES of the sandbox: %s", js)
	}
}
