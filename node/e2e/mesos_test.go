package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startEnv is start with extra environment variables.
func startEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, cmd, args)
}

// operatorCall posts a master Call of type typ to the node's /api/v1.
func operatorCall(t *testing.T, n node, typ string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", n.url()+"/api/v1", strings.NewReader(`{"type":"`+typ+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %s: %v", typ, resp.Status, err)
	}
	return resp.StatusCode, out
}

// TestMesosOperatorGCEnv: a node started with MESOS_HOSTNAME and Mesos'
// GC flags in MESOS_* (1 s gc_delay) answers the operator API's GET_*
// calls, shows the hostname, and collects a finished task's sandbox while
// a running task's stays.
func TestMesosOperatorGCEnv(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	startEnv(t, []string{"MESOS_HOSTNAME=e2e-mesos-host", "MESOS_GC_DELAY=1secs", "MESOS_DISK_WATCH_INTERVAL=1secs"},
		n.args("all", "--resources", "cpus:2;mem:512;disk:1024;ports:[31000-31100]")...)
	waitFor(t, 30*time.Second, "the node healthy with its agent", func() bool { return healthy(n.url()) && len(slaves(t, n.url())) == 1 })

	for _, typ := range []string{"GET_HEALTH", "GET_VERSION", "GET_FLAGS", "GET_AGENTS", "GET_STATE", "GET_FRAMEWORKS", "GET_TASKS",
		"GET_ROLES", "GET_MASTER", "GET_METRICS", "GET_LOGGING_LEVEL", "GET_MAINTENANCE_STATUS", "GET_MAINTENANCE_SCHEDULE", "GET_QUOTA", "GET_WEIGHTS"} {
		if code, out := operatorCall(t, n, typ); code != 200 || out[strings.ToLower(typ)] == nil {
			t.Errorf("%s: %d %v", typ, code, out)
		}
	}
	if code, out := operatorCall(t, n, "TEARDOWN"); code != 400 || !strings.Contains(out["message"].(string), "TEARDOWN") {
		t.Errorf("TEARDOWN: %d %v", code, out)
	}
	_, out := operatorCall(t, n, "GET_AGENTS")
	agents := out["get_agents"].(map[string]any)["agents"].([]any)
	if h := agents[0].(map[string]any)["agent_info"].(map[string]any)["hostname"]; h != "e2e-mesos-host" {
		t.Errorf("MESOS_HOSTNAME ignored: agent hostname %v", h)
	}
	var flags struct {
		Flags map[string]string `json:"flags"`
	}
	must(t, getJSON(n.url()+"/flags", &flags))
	if flags.Flags["gc_delay"] != "1s" {
		t.Errorf("/flags gc_delay %q, want MESOS_GC_DELAY's 1s", flags.Flags["gc_delay"])
	}

	// A running task, then a finished one.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runner := exec.CommandContext(ctx, bin, "execute", "--master", "127.0.0.1:"+strconv.Itoa(n.port), "--name", "gc-keep", "--", "sleep", "600")
	runner.Env = cliEnv(n.port)
	must(t, runner.Start())
	defer func() { cancel(); _ = runner.Wait() }()
	glob := func(name string) string {
		m, _ := filepath.Glob(filepath.Join(n.dir, "slaves", "*", "frameworks", "*", "executors", name+"*"))
		if len(m) == 0 {
			return ""
		}
		return m[0]
	}
	waitFor(t, 60*time.Second, "the running task's sandbox", func() bool { return glob("gc-keep") != "" })
	keep := glob("gc-keep")
	// The finished sandbox may be collected before execute returns (the
	// age limit shrinks as the disk fills: Mesos' gc_delay formula), so
	// its path is caught while the task runs.
	found := make(chan string, 1)
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(2 * time.Millisecond) // polling for the sandbox to appear
		defer tick.Stop()
		for {
			if d := glob("gc-done"); d != "" {
				found <- d
				return
			}
			select {
			case <-stop:
				found <- glob("gc-done")
				return
			case <-tick.C:
			}
		}
	}()
	eout, code := execute(t, n.port, "--name", "gc-done", "--", "sh", "-c", "sleep 0.5; echo done")
	close(stop)
	done := <-found
	if code != 0 {
		t.Fatalf("execute: %d %s", code, eout)
	}
	if done == "" {
		t.Fatal("no sandbox for the finished task")
	}
	// The collector counts a removal right after it (the directory may be
	// seen gone a moment before the count).
	var snap map[string]float64
	waitFor(t, 60*time.Second, "the finished sandbox collected and counted", func() bool {
		_, err := os.Stat(done)
		snap = nil
		return os.IsNotExist(err) && getJSON(n.agentURL()+"/metrics/snapshot", &snap) == nil && snap["slave/gc_sandboxes_removed"] >= 1
	})
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the running task's sandbox went: %v", err)
	}
}

// TestMesosSeedFlagRefused: --zk is refused with what to use instead, exit
// 2, one line, not "unknown flag"; MESOS_ZK too.
func TestMesosSeedFlagRefused(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, n.args("all", "--zk=zk://127.0.0.1:2181/mesos")},
		{[]string{"MESOS_ZK=zk://127.0.0.1:2181/mesos"}, n.args("all")},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || strings.Count(string(out), "\n") != 1 ||
			strings.Contains(string(out), "unknown flag") || !strings.Contains(string(out), "--join") {
			t.Errorf("%v %v: %v %q", c.env, c.args[len(c.args)-1], err, out)
		}
	}
}
