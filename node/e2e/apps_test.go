package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// Marathon-style JSON through /v2 on one real node: a 2-instance sleep app
// scaled 2→5→1, a python3 http.server app that becomes healthy through its
// HTTP check, a busybox-image app; deleting them leaves no container.
func TestAppsLifecycle(t *testing.T) {
	n := appStartNode(t, "")
	py := appPython(t)

	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/sleep", "cmd": "sleep 6001", "instances": 2, "cpus": 0.05, "mem": 16}`, 201)
	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{
		"id": "/e2e/web", "cmd": "%s -m http.server $PORT0", "instances": 1, "cpus": 0.1, "mem": 64,
		"portDefinitions": [{"port": 0, "name": "http"}],
		"healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 10,
			"intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 3}]}`, py), 201)

	bb := busyboxTar(t)
	imp := exec.Command(bin, "image", "import", "--work-dir", n.dir, bb, "test/busybox:1")
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/boxed", "cmd": "echo in-busybox; sleep 6002",
		"container": {"type": "MESOS", "docker": {"image": "test/busybox:1"}}, "cpus": 0.05, "mem": 16}`, 201)

	appWaitRunning(t, n, "/e2e/sleep", 2, false, 30*time.Second)
	web := appWaitRunning(t, n, "/e2e/web", 1, true, 30*time.Second)
	if web.TasksUnhealthy != 0 {
		t.Errorf("web: tasksUnhealthy %d", web.TasksUnhealthy)
	}
	// The health check saw the real server: it answers on the task's port.
	tk := appTasks(n, "/e2e/web")
	if len(tk) != 1 || len(tk[0].Ports) != 1 || len(tk[0].HealthCheckResults) != 1 || !tk[0].HealthCheckResults[0].Alive {
		t.Fatalf("web task: %+v", tk)
	}
	resp, err := appHTTP.Get(fmt.Sprintf("http://127.0.0.1:%d/", tk[0].Ports[0]))
	if err != nil {
		t.Fatalf("web task does not serve: %v", err)
	}
	resp.Body.Close()
	appWaitRunning(t, n, "/e2e/boxed", 1, false, 60*time.Second)
	waitFor(t, 10*time.Second, "busybox task output", func() bool { return findFile(n.dir, "stdout", "in-busybox") != "" })

	// Scale 2 → 5 → 1 with a PUT of instances only: the surviving tasks stay.
	before := appTaskIDs(n, "/e2e/sleep")
	appMust(t, n, "PUT", "/v2/apps/e2e/sleep", `{"instances": 5}`, 200)
	appWaitRunning(t, n, "/e2e/sleep", 5, false, 30*time.Second)
	five := appTaskIDs(n, "/e2e/sleep")
	for _, id := range before {
		if !slices.Contains(five, id) {
			t.Errorf("scale up replaced task %s: %v", id, five)
		}
	}
	if got := len(pidsOf("sleep 6001")); got != 5 {
		t.Errorf("%d 'sleep 6001' processes after scaling to 5", got)
	}
	appMust(t, n, "PUT", "/v2/apps/e2e/sleep", `{"instances": 1}`, 200)
	appWaitRunning(t, n, "/e2e/sleep", 1, false, 30*time.Second)
	if one := appTaskIDs(n, "/e2e/sleep"); len(one) != 1 || !slices.Contains(five, one[0]) {
		t.Errorf("after scaling to 1: %v, want one of %v", one, five)
	}
	waitFor(t, 10*time.Second, "4 sleep processes gone", func() bool { return len(pidsOf("sleep 6001")) == 1 })

	// Delete removes every task: no app, no task, no container left.
	for _, id := range []string{"/e2e/sleep", "/e2e/web", "/e2e/boxed"} {
		appMust(t, n, "DELETE", "/v2/apps"+id, "", 200)
		if code, _ := appDo(t, n, "GET", "/v2/apps"+id, ""); code != 404 {
			t.Errorf("GET %s after DELETE: %d, want 404", id, code)
		}
	}
	waitFor(t, 30*time.Second, "every app task gone", func() bool {
		var r struct{ Tasks []appTask }
		return getJSON(n.url()+"/v2/tasks", &r) == nil && len(r.Tasks) == 0
	})
	waitFor(t, 30*time.Second, "every container gone", func() bool { return appMonitors(n.dir) == 0 })
	if p := pidsOf("sleep 6001"); len(p) != 0 {
		t.Errorf("sleep processes left: %v", p)
	}
}

// Invalid definitions get Marathon's 422 with the offending path in
// details; malformed JSON a 400; an unknown app a 404.
func TestAppsInvalidDefinitions(t *testing.T) {
	n := appStartNode(t, "")
	for _, c := range []struct{ name, body, path string }{
		{"cmd and args", `{"id": "/bad/both", "cmd": "sleep 1", "args": ["sleep", "1"]}`, "/cmd"},
		{"negative instances", `{"id": "/bad/neg", "cmd": "sleep 1", "instances": -1}`, "/instances"},
		{"unknown operator", `{"id": "/bad/op", "cmd": "sleep 1", "constraints": [["hostname", "SOMETIMES"]]}`, "/constraints/0"},
		{"bad id", `{"id": "/Bad_ID!", "cmd": "sleep 1"}`, "/id"},
	} {
		code, b := appDo(t, n, "POST", "/v2/apps", c.body)
		var r struct {
			Message string
			Details []struct {
				Path   string
				Errors []string
			}
		}
		if err := json.Unmarshal(b, &r); err != nil || code != 422 || r.Message == "" {
			t.Errorf("%s: %d %s, want 422 with a message", c.name, code, b)
			continue
		}
		found := false
		for _, d := range r.Details {
			found = found || d.Path == c.path && len(d.Errors) > 0
		}
		if !found {
			t.Errorf("%s: details %+v lack path %s", c.name, r.Details, c.path)
		}
	}
	if code, b := appDo(t, n, "POST", "/v2/apps", `{"id": `); code != 400 || !strings.Contains(string(b), "message") {
		t.Errorf("malformed JSON: %d %s, want 400 with a message", code, b)
	}
	if code, b := appDo(t, n, "GET", "/v2/apps/no/such", ""); code != 404 || !strings.Contains(string(b), "does not exist") {
		t.Errorf("unknown app: %d %s, want 404", code, b)
	}
	var list struct{ Apps []appInfo }
	if err := getJSON(n.url()+"/v2/apps", &list); err != nil || len(list.Apps) != 0 {
		t.Errorf("invalid definitions were stored: %+v (%v)", list.Apps, err)
	}
}
