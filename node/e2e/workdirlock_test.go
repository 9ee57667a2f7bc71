package e2e

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondNodeOnWorkDirExits: a second `nodectl up` on a work dir a
// running node owns exits non-zero at once, naming the owner's pid, and the
// owner keeps running (issue 15, item 10). Before, a second agent
// reattached the same tasks and a second --role=all blocked on etcd's lock.
func TestSecondNodeOnWorkDirExits(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	first := start(t, n.args("all")...)
	waitFor(t, 60*time.Second, "first node healthy", func() bool { return healthy(n.url()) })
	for _, role := range []string{"all", "agent", "master"} {
		t.Run(role, func(t *testing.T) {
			other := newNode(t) // fresh ports; the work dir is n's
			other.dir = n.dir
			began := time.Now()
			var extra []string
			if role == "agent" {
				extra = []string{"--master", "127.0.0.1:" + strconv.Itoa(n.port)}
			}
			second := start(t, other.args(role, extra...)...)
			select {
			case <-second.done:
			case <-time.After(30 * time.Second): // bounds a hang only
				second.kill(syscall.SIGKILL)
				t.Fatalf("second --role=%s on the same work dir still running after 30s:\n%s", role, second.out)
			}
			t.Logf("second --role=%s exited after %s: %s", role, time.Since(began).Round(time.Millisecond), strings.TrimSpace(second.out.String()))
			if code := second.cmd.ProcessState.ExitCode(); code == 0 {
				t.Fatalf("second node exited 0, want non-zero")
			}
			out := second.out.String()
			if want := "pid " + strconv.Itoa(first.cmd.Process.Pid); !strings.Contains(out, want) || !strings.Contains(out, "in use") {
				t.Fatalf("message %q does not name the owner (%s)", out, want)
			}
			select {
			case <-first.done:
				t.Fatalf("first node exited:\n%s", first.out)
			default:
			}
			if !healthy(n.url()) {
				t.Fatalf("first node no longer healthy")
			}
		})
	}
}
