package e2e

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// A pod survives kill -9 of its master and of its agent: the same
// instance, the same container processes, STABLE again.
func TestPodsSurviveMasterAndAgentRestart(t *testing.T) {
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

	mark := appMark(7021)
	appMust(t, m, "POST", "/v2/pods", `{"id":"/e2e/rp","containers":[
	  {"name":"a","exec":{"command":{"shell":"sleep `+mark+`"}},"resources":{"cpus":0.05,"mem":16}},
	  {"name":"b","exec":{"command":{"shell":"sleep `+mark+`"}},"resources":{"cpus":0.05,"mem":16}}]}`, 201)
	// instance is the pod's one instance once STABLE with every
	// container's status updated since "since" (a reconciliation answer
	// after a restart).
	instance := func(since time.Time) (string, bool) {
		var st struct {
			Status    string `json:"status"`
			Instances []struct {
				ID         string `json:"id"`
				Containers []struct {
					LastUpdated time.Time `json:"lastUpdated"`
				} `json:"containers"`
			} `json:"instances"`
		}
		if getJSON(m.url()+"/v2/pods/e2e/rp::status", &st) != nil || st.Status != "STABLE" || len(st.Instances) != 1 {
			return "", false
		}
		for _, c := range st.Instances[0].Containers {
			if c.LastUpdated.Before(since) {
				return "", false
			}
		}
		return st.Instances[0].ID, true
	}
	var first string
	waitFor(t, 60*time.Second, "pod STABLE", func() bool { var ok bool; first, ok = instance(time.Time{}); return ok })
	var pids []int
	waitFor(t, 10*time.Second, "2 container processes", func() bool { pids = pidsOf("sleep " + mark); return len(pids) == 2 })
	slices.Sort(pids)

	check := func(what string, since time.Time) {
		t.Helper()
		waitFor(t, 60*time.Second, "pod STABLE and reconciled after "+what, func() bool { id, ok := instance(since); return ok && id == first })
		got := pidsOf("sleep " + mark)
		slices.Sort(got)
		if !slices.Equal(got, pids) {
			t.Fatalf("after %s: processes %v, want the original %v", what, got, pids)
		}
	}
	mp.kill(syscall.SIGKILL)
	restarted := time.Now().Truncate(time.Millisecond)
	start(t, masterArgs...)
	check("a master restart", restarted)
	ag.kill(syscall.SIGKILL)
	start(t, agentArgs...)
	waitFor(t, 30*time.Second, "agent active again", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })
	check("an agent restart", time.Time{})

	appMust(t, m, "DELETE", "/v2/pods/e2e/rp", "", 202)
	waitFor(t, 60*time.Second, "no container left", func() bool { return len(pidsOf("sleep "+mark)) == 0 })
}
