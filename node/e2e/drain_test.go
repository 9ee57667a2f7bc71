package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// agentDrain is an agent's id, deactivated and drain state from GET_AGENTS.
func agentDrain(t *testing.T, m node, host string) (id string, deactivated bool, state string) {
	t.Helper()
	code, body := appDo(t, m, "POST", "/api/v1", `{"type":"GET_AGENTS"}`)
	var resp struct {
		GetAgents struct {
			Agents []struct {
				AgentInfo struct {
					ID       struct{ Value string } `json:"id"`
					Hostname string                 `json:"hostname"`
				} `json:"agent_info"`
				Deactivated bool                    `json:"deactivated"`
				DrainInfo   *struct{ State string } `json:"drain_info"`
			} `json:"agents"`
		} `json:"get_agents"`
	}
	if code != 200 || json.Unmarshal(body, &resp) != nil {
		t.Fatalf("GET_AGENTS: %d %s", code, body)
	}
	for _, a := range resp.GetAgents.Agents {
		if a.AgentInfo.Hostname == host {
			if a.DrainInfo != nil {
				state = a.DrainInfo.State
			}
			return a.AgentInfo.ID.Value, a.Deactivated, state
		}
	}
	return "", false, ""
}

// Agent draining with the built-in Marathon: an app of 3 instances with a
// health check and minimumHealthCapacity 1 runs on host-a; `nodectl agent
// drain host-a` moves every instance to host-b with never fewer than 3
// healthy (replacements first), host-a reaches DRAINED, a principal
// without drain_agents gets 403, and `nodectl agent undrain` makes host-a
// offered again (a scale-up lands there).
func TestDrainMovesAppWithinStrategy(t *testing.T) {
	// Not t.Parallel: it holds the healthy count at 3 through a drain, with
	// 1 s health checks; beside the other tests' load one dropped to 2.
	m := newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	appAgent(t, m, "host-a")
	waitFor(t, 30*time.Second, "host-a active", func() bool { return len(agentHosts(m)) == 1 })

	const id = "/e2e/drained"
	cmd := "sleep " + appMark(7621)
	appMust(t, m, "POST", "/v2/apps", `{"id": "`+id+`", "cmd": "`+cmd+`", "instances": 3, "cpus": 0.05, "mem": 16,
		"upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
		"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 0,
			"intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 3}]}`, 201)
	appWaitRunning(t, m, id, 3, true, 60*time.Second)
	appAgent(t, m, "host-b")
	waitFor(t, 30*time.Second, "two agents active", func() bool { return len(agentHosts(m)) == 2 })

	// Watch the healthy count from now on.
	var low atomic.Int64
	low.Store(3)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if a, ok := appGet(m, id); ok && int64(a.TasksHealthy) < low.Load() {
				low.Store(int64(a.TasksHealthy))
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	cli := func(args ...string) (int, string) {
		c := exec.Command(bin, append([]string{"agent"}, args...)...)
		c.Env = cliEnv(m.port)
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := cli("drain"); code != 2 || !strings.Contains(out, "needs one AGENT") {
		t.Errorf("agent drain without an agent: %d %s", code, out)
	}

	// A principal without drain_agents is refused.
	appMust(t, m, "POST", "/auth/users", `{"principal":"dev","secret":"dev-secret-00001","apps":["/dev"]}`, 201)
	aID, _, _ := agentDrain(t, m, "host-a")
	req, _ := http.NewRequest("POST", m.url()+"/api/v1", strings.NewReader(`{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"`+aID+`"}}}`))
	req.SetBasicAuth("dev", "dev-secret-00001")
	req.Header.Set("Content-Type", "application/json")
	resp, err := anonClient(t, m).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("dev drains host-a: %s, want 403", resp.Status)
	}

	if code, out := cli("drain", "host-a", "--max-grace-period", "5secs"); code != 0 {
		t.Fatalf("agent drain host-a: %d %s", code, out)
	}
	waitFor(t, 90*time.Second, "3 healthy instances, all on host-b", func() bool {
		tks := appTasks(m, id)
		n := 0
		for _, tk := range tks {
			if tk.Host != "host-b" {
				return false
			}
			if tk.State == "TASK_RUNNING" && len(tk.HealthCheckResults) > 0 && tk.HealthCheckResults[0].Alive {
				n++
			}
		}
		return n == 3
	})
	waitFor(t, 30*time.Second, "host-a DRAINED", func() bool {
		_, d, s := agentDrain(t, m, "host-a")
		return d && s == "DRAINED"
	})
	if code, out := cli("list"); code != 0 || !regexp.MustCompile(`host-a\s+true\s+DRAINED`).MatchString(out) {
		t.Errorf("agent list while host-a is drained: %d\n%s", code, out)
	}
	if code, out := cli("undrain", "host-c"); code != 2 || !strings.Contains(out, "no agent with id or hostname") {
		t.Errorf("agent undrain of an unknown host: %d %s", code, out)
	}
	if l := low.Load(); l < 3 {
		t.Errorf("healthy instances dropped to %d during the drain; the strategy keeps 3", l)
	}
	waitFor(t, 30*time.Second, "host-a's processes gone", func() bool { return len(pidsOf(cmd)) == 3 })

	if code, out := cli("undrain", "host-a"); code != 0 {
		t.Fatalf("agent undrain host-a: %d %s", code, out)
	}
	if _, d, s := agentDrain(t, m, "host-a"); d || s != "" {
		t.Errorf("after undrain: deactivated %v state %q", d, s)
	}
	appMust(t, m, "PUT", "/v2/apps"+id, `{"instances": 6}`, 200)
	waitFor(t, 60*time.Second, "a scaled-up instance on host-a", func() bool {
		for _, tk := range appTasks(m, id) {
			if tk.Host == "host-a" && tk.State == "TASK_RUNNING" {
				return true
			}
		}
		return false
	})
}
