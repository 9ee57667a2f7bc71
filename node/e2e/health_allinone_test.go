package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestAllInOneHealthWaitsForAgent: a --role=all node's /health answers 200
// only once its own agent has registered, so a client that waits for
// /health finds the agent at once (the 16-mesos acceptance script asks
// GET_AGENTS right after); /master/health keeps the Mesos master's
// meaning and answers as soon as the master serves; a --role=master
// node's /health is the master's.
func TestAllInOneHealthWaitsForAgent(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:1;mem:512;disk:256;ports:[31000-31099]")...)
	sawNotUp := false
	waitFor(t, 60*time.Second, "/health 200", func() bool {
		code := healthCode(n.url() + "/health")
		if code == http.StatusServiceUnavailable {
			sawNotUp = true
		}
		return code == http.StatusOK
	})
	// No wait: the agent is registered by the time /health says so.
	if s := slaves(t, n.url()); len(s) != 1 || !s[0].Active {
		t.Errorf("/slaves right after /health answered 200: %+v, want the node's own agent, active", s)
	}
	t.Logf("/health answered 503 before the agent registered: %v", sawNotUp)
	if code := healthCode(n.url() + "/master/health"); code != http.StatusOK {
		t.Errorf("/master/health = %d, want 200", code)
	}

	m := newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 60*time.Second, "a lone master's /health 200 without any agent", func() bool { return healthy(m.url()) })
}

// healthCode is the status /health-like url answers, 0 when unreachable.
func healthCode(url string) int {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
