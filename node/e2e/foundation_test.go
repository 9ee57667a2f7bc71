package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A master and an agent as two processes see each other; after kill -9 the
// agent goes inactive once the ping window passes, and active again when
// it restarts with the same id.
func TestMasterAndAgentProcesses(t *testing.T) {
	m := newNode(t)
	start(t, m.args("master", "--agent-ping-timeout", "500ms", "--max-agent-ping-timeouts", "3")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })

	a := newNode(t)
	agentArgs := a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms")
	ag := start(t, agentArgs...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, m.url())
		return len(s) == 1 && s[0].Active
	})
	id := slaves(t, m.url())[0].ID
	// The agent reports its id once it has checkpointed it; a kill before
	// that makes it a new agent, as in Mesos.
	waitFor(t, 30*time.Second, "agent id checkpointed", func() bool {
		var st struct{ ID string }
		return getJSON(a.agentURL()+"/state", &st) == nil && st.ID == id
	})

	killed := time.Now() // before the signal: kill returns once the process is reaped
	ag.kill(syscall.SIGKILL)
	waitFor(t, 30*time.Second, "agent inactive", func() bool {
		s := slaves(t, m.url())
		return len(s) == 1 && !s[0].Active
	})
	// The 1.5s window (3 missed 500ms pings) runs from the last answered
	// ping: at most one interval before the kill, or two when a ping was
	// already outstanding on a busy machine. A master that marked the
	// agent on the dropped connection would be far faster.
	if d := time.Since(killed); d < 500*time.Millisecond {
		t.Errorf("agent marked inactive %s after the kill, before its 1.5s ping window could pass", d)
	}

	start(t, agentArgs...)
	waitFor(t, 30*time.Second, "agent active again", func() bool {
		s := slaves(t, m.url())
		return len(s) == 1 && s[0].Active
	})
	if got := slaves(t, m.url())[0].ID; got != id {
		t.Errorf("agent came back as %s, want %s", got, id)
	}
}

func TestHealthCommand(t *testing.T) {
	n := newNode(t)
	start(t, n.args("all")...)
	waitFor(t, 30*time.Second, "node healthy", func() bool { return healthy(n.url()) })
	out, err := exec.Command(bin, "health", "--work-dir", n.dir, "--addr", "127.0.0.1:"+strconv.Itoa(n.port)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "imok" {
		t.Errorf("health against a live node: %v %q", err, out)
	}
	out, err = exec.Command(bin, "health", "--work-dir", n.dir, "--addr", "127.0.0.1:"+strconv.Itoa(freePort(t))).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("health against a dead port: err=%v, want exit 1", err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "connection refused") {
		t.Errorf("health failure output %q, want one line with the reason", out)
	}
}

func TestBadFlagsExitWithOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"up", "--no-such-flag"},
		{"up", "--port", "abc"},
		{"up", "--role", "boss"},
		{"up", "--role", "agent"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() == 0 {
			t.Errorf("nodectl %v: err=%v, want a non-zero exit", args, err)
			continue
		}
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "nodectl: ") {
			t.Errorf("nodectl %v printed %q, want one line", args, out)
		}
	}
}

// SIGTERM stops a node in stages within 10s with exit status 0, and
// --log-dir gets one file per role.
func TestSIGTERMAndLogDir(t *testing.T) {
	n := newNode(t)
	logDir := filepath.Join(t.TempDir(), "logs")
	p := start(t, n.args("all", "--log-dir", logDir, "--quiet")...)
	waitFor(t, 30*time.Second, "node healthy with one agent", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	began := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("node still running 10s after SIGTERM")
	}
	t.Logf("stopped %s after SIGTERM", time.Since(began).Round(time.Millisecond))
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if p.out.Len() != 0 {
		t.Errorf("--quiet still wrote to stderr: %q", p.out.String())
	}
	for _, role := range []string{"master", "agent"} {
		b, err := os.ReadFile(filepath.Join(logDir, "nodectl-"+role+".log"))
		if err != nil || !strings.Contains(string(b), "msg=") {
			t.Errorf("log file for %s: %v (%d bytes)", role, err, len(b))
		}
	}
	etcd, _ := os.ReadFile(filepath.Join(logDir, "nodectl-master.log"))
	if !strings.Contains(string(etcd), "component=etcd") {
		t.Error("etcd's logs are not in the master log")
	}
	// A clean start and stop is readable: no ERROR, and etcd's own
	// chatter (DEBUG unless asked) does not bury the node's lines.
	for _, role := range []string{"master", "agent"} {
		b, _ := os.ReadFile(filepath.Join(logDir, "nodectl-"+role+".log"))
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "level=ERROR") {
				t.Errorf("a clean start and stop logged an error: %s", line)
			}
		}
	}
	if n := strings.Count(string(etcd), "component=etcd"); n > 5 {
		t.Errorf("%d lines of etcd's in a clean start and stop, want its chatter at DEBUG", n)
	}
}
