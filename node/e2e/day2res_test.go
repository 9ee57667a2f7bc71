package e2e

// Day two: the agent never gives a host port another program holds; the
// resource history has real samples of a running task (and the UI plots
// them); `nodectl check` answers as a monitoring plugin.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// heldPortPair listens on 0.0.0.0:P for a P whose P+1 is free, as another
// program on the host would.
func heldPortPair(t *testing.T) (net.Listener, int) {
	t.Helper()
	for range 50 {
		p := freePort(t)
		next, err := net.Listen("tcp", "0.0.0.0:"+strconv.Itoa(p+1))
		if err != nil {
			continue
		}
		_ = next.Close()
		ln, err := net.Listen("tcp", "0.0.0.0:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		t.Cleanup(func() { _ = ln.Close() })
		return ln, p
	}
	t.Fatal("no free port pair")
	return nil, 0
}

// runCheck runs `nodectl check` against the node on port and returns its
// exit code and status line.
func runCheck(t *testing.T, port int, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"check", "--master", "127.0.0.1:" + strconv.Itoa(port), "--timeout", "5s"}, args...)...)
	cmd.Env = cliEnv(port)
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nodectl check: %v", err)
	}
	line := strings.TrimSpace(string(out))
	if strings.Count(line, "\n") != 0 || !strings.HasPrefix(line, "NODECTL ") {
		t.Fatalf("nodectl check %v printed %q, want one status line", args, out)
	}
	return code, line
}

func TestDay2PortsHistoryCheck(t *testing.T) {
	py := appPython(t)
	n := newNode(t)
	heldLn, held := heldPortPair(t)
	_ = heldLn
	p := start(t, n.args("all", "--hostname", "res-host", "--resources", fmt.Sprintf("cpus:2;mem:2048;disk:1024;ports:[%d-%d]", held, held+1),
		"--usage-sample-interval", "1s", "--agent-ping-timeout", "2s")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	agentID := slaves(t, n.url())[0].ID

	// A port held by another program is never given: the app gets the
	// other one of the two.
	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{"id":"/res/port","cmd":"exec %s -m http.server $PORT0 --bind 0.0.0.0","cpus":0.1,"mem":64,"disk":16,"portDefinitions":[{"port":0}]}`, py), 201)
	appWaitRunning(t, n, "/res/port", 1, false, 60*time.Second)
	tasks := appTasks(n, "/res/port")
	if len(tasks) != 1 || len(tasks[0].Ports) != 1 || tasks[0].Ports[0] != held+1 {
		t.Fatalf("app tasks %+v: want one task on port %d (%d is held by another program)", tasks, held+1, held)
	}
	waitFor(t, 20*time.Second, "the task serves on its port", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(held+1) + "/")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	taskID := tasks[0].ID

	// The resource history holds real samples of the running task.
	var hist api.TaskUsage
	waitFor(t, 30*time.Second, "three samples of the task", func() bool {
		err := getJSON(n.url()+"/agents/"+agentID+"/monitor/history?task="+taskID, &hist)
		return err == nil && len(hist.Samples) >= 3
	})
	last := hist.Samples[len(hist.Samples)-1]
	if last.MemBytes < 1<<20 || hist.Allocated.CPUs != 0.1 || hist.Allocated.MemMB != 64 || !hist.Running || hist.Samples[0].T > last.T {
		t.Fatalf("history %+v: want a running task's memory (≥1 MiB) and its allocation", hist)
	}
	var sum api.AgentUsage
	if err := getJSON(n.url()+"/agents/"+agentID+"/monitor/summary", &sum); err != nil || len(sum.Samples) == 0 || sum.Total.CPUs != 2 ||
		sum.Samples[len(sum.Samples)-1].AllocCPUs < 0.1 || sum.Samples[len(sum.Samples)-1].MemBytes == 0 {
		t.Fatalf("agent summary %+v (%v): want used and allocated against 2 cpus", sum, err)
	}
	var cl api.ClusterUsage
	waitFor(t, 30*time.Second, "cluster utilisation with the task's memory", func() bool {
		err := getJSON(n.url()+"/monitor/cluster", &cl)
		return err == nil && len(cl.Samples) > 0 && cl.Samples[len(cl.Samples)-1].MemBytes > 0 && cl.Samples[len(cl.Samples)-1].TotalCPUs == 2
	})

	// The charts render those samples.
	uiResourceCharts(t, n, agentID, taskID)

	// nodectl check: OK, WARNING, CRITICAL as the thresholds say.
	var line string
	waitFor(t, 30*time.Second, "check OK", func() bool {
		var code int
		code, line = runCheck(t, n.port, "--min-agents", "1", "--framework", "marathon", "--quorum")
		return code == 0
	})
	if !strings.HasPrefix(line, "NODECTL OK - ") || !strings.Contains(line, "| agents=1;;1:;0;") {
		t.Fatalf("OK line %q", line)
	}
	if code, line := runCheck(t, n.port, "--warning", "2:", "--critical", "1:"); code != 1 || !strings.HasPrefix(line, "NODECTL WARNING - 1 agents active (warning 2:)") {
		t.Fatalf("warning: %d %q", code, line)
	}
	if code, line := runCheck(t, n.port, "--min-agents", "2"); code != 2 || !strings.HasPrefix(line, "NODECTL CRITICAL - ") {
		t.Fatalf("critical: %d %q", code, line)
	}
	if code, line := runCheck(t, n.port, "--framework", "no-such-framework"); code != 2 || !strings.Contains(line, "no-such-framework not registered") {
		t.Fatalf("missing framework: %d %q", code, line)
	}
	p.kill(syscall.SIGKILL)
	if code, line := runCheck(t, n.port, "--min-agents", "1"); code != 2 || !strings.HasPrefix(line, "NODECTL CRITICAL - ") {
		t.Fatalf("dead cluster: %d %q, want 2 CRITICAL", code, line)
	}
}

// uiResourceCharts signs in and finds charts drawn from samples on the
// task, app, agent and overview pages; the task page's screenshot is
// docs/img/resources.png (NODECTL_UPDATE_DOCS=1 writes it).
func uiResourceCharts(t *testing.T, n node, agentID, taskID string) {
	b := uiNewBrowser(t, n.url())
	b.login("/tasks/"+taskID, "admin", uiAdminSecret(t, n))
	const drawn = `[...document.querySelectorAll('#charts .chart')].some((c) => c.dataset.chart === 'Memory' && +c.dataset.samples >= 3 && c.querySelector('path.chart-line'))`
	b.waitJS("task page memory chart with samples", 30*time.Second, drawn)
	b.screenshot("resources")
	if os.Getenv("NODECTL_UPDATE_DOCS") != "" {
		png, err := os.ReadFile(filepath.Join(b.out, "resources.png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", "resources.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.goTo("/apps/res/port")
	b.waitJS("app page chart (sum of its tasks)", 30*time.Second, drawn)
	b.goTo("/agents/" + agentID)
	b.waitJS("agent page used vs allocated", 30*time.Second, `[...document.querySelectorAll('#charts .chart')].some((c) => c.dataset.chart === 'CPU' && +c.dataset.samples >= 1 && c.querySelectorAll('path.chart-line').length === 2)`)
	b.goTo("/")
	b.waitJS("overview cluster utilisation", 30*time.Second, `[...document.querySelectorAll('#charts .chart')].some((c) => c.dataset.chart === 'Memory' && +c.dataset.samples >= 1)`)
	b.screenshot("resources-overview")
	b.checkProblems()
}
