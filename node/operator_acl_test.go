package node_test

import (
	"strings"
	"testing"
	"time"

	"nodectl/node"
	"nodectl/node/nodetest"
)

// The agents' operator API and the master's /files over agents' paths
// need get_endpoints: a principal an ACL denies it gets 403, one it allows
// reaches the agent (over the master's mutual TLS) and gets its answer.
func TestOperatorAgentProxyACL(t *testing.T) {
	t.Parallel()
	c := nodetest.Start(t, nodetest.Options{All: true, Configure: func(cfg *node.Config) {
		cfg.Credentials = `{"credentials":[{"principal":"bob","secret":"bob-secret-00001"},{"principal":"ops","secret":"ops-secret-00001"}]}`
		cfg.ACLs = `{"get_endpoints": [{"principals": {"values": ["bob"]}, "paths": {"type": "NONE"}}]}`
	}})
	base := c.Master.URL()
	var agentID string
	nodetest.WaitFor(t, 30*time.Second, "the agent registered", func() bool {
		var s struct{ Slaves []struct{ ID string } }
		if nodetest.GetJSON(base+"/slaves", &s) != nil || len(s.Slaves) != 1 {
			return false
		}
		agentID = s.Slaves[0].ID
		return true
	})
	out := outsider(t, c)
	bob := call{user: "bob", secret: "bob-secret-00001", ctype: "application/json"}
	ops := call{user: "ops", secret: "ops-secret-00001", ctype: "application/json"}
	with := func(c call, method, path, body string) call { c.method, c.path, c.body = method, path, body; return c }
	for _, p := range []string{"/agents/" + agentID + "/api/v1", "/master/agents/" + agentID + "/api/v1"} {
		if code, _, b := send(t, out, base, with(bob, "POST", p, `{"type":"GET_HEALTH"}`)); code != 403 {
			t.Errorf("bob POST %s: %d %s, want 403", p, code, b)
		}
		code, _, b := send(t, out, base, with(ops, "POST", p, `{"type":"GET_HEALTH"}`))
		if code != 200 || !strings.Contains(string(b), `"healthy":true`) {
			t.Errorf("ops POST %s GET_HEALTH: %d %s", p, code, b)
		}
		// The agent learns its id a moment after the master lists it.
		nodetest.WaitFor(t, 30*time.Second, "GET_AGENT with the agent's id", func() bool {
			code, _, b = send(t, out, base, with(ops, "POST", p, `{"type":"GET_AGENT"}`))
			return code == 200 && strings.Contains(string(b), `"id":{"value":"`+agentID+`"}`)
		})
		// ops is no superuser: the agent's unfiltered state is not for it.
		if code, _, b = send(t, out, base, with(ops, "POST", p, `{"type":"GET_TASKS"}`)); code != 403 {
			t.Errorf("ops POST %s GET_TASKS: %d %s, want 403", p, code, b)
		}
	}
	for _, p := range []string{"/files/browse?path=/slave/" + agentID + "/frameworks/f/executors/e/runs/latest", "/files/debug"} {
		if code, _, b := send(t, out, base, with(bob, "GET", p, "")); code != 403 {
			t.Errorf("bob GET %s: %d %s, want 403", p, code, b)
		}
	}
	// ops may use the files API, but sees no sandbox of a task it cannot see.
	if code, _, b := send(t, out, base, with(ops, "GET", "/files/browse?path=/slave/"+agentID+"/frameworks/f/executors/e/runs/latest", "")); code != 403 {
		t.Errorf("ops GET an unknown task's sandbox: %d %s, want 403", code, b)
	}
}
