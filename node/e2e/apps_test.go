package e2e

import (
	"encoding/json"
	"fmt"
	"os"
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
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	py := appPython(t)

	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/sleep", "cmd": "sleep `+appMark(6001)+`", "instances": 2, "cpus": 0.05, "mem": 16}`, 201)
	// Two checks, both must pass: HTTP on the port, and a COMMAND check that
	// only passes inside the task's container (its private /tmp).
	marker := fmt.Sprintf("/tmp/nodectl-e2e-web-%d", time.Now().UnixNano())
	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{
		"id": "/e2e/web", "cmd": "touch %s && exec %s -m http.server $PORT0", "instances": 1, "cpus": 0.1, "mem": 64,
		"portDefinitions": [{"port": 0, "name": "http"}],
		"healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 10,
			"intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3},
			{"protocol": "COMMAND", "command": {"value": "test -f %s"}, "gracePeriodSeconds": 10,
			"intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3}]}`, marker, py, marker), 201)

	bb := busyboxTar(t)
	imp := exec.Command(bin, "image", "import", "--work-dir", n.dir, bb, "test/busybox:1")
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/boxed", "cmd": "echo in-busybox; sleep `+appMark(6002)+`",
		"container": {"type": "MESOS", "docker": {"image": "test/busybox:1"}}, "cpus": 0.05, "mem": 16,
		"healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -d /mnt/mesos/sandbox && test -x /bin/busybox"},
			"intervalSeconds": 1, "timeoutSeconds": 2, "gracePeriodSeconds": 10}]}`, 201)

	appWaitRunning(t, n, "/e2e/sleep", 2, false, 30*time.Second)
	web := appWaitRunning(t, n, "/e2e/web", 1, true, 30*time.Second)
	if web.TasksUnhealthy != 0 {
		t.Errorf("web: tasksUnhealthy %d", web.TasksUnhealthy)
	}
	// The health check saw the real server: it answers on the task's port.
	tk := appTasks(n, "/e2e/web")
	// One result per health check (HTTP and COMMAND), each alive.
	if len(tk) != 1 || len(tk[0].Ports) != 1 || len(tk[0].HealthCheckResults) != 2 || !tk[0].HealthCheckResults[0].Alive || !tk[0].HealthCheckResults[1].Alive {
		t.Fatalf("web task: %+v", tk)
	}
	resp, err := appHTTP.Get(fmt.Sprintf("http://127.0.0.1:%d/", tk[0].Ports[0]))
	if err != nil {
		t.Fatalf("web task does not serve: %v", err)
	}
	resp.Body.Close()
	appWaitRunning(t, n, "/e2e/boxed", 1, true, 60*time.Second)
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("%s exists on the host: the web task has no private /tmp, so the COMMAND check proves nothing", marker)
	}
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
	// RUNNING comes when the container's shell starts; it execs sleep soon after.
	waitFor(t, 10*time.Second, "5 'sleep "+appMark(6001)+"' processes", func() bool { return len(pidsOf("sleep "+appMark(6001))) == 5 })
	appMust(t, n, "PUT", "/v2/apps/e2e/sleep", `{"instances": 1}`, 200)
	appWaitRunning(t, n, "/e2e/sleep", 1, false, 30*time.Second)
	if one := appTaskIDs(n, "/e2e/sleep"); len(one) != 1 || !slices.Contains(five, one[0]) {
		t.Errorf("after scaling to 1: %v, want one of %v", one, five)
	}
	waitFor(t, 10*time.Second, "4 sleep processes gone", func() bool { return len(pidsOf("sleep "+appMark(6001))) == 1 })

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
	if p := pidsOf("sleep " + appMark(6001)); len(p) != 0 {
		t.Errorf("sleep processes left: %v", p)
	}
}

// Invalid definitions get Marathon's 422 with the offending path in
// details; malformed JSON a 400; an unknown app a 404.
func TestAppsInvalidDefinitions(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
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

// A rolling restart of a health-checked app never has fewer than
// ⌈minimumHealthCapacity × instances⌉ healthy tasks, as seen on the event
// stream, and ends with all tasks replaced and healthy.
func TestAppsRollingRestartKeepsCapacity(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	py := appPython(t)
	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{
		"id": "/e2e/roll", "cmd": "%s -m http.server $PORT0", "instances": 3, "cpus": 0.1, "mem": 64,
		"healthChecks": [{"protocol": "HTTP", "path": "/", "gracePeriodSeconds": 10, "intervalSeconds": 1,
			"timeoutSeconds": 2, "maxConsecutiveFailures": 3}],
		"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}}`, py), 201)
	appWaitRunning(t, n, "/e2e/roll", 3, true, 30*time.Second)
	old := appTaskIDs(n, "/e2e/roll")

	ev := appEvents(t, n)
	var dep struct{ DeploymentID string }
	if err := json.Unmarshal(appMust(t, n, "POST", "/v2/apps/e2e/roll/restart", "", 200), &dep); err != nil || dep.DeploymentID == "" {
		t.Fatalf("restart: no deployment id (%v)", err)
	}
	waitFor(t, 60*time.Second, "deployment_success of the restart", func() bool {
		for _, e := range ev.of("deployment_success") {
			if e.str("id") == dep.DeploymentID {
				return true
			}
		}
		return false
	})

	// Replay the stream: the healthy set starts as the old tasks.
	const minHealthy = 2 // ⌈0.5 × 3⌉
	healthySet := map[string]bool{}
	for _, id := range old {
		healthySet[id] = true
	}
	low, changes := len(healthySet), 0
	for _, e := range ev.all() {
		id := e.str("taskId")
		switch e.Type {
		case "health_status_changed_event":
			alive, _ := e.Data["alive"].(bool)
			if alive {
				healthySet[id] = true
			} else {
				delete(healthySet, id)
			}
		case "status_update_event":
			if e.str("taskStatus") != "TASK_RUNNING" {
				delete(healthySet, id)
			}
		default:
			continue
		}
		changes++
		if len(healthySet) < minHealthy {
			t.Fatalf("only %d healthy tasks after %s %s %s (want ≥ %d)", len(healthySet), e.Type, id, e.str("taskStatus"), minHealthy)
		}
		low = min(low, len(healthySet))
	}
	if low != minHealthy {
		t.Errorf("the restart went down to %d healthy tasks, want exactly %d (one at a time)", low, minHealthy)
	}
	now := appTaskIDs(n, "/e2e/roll")
	if len(now) != 3 || len(healthySet) != 3 {
		t.Fatalf("after the restart: tasks %v, healthy per the stream %v", now, healthySet)
	}
	for _, id := range now {
		if slices.Contains(old, id) || !healthySet[id] {
			t.Errorf("task %s: old %v, healthy %v", id, slices.Contains(old, id), healthySet[id])
		}
	}
	t.Logf("%d health/status events, lowest healthy count %d", changes, low)
}

