package e2e

import (
	"strings"
	"testing"
	"time"
)

// Roles (Marathon's acceptedResourceRoles): the master runs the apps
// framework in role slave_public (DC/OS's public agents); host-pub's
// resources include a part reserved for slave_public (--resources
// "cpus(slave_public):1;…"), host-priv's are all unreserved. An app that
// accepts only slave_public resources lands on host-pub only; one that
// accepts only unreserved ones is not confined; a role the app may not
// use is refused with 422.
func TestAppsAcceptedResourceRoles(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m := newNode(t)
	start(t, m.args("master", "--mesos-role", "slave_public")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	for host, res := range map[string]string{
		"host-priv": "cpus:2;mem:1024;disk:512;ports:[31000-31050]",
		"host-pub":  "cpus:0.5;mem:256;cpus(slave_public):1;mem(slave_public):512;disk:512;ports:[31051-31100]",
	} {
		a := newNode(t)
		start(t, a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms",
			"--hostname", host, "--resources", res)...)
	}
	waitFor(t, 30*time.Second, "two agents active", func() bool {
		s := slaves(t, m.url())
		return len(s) == 2 && s[0].Active && s[1].Active
	})

	appMust(t, m, "POST", "/v2/apps", `{"id": "/e2e/pub", "cmd": "sleep `+appMark(6101)+`", "instances": 3, "cpus": 0.2, "mem": 16,
		"portDefinitions": [], "acceptedResourceRoles": ["slave_public"]}`, 201)
	appWaitRunning(t, m, "/e2e/pub", 3, false, 60*time.Second)
	for _, tk := range appTasks(m, "/e2e/pub") {
		if tk.Host != "host-pub" {
			t.Errorf("task %s of an app accepting only slave_public resources runs on %s", tk.ID, tk.Host)
		}
	}
	// 3 × 0.2 of host-pub's 0.5 unreserved CPUs would not fit: the tasks
	// use the reserved part.
	var got struct {
		App struct {
			Role string `json:"role"`
		} `json:"app"`
	}
	if err := getJSON(m.url()+"/v2/apps/e2e/pub", &got); err != nil || got.App.Role != "slave_public" {
		t.Errorf("role %q (%v), want the framework's slave_public", got.App.Role, err)
	}

	// A top-level group enforcing its role: its app runs in role "prod",
	// for which the framework subscribes again (MULTI_ROLE); the running
	// tasks are kept.
	before := strings.Join(appTaskIDs(m, "/e2e/pub"), ",")
	appMust(t, m, "POST", "/v2/groups", `{"id": "/prod", "enforceRole": true, "apps": [{"id": "web", "cmd": "sleep `+appMark(6102)+`", "cpus": 0.1, "mem": 16, "portDefinitions": []}]}`, 201)
	appWaitRunning(t, m, "/prod/web", 1, false, 60*time.Second)
	var web struct {
		App struct {
			Role string `json:"role"`
		} `json:"app"`
	}
	if err := getJSON(m.url()+"/v2/apps/prod/web", &web); err != nil || web.App.Role != "prod" {
		t.Errorf("/prod/web role %q (%v), want prod", web.App.Role, err)
	}
	if after := strings.Join(appTaskIDs(m, "/e2e/pub"), ","); after != before {
		t.Errorf("/e2e/pub tasks %s became %s across the framework's new subscription", before, after)
	}

	code, body := appDo(t, m, "POST", "/v2/apps", `{"id": "/e2e/other", "cmd": "sleep 1", "role": "other"}`)
	if code != 422 || !strings.Contains(string(body), "/role") {
		t.Errorf("role other: %d %s, want 422 naming /role", code, body)
	}
	code, body = appDo(t, m, "POST", "/v2/apps", `{"id": "/e2e/other", "cmd": "sleep 1", "acceptedResourceRoles": ["prod"]}`)
	if code != 422 || !strings.Contains(string(body), "acceptedResourceRoles") {
		t.Errorf("acceptedResourceRoles [prod]: %d %s, want 422 naming it", code, body)
	}
}
