package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// agentHosts are the hostnames of the master's registered agents, active
// or not.
func agentHosts(m node) []string {
	var st struct {
		Slaves []struct {
			Hostname string `json:"hostname"`
			Active   bool   `json:"active"`
		} `json:"slaves"`
	}
	if getJSON(m.url()+"/slaves", &st) != nil {
		return nil
	}
	var out []string
	for _, s := range st.Slaves {
		if s.Active {
			out = append(out, s.Hostname)
		}
	}
	return out
}

// Mesos maintenance with the built-in Marathon: one master, agents on
// host-a and host-b, an app of 2 instances (one per host). host-a is
// scheduled (DRAINING: its offers carry the unavailability and Marathon
// declines them; the window has started, so Marathon moves its instance
// to host-b, replacement first), then brought down; host-a's agent is
// refused while the machine is down. machine/up lets it register again.
func TestMaintenanceDownUp(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m := newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	appAgent(t, m, "host-a")
	appAgent(t, m, "host-b")
	waitFor(t, 30*time.Second, "two agents active", func() bool { return len(agentHosts(m)) == 2 })

	cmd := "sleep " + appMark(7611)
	appMust(t, m, "POST", "/v2/apps", `{"id": "/e2e/maint", "cmd": "`+cmd+`", "instances": 2, "cpus": 0.05, "mem": 16}`, 201)
	appWaitRunning(t, m, "/e2e/maint", 2, false, 30*time.Second)
	perHost := map[string]string{}
	for _, tk := range appTasks(m, "/e2e/maint") {
		perHost[tk.Host] = tk.ID
	}
	onA := perHost["host-a"]
	if onA == "" || perHost["host-b"] == "" {
		t.Fatalf("2 instances placed %v, want one per host", perHost)
	}

	sched := fmt.Sprintf(`{"windows":[{"machine_ids":[{"hostname":"host-a","ip":"127.0.0.1"}],
		"unavailability":{"start":{"nanoseconds":%d},"duration":{"nanoseconds":%d}}}]}`, time.Now().Add(-time.Second).UnixNano(), time.Hour.Nanoseconds())
	appMust(t, m, "POST", "/master/maintenance/schedule", sched, 200)
	var status struct {
		Draining []struct {
			ID       struct{ Hostname string } `json:"id"`
			Statuses []struct{ Status string } `json:"statuses"`
		} `json:"draining_machines"`
		Down []struct{ Hostname string } `json:"down_machines"`
	}
	if err := json.Unmarshal(appMust(t, m, "GET", "/maintenance/status", "", 200), &status); err != nil || len(status.Draining) != 1 || status.Draining[0].ID.Hostname != "host-a" {
		t.Fatalf("status while draining: %+v %v", status, err)
	}
	// The built-in Marathon runs a task there: it gets an inverse offer,
	// which it ignores, as Marathon does (its status stays UNKNOWN).
	waitFor(t, 30*time.Second, "an inverse offer for host-a to the built-in Marathon", func() bool {
		err := json.Unmarshal(appMust(t, m, "GET", "/maintenance/status", "", 200), &status)
		return err == nil && len(status.Draining) == 1 && len(status.Draining[0].Statuses) == 1 && status.Draining[0].Statuses[0].Status == "UNKNOWN"
	})
	// The window has started: the built-in Marathon moves host-a's
	// instance to host-b before the machine goes down, replacement first
	// (docs/maintenance.md, "Agent draining").
	waitFor(t, 60*time.Second, "both instances running on host-b before machine/down", func() bool {
		n := 0
		for _, tk := range appTasks(m, "/e2e/maint") {
			if tk.Host == "host-b" && tk.State == "TASK_RUNNING" {
				n++
			}
		}
		a, ok := appGet(m, "/e2e/maint")
		return ok && n == 2 && a.TasksRunning == 2
	})
	// Down only what is scheduled.
	if code, body := appDo(t, m, "POST", "/machine/down", `[{"hostname":"host-b"}]`); code != 400 || !strings.Contains(string(body), "not part of a maintenance schedule") {
		t.Errorf("down of an unscheduled machine: %d %s", code, body)
	}

	appMust(t, m, "POST", "/machine/down", `[{"hostname":"host-a","ip":"127.0.0.1"}]`, 200)
	waitFor(t, 30*time.Second, "both instances running on host-b", func() bool {
		tks := appTasks(m, "/e2e/maint")
		n := 0
		for _, tk := range tks {
			if tk.ID == onA && (tk.State == "TASK_RUNNING" || tk.State == "TASK_STAGING") {
				return false
			}
			if tk.Host == "host-b" && tk.State == "TASK_RUNNING" {
				n++
			}
		}
		return n == 2
	})
	// host-a's agent learns it was removed and kills its task: two
	// processes run the command, both host-b's.
	waitFor(t, 30*time.Second, "host-a's task process gone", func() bool { return len(pidsOf(cmd)) == 2 })
	// host-a's agent registers anew and is refused while its machine is down.
	waitFor(t, 30*time.Second, "host-a's registration refused", func() bool {
		var snap map[string]float64
		return getJSON(m.url()+"/metrics/snapshot", &snap) == nil && snap["master/slave_maintenance_refusals"] >= 1
	})
	if hosts := agentHosts(m); len(hosts) != 1 || hosts[0] != "host-b" {
		t.Errorf("agents while host-a is down: %v", hosts)
	}
	if err := json.Unmarshal(appMust(t, m, "GET", "/master/maintenance/status", "", 200), &status); err != nil || len(status.Down) != 1 || status.Down[0].Hostname != "host-a" || len(status.Draining) != 0 {
		t.Errorf("status while down: %+v %v", status, err)
	}

	// The CLI: status, a usage error, up.
	cli := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"maintenance"}, args...)...)
		cmd.Env = cliEnv(m.port)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := cli("status"); code != 0 || !regexp.MustCompile(`host-a\s+127\.0\.0\.1\s+DOWN\s+\d{4}-`).MatchString(out) {
		t.Errorf("nodectl maintenance status: %d\n%s", code, out)
	}
	if code, out := cli("up"); code != 2 || !strings.Contains(out, "needs at least one MACHINE") {
		t.Errorf("nodectl maintenance up without machines: %d %s", code, out)
	}
	if code, out := cli("up", "host-a,127.0.0.1"); code != 0 {
		t.Fatalf("nodectl maintenance up: %d %s", code, out)
	}
	waitFor(t, 60*time.Second, "host-a registered again", func() bool { return len(agentHosts(m)) == 2 })
	if body := appMust(t, m, "GET", "/maintenance/schedule", "", 200); strings.TrimSpace(string(body)) != `{"windows":[]}` {
		t.Errorf("schedule after up: %s", body)
	}
	appWaitRunning(t, m, "/e2e/maint", 2, false, 30*time.Second)
}