// A crash-looping app is relaunched after backoffSeconds × backoffFactorⁿ,
// capped at maxLaunchDelaySeconds, and lastTaskFailure says why.
func TestAppsCrashBackoff(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	ev := appEvents(t, n)
	// Delays 0.5 s, then × 3 capped at 1.5 s: 0.5, 1.5, 1.5, 1.5 (uncapped
	// 4.5 and 13.5 would show).
	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/crash", "cmd": "echo crashing >&2; exit 3", "cpus": 0.05, "mem": 16,
		"backoffSeconds": 0.5, "backoffFactor": 3, "maxLaunchDelaySeconds": 1.5}`, 201)
	want := []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond}
	var gaps []time.Duration
	waitFor(t, 30*time.Second, fmt.Sprintf("%d relaunches", len(want)), func() bool {
		gaps = gaps[:0]
		var failedAt time.Time
		for _, e := range ev.of("status_update_event") {
			switch e.str("taskStatus") {
			case "TASK_FAILED":
				failedAt = e.stamped()
			case "TASK_RUNNING":
				if !failedAt.IsZero() {
					gaps = append(gaps, e.stamped().Sub(failedAt))
					failedAt = time.Time{}
				}
			}
		}
		return len(gaps) >= len(want)
	})
	for i, w := range want {
		// The relaunch waits the delay, then for the next tick, offer and
		// container start: allow 2.5 s on top on a loaded machine.
		if gaps[i] < w-100*time.Millisecond || gaps[i] > w+2500*time.Millisecond {
			t.Errorf("relaunch %d came %s after the failure, want %s", i+1, gaps[i].Round(time.Millisecond), w)
		}
	}
	t.Logf("relaunch gaps %v", gaps[:len(want)])
	a, ok := appGet(n, "/e2e/crash")
	if !ok || a.LastTaskFailure == nil {
		t.Fatalf("no lastTaskFailure: %+v", a)
	}
	if f := a.LastTaskFailure; f.State != "TASK_FAILED" || !strings.Contains(f.Message, "3") || f.TaskID == "" {
		t.Errorf("lastTaskFailure %+v, want TASK_FAILED with the exit status", f)
	}
}

// An app whose health check keeps failing gets its task killed by the
// agent and replaced; lastTaskFailure says it was the health check.
func TestAppsFailingHealthCheckReplaced(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	ev := appEvents(t, n)
	// The first check passes; nothing listens on the task's port, so every
	// probe of the second fails: every check counts, not just the first.
	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/sick", "cmd": "sleep `+appMark(6004)+`", "cpus": 0.05, "mem": 16, "backoffSeconds": 0.2,
		"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "intervalSeconds": 1, "timeoutSeconds": 2},
			{"protocol": "HTTP", "portIndex": 0, "gracePeriodSeconds": 1, "intervalSeconds": 1,
			"timeoutSeconds": 1, "maxConsecutiveFailures": 2}]}`, 201)
	var first string
	waitFor(t, 30*time.Second, "first task running", func() bool {
		ids := appTaskIDs(n, "/e2e/sick")
		if len(ids) == 1 {
			first = ids[0]
		}
		return first != ""
	})
	waitFor(t, 30*time.Second, "the first task killed and a replacement running", func() bool {
		killed := false
		for _, e := range ev.of("status_update_event") {
			killed = killed || e.str("taskId") == first && e.str("taskStatus") == "TASK_KILLED"
		}
		tk := appTasks(n, "/e2e/sick")
		return killed && len(tk) == 1 && tk[0].ID != first && tk[0].State == "TASK_RUNNING"
	})
	unhealthy := false
	for _, e := range ev.of("health_status_changed_event") {
		alive, _ := e.Data["alive"].(bool)
		unhealthy = unhealthy || e.str("taskId") == first && !alive
	}
	if !unhealthy {
		t.Errorf("no health_status_changed_event alive=false for %s", first)
	}
	for _, typ := range []string{"failed_health_check_event", "unhealthy_task_kill_event"} {
		seen := false
		for _, e := range ev.of(typ) {
			seen = seen || e.str("taskId") == first && e.str("appId") == "/e2e/sick"
		}
		if !seen {
			t.Errorf("no %s for %s", typ, first)
		}
	}
	changed := false
	for _, e := range ev.of("instance_changed_event") {
		changed = changed || e.str("instanceId") == first && e.str("condition") == "Killed"
	}
	if !changed {
		t.Errorf("no instance_changed_event with condition Killed for %s", first)
	}
	a, _ := appGet(n, "/e2e/sick")
	if f := a.LastTaskFailure; f == nil || f.TaskID != first || !strings.Contains(strings.ToLower(f.Message), "health") {
		t.Errorf("lastTaskFailure %+v, want the health check kill of %s", f, first)
	}
}
