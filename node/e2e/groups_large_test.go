package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// largeGroup is a group of n apps: the first running ones with one
// `sleep mark` task each, the rest with 0 instances.
func largeGroup(id string, n, running int, cmd string) string {
	apps := make([]string, n)
	for i := range n {
		inst := 0
		if i < running {
			inst = 1
		}
		apps[i] = fmt.Sprintf(`{"id":"app%03d","cmd":%q,"cpus":0.01,"mem":4,"instances":%d,"portDefinitions":[]}`, i, cmd, inst)
	}
	return `{"id":"` + id + `","apps":[` + strings.Join(apps, ",") + `]}`
}

// groupDeployed waits until no deployment runs and the group's apps have
// their tasks running; it returns the group's app count.
func groupDeployed(t testing.TB, n node, id string, running int, timeout time.Duration) int {
	t.Helper()
	var apps int
	waitFor(t, timeout, fmt.Sprintf("group %s deployed with %d running tasks", id, running), func() bool {
		code, b := appDo(t, n, "GET", "/v2/deployments", "")
		var ds []any
		if code != 200 || json.Unmarshal(b, &ds) != nil || len(ds) != 0 {
			return false
		}
		code, b = appDo(t, n, "GET", "/v2/groups"+id+"?embed=group.apps", "")
		var g struct {
			Apps []struct {
				TasksRunning int `json:"tasksRunning"`
			} `json:"apps"`
		}
		if code != 200 || json.Unmarshal(b, &g) != nil {
			return false
		}
		r := 0
		for _, a := range g.Apps {
			r += a.TasksRunning
		}
		apps = len(g.Apps)
		return r == running
	})
	return apps
}

// TestGroupLarge: a group of 150 apps deploys as one deployment on the
// real etcd (more operations than etcd's default --max-txn-ops of 128),
// is updated as a whole (every app restarted) and deleted, with a pod in
// it that the DELETE removes too.
func TestGroupLarge(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	mark := appMark(7101)
	appMust(t, n, "POST", "/v2/groups", largeGroup("/big", 150, 3, "sleep "+mark), 201)
	if got := groupDeployed(t, n, "/big", 3, 2*time.Minute); got != 150 {
		t.Fatalf("group /big has %d apps, want 150", got)
	}
	appMust(t, n, "PUT", "/v2/groups/big", largeGroup("/big", 150, 3, "sleep "+appMark(7102)), 200)
	groupDeployed(t, n, "/big", 3, 2*time.Minute)
	var vs []string
	if err := json.Unmarshal(appMust(t, n, "GET", "/v2/apps/big/app149/versions", "", 200), &struct{ Versions *[]string }{&vs}); err != nil || len(vs) != 2 {
		t.Fatalf("versions of /big/app149 after the PUT: %v %v, want 2", vs, err)
	}

	pod := `{"id":"/big/pod","scaling":{"kind":"fixed","instances":1},
	  "containers":[{"name":"c","exec":{"command":{"shell":"sleep ` + appMark(7103) + `"}},"resources":{"cpus":0.05,"mem":16}}]}`
	appMust(t, n, "POST", "/v2/pods", pod, 201)
	waitFor(t, 60*time.Second, "pod STABLE", func() bool {
		code, b := appDo(t, n, "GET", "/v2/pods/big/pod::status", "")
		var st struct{ Status string }
		return code == 200 && json.Unmarshal(b, &st) == nil && st.Status == "STABLE"
	})
	appMust(t, n, "DELETE", "/v2/groups/big", "", 200)
	waitFor(t, 2*time.Minute, "group, pod and their containers gone", func() bool {
		code, _ := appDo(t, n, "GET", "/v2/groups/big", "")
		pc, _ := appDo(t, n, "GET", "/v2/pods/big/pod", "")
		dc, b := appDo(t, n, "GET", "/v2/deployments", "")
		return code == 404 && pc == 404 && dc == 200 && strings.TrimSpace(string(b)) == "[]" && appMonitors(n.dir) == 0
	})
}
