package e2e

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuHog starts n busy shell loops that stop by themselves after d
// (coreutils timeout), and at the test's end at the latest. It returns a
// channel closed once they all exited.
func cpuHog(t testing.TB, n int, d time.Duration) <-chan struct{} {
	t.Helper()
	// timeout(1) refusing its duration exits at once (status 125): the
	// hog would silently not run and a load test pass for the wrong
	// reason. Check the form first.
	if out, err := exec.Command("timeout", timeoutArg(d), "true").CombinedOutput(); err != nil {
		t.Fatalf("CPU hog: timeout %s: %v %s", timeoutArg(d), err, out)
	}
	return startHog(t, n, d)
}

// timeoutArg is d as timeout(1) reads it: whole seconds. (Duration's
// String, "2m0s", is not a duration timeout(1) knows: a hog of a minute
// or more never ran.)
func timeoutArg(d time.Duration) string {
	return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
}

func startHog(t testing.TB, n int, d time.Duration) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	var cmds []*exec.Cmd
	for range n {
		c := exec.Command("timeout", "-s", "KILL", timeoutArg(d), "sh", "-c", "while :; do :; done")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the cleanup kills the loop with its timeout
		if err := c.Start(); err != nil {
			t.Fatalf("start CPU hog: %v", err)
		}
		cmds = append(cmds, c)
	}
	go func() {
		for _, c := range cmds {
			_ = c.Wait()
		}
		close(done)
	}()
	t.Cleanup(func() {
		for _, c := range cmds {
			// The whole group: a timeout killed alone leaves its loop running.
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
		<-done
	})
	return done
}

// A one-member master keeps its leadership on a machine starved of CPU:
// two busy loops per core for 20 s, and in the middle the whole process
// (its embedded etcd included) stopped for 5 s, longer than a
// multi-master lease (3 s) but within the one-member lease (15 s).
// Before, the etcd session expired and the only master stepped down.
func TestSoloMasterKeepsLeadershipUnderLoad(t *testing.T) {
	n := newNode(t)
	p := start(t, n.args("master")...)
	waitFor(t, 60*time.Second, "elected and observed", func() bool {
		return metric(n.url(), "master/elected") == 1 && metric(n.url(), "master/leader_changes") == 1
	})
	const changes = 1
	const masterStall = 5 * time.Second

	hog := cpuHog(t, 2*runtime.NumCPU(), 20*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The stimulus, not a wait: the master stays stopped longer than the
	// 3 s lease a one-member cluster had before.
	<-time.After(masterStall)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	<-hog
	waitFor(t, 60*time.Second, "metrics", func() bool { return metric(n.url(), "master/elected") >= 0 })
	if got := metric(n.url(), "master/elected"); got != 1 {
		t.Errorf("master/elected = %v after the load, want 1", got)
	}
	if got := metric(n.url(), "master/leader_changes"); got != changes {
		t.Errorf("master/leader_changes %v → %v under load", changes, got)
	}
	p.kill(syscall.SIGTERM)
	if out := p.out.String(); strings.Contains(out, "election session ended") || strings.Contains(out, "stepping down") {
		t.Errorf("the only master lost its term under load:\n%s", out)
	}
}
