package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// appVersions is GET /v2/apps/{id}/versions.
func appVersions(t *testing.T, n node, id string) []string {
	t.Helper()
	var r struct{ Versions []string }
	if err := getJSON(n.url()+"/v2/apps"+id+"/versions", &r); err != nil {
		t.Fatalf("versions of %s: %v", id, err)
	}
	return r.Versions
}

// appDeploymentIDs is the ids in GET /v2/deployments.
func appDeploymentIDs(n node) ([]string, bool) {
	var ds []struct{ ID string }
	if getJSON(n.url()+"/v2/deployments", &ds) != nil {
		return nil, false
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids, true
}

// A separate master and agent: kill -9 of the master keeps apps, versions,
// tasks and a running deployment, which then finishes; kill -9 of the
// agent relaunches no task (same task ids, same processes).
func TestAppsSurviveMasterAndAgentRestart(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m := newNode(t)
	masterArgs := m.args("master")
	mp := start(t, masterArgs...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	a := newNode(t)
	agentArgs := a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms",
		"--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")
	ag := start(t, agentArgs...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })

	appMust(t, m, "POST", "/v2/apps", `{"id": "/e2e/keep", "cmd": "sleep `+appMark(6011)+`", "instances": 2, "cpus": 0.05, "mem": 16}`, 201)
	appWaitRunning(t, m, "/e2e/keep", 2, false, 30*time.Second)
	appMust(t, m, "PUT", "/v2/apps/e2e/keep", `{"env": {"V": "2"}}`, 200) // a second version, rolled out
	appWaitRunning(t, m, "/e2e/keep", 2, false, 30*time.Second)
	// Its deployment waits for a health check that passes only once the
	// test drops a file into the task's sandbox.
	appMust(t, m, "POST", "/v2/apps", `{"id": "/e2e/gated", "cmd": "sleep `+appMark(6012)+`", "cpus": 0.05, "mem": 16,
		"healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -f ready"}, "gracePeriodSeconds": 0,
			"intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 0}]}`, 201)
	var gatedPid int
	waitFor(t, 30*time.Second, "gated task running, unhealthy", func() bool {
		g, ok := appGet(m, "/e2e/gated")
		if p := pidsOf("sleep " + appMark(6012)); len(p) == 1 {
			gatedPid = p[0]
		}
		return ok && g.TasksRunning == 1 && g.TasksUnhealthy == 1 && len(g.Deployments) == 1 && gatedPid != 0
	})
	deps, _ := appDeploymentIDs(m)
	if len(deps) != 1 {
		t.Fatalf("deployments %v, want the gated app's", deps)
	}
	keepVersions, gatedVersions := appVersions(t, m, "/e2e/keep"), appVersions(t, m, "/e2e/gated")
	keepTasks, gatedTasks := appTaskIDs(m, "/e2e/keep"), appTaskIDs(m, "/e2e/gated")
	var keepPids []int
	waitFor(t, 10*time.Second, "2 'sleep "+appMark(6011)+"' processes", func() bool { keepPids = pidsOf("sleep " + appMark(6011)); return len(keepPids) == 2 })
	slices.Sort(keepPids)

	// The master dies and comes back.
	mp.kill(syscall.SIGKILL)
	start(t, masterArgs...)
	restarted := time.Now()
	waitFor(t, 60*time.Second, "apps answered by the new master", func() bool {
		_, ok := appGet(m, "/e2e/keep")
		return ok
	})
	ev := appEvents(t, m)
	if v := appVersions(t, m, "/e2e/keep"); !slices.Equal(v, keepVersions) || len(v) != 2 {
		t.Errorf("keep versions %v, want %v", v, keepVersions)
	}
	if v := appVersions(t, m, "/e2e/gated"); !slices.Equal(v, gatedVersions) {
		t.Errorf("gated versions %v, want %v", v, gatedVersions)
	}
	if d, _ := appDeploymentIDs(m); !slices.Equal(d, deps) {
		t.Errorf("deployments after the master restart %v, want %v", d, deps)
	}
	waitFor(t, 30*time.Second, "tasks running again under the new master", func() bool {
		k, ok1 := appGet(m, "/e2e/keep")
		g, ok2 := appGet(m, "/e2e/gated")
		return ok1 && ok2 && k.TasksRunning == 2 && g.TasksRunning == 1
	})
	if got := appTaskIDs(m, "/e2e/keep"); !slices.Equal(got, keepTasks) {
		t.Errorf("keep tasks after the master restart %v, want %v", got, keepTasks)
	}
	// The deployment resumes: it finishes once the check passes.
	if err := os.WriteFile(filepath.Join("/proc", strconv.Itoa(gatedPid), "cwd", "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the resumed deployment finished", func() bool {
		d, ok := appDeploymentIDs(m)
		return ok && len(d) == 0
	})
	appWaitRunning(t, m, "/e2e/gated", 1, true, 10*time.Second)
	if got := appTaskIDs(m, "/e2e/gated"); !slices.Equal(got, gatedTasks) {
		t.Errorf("gated tasks %v, want %v", got, gatedTasks)
	}

	// The agent dies and comes back: it reattaches, nothing is relaunched.
	ag.kill(syscall.SIGKILL)
	start(t, agentArgs...)
	waitFor(t, 30*time.Second, "agent recovered", func() bool {
		return metric(a.agentURL(), "slave/recovered") == 1
	})
	waitFor(t, 30*time.Second, "agent active again", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })
	appWaitRunning(t, m, "/e2e/keep", 2, false, 30*time.Second)
	appWaitRunning(t, m, "/e2e/gated", 1, true, 30*time.Second)
	if got := appTaskIDs(m, "/e2e/keep"); !slices.Equal(got, keepTasks) {
		t.Errorf("keep tasks after the agent restart %v, want %v", got, keepTasks)
	}
	if got := appTaskIDs(m, "/e2e/gated"); !slices.Equal(got, gatedTasks) {
		t.Errorf("gated tasks after the agent restart %v, want %v", got, gatedTasks)
	}
	pids := pidsOf("sleep " + appMark(6011))
	slices.Sort(pids)
	if !slices.Equal(pids, keepPids) || !slices.Equal(pidsOf("sleep "+appMark(6012)), []int{gatedPid}) {
		t.Errorf("task processes %v / %v, want the original %v / %d", pids, pidsOf("sleep "+appMark(6012)), keepPids, gatedPid)
	}
	// Past the new leader's reconciliation grace (5 s), the stream shows no
	// task ending and no task launched by either restart.
	known := append(append([]string(nil), keepTasks...), gatedTasks...)
	waitFor(t, 30*time.Second, "the reconciliation window over, without relaunches", func() bool {
		for _, e := range ev.of("status_update_event") {
			if !slices.Contains(known, e.str("taskId")) || e.str("taskStatus") != "TASK_RUNNING" {
				t.Fatalf("after the restarts: %s %s", e.str("taskId"), e.str("taskStatus"))
			}
		}
		return time.Since(restarted) > 8*time.Second
	})
}
