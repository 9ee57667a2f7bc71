package e2e

import (
	"syscall"
	"testing"
	"time"
)

// TestSoloMasterRegainsLease: a lone --role=all node with a short leader
// lease (2 s) is stopped (SIGSTOP) well past it, so its etcd session does
// expire, then resumed. Without restarting it campaigns again and leads a
// new term (master/leader_changes 1 → 2), the built-in Marathon
// re-subscribes as the same framework, the app task that ran before the
// stall is the one that runs after it, and the app API takes new apps.
func TestSoloMasterRegainsLease(t *testing.T) {
	n := newNode(t)
	p := start(t, n.args("all", "--leader-lease-ttl", "2s", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	waitFor(t, 30*time.Second, "elected, one leader change", func() bool {
		return metric(n.url(), "master/elected") == 1 && metric(n.url(), "master/leader_changes") == 1
	})
	appMust(t, n, "POST", "/v2/apps", `{"id":"/regrab","cmd":"sleep 3600","instances":1,"cpus":0.01,"mem":8}`, 201)
	appWaitRunning(t, n, "/regrab", 1, false, 60*time.Second)
	before := appTaskIDs(n, "/regrab")
	marathon := frameworkNamed(t, n, "marathon")

	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
	// The stimulus, not a wait: stopped three leases long, the session
	// (and the election key with it) expires as soon as etcd runs again.
	<-time.After(6 * time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 60*time.Second, "a new term: elected again, leader_changes 2", func() bool {
		return metric(n.url(), "master/elected") == 1 && metric(n.url(), "master/leader_changes") >= 2
	})
	waitFor(t, 60*time.Second, "marathon re-subscribed as the same framework", func() bool {
		id, active := frameworkState(n, "marathon")
		return id == marathon && active
	})
	appWaitRunning(t, n, "/regrab", 1, false, 60*time.Second)
	if after := appTaskIDs(n, "/regrab"); len(after) != 1 || after[0] != before[0] {
		t.Errorf("app task %v before the stall, %v after: want the same one", before, after)
	}
	appMust(t, n, "POST", "/v2/apps", `{"id":"/regrab-new","cmd":"sleep 3600","instances":1,"cpus":0.01,"mem":8}`, 201)
	appWaitRunning(t, n, "/regrab-new", 1, false, 60*time.Second)
	if got := metric(n.url(), "master/leader_changes"); got != 2 {
		t.Errorf("master/leader_changes = %v, want 2 (one lost lease, one new term)", got)
	}
	for _, id := range []string{"/regrab", "/regrab-new"} {
		appMust(t, n, "DELETE", "/v2/apps"+id+"?force=true", "", 200)
	}
	waitFor(t, 60*time.Second, "app tasks gone", func() bool {
		return len(appTaskIDs(n, "/regrab")) == 0 && len(appTaskIDs(n, "/regrab-new")) == 0
	})
}

// frameworkNamed waits for the active framework called name and returns
// its id.
func frameworkNamed(t *testing.T, n node, name string) string {
	t.Helper()
	var id string
	waitFor(t, 60*time.Second, name+" subscribed", func() bool {
		var active bool
		id, active = frameworkState(n, name)
		return active
	})
	return id
}

// frameworkState is the id and activity of the framework called name in
// the master's /frameworks.
func frameworkState(n node, name string) (string, bool) {
	var resp struct {
		Frameworks []struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Active bool   `json:"active"`
		} `json:"frameworks"`
	}
	if getJSON(n.url()+"/frameworks", &resp) != nil {
		return "", false
	}
	for _, f := range resp.Frameworks {
		if f.Name == name {
			return f.ID, f.Active
		}
	}
	return "", false
}
