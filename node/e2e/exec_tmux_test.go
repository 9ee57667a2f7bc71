package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/node/nodetest"
)

// tmux runs tmux on the test's own server socket.
type tmux struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("no tmux (make deps installs it)")
	}
	tm := &tmux{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	// The server and every pane's process go when the test ends.
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is the pane's visible text.
func (tm *tmux) screen() string { return tm.run("capture-pane", "-p", "-t", "exec") }

// waitScreen waits until the pane shows want.
func (tm *tmux) waitScreen(want string) {
	tm.t.Helper()
	waitFor(tm.t, 60*time.Second, "the terminal to show "+strconv.Quote(want), func() bool {
		return strings.Contains(tm.screen(), want)
	})
}

// TestExecTTYInTmux (issue 22 acceptance): `nodectl exec -it TASK -- sh`
// in a real terminal (tmux): the remote shell has a terminal of the
// window's size, typed commands run in the task as its user, a resize of
// the window reaches the remote terminal (SIGWINCH), and the shell's exit
// code is nodectl's. The local terminal is restored afterwards.
func TestExecTTYInTmux(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	tm := newTmux(t)
	n, task := execAppTask(t, appMark(2301))
	cmd := "env NODECTL_CLIENT_CONFIG=" + nodetest.ClientConfigFor(n.port) + " " + bin + " exec -it " + task +
		" -- sh; echo EXIT=$?; case \"$(stty -a)\" in *-icanon*) echo RAW;; *) echo COOKED;; esac; exec cat"
	tm.run("new-session", "-d", "-s", "exec", "-x", "100", "-y", "30", "sh", "-c", cmd)

	tm.waitScreen("$") // the remote shell's prompt (capture-pane trims its space)
	tm.run("send-keys", "-t", "exec", "tty; id -u; stty size; echo hello-$((6*7))", "Enter")
	tm.waitScreen("hello-42")
	if s := tm.screen(); !strings.Contains(s, "/dev/pts/") || !strings.Contains(s, "30 100") {
		t.Errorf("remote terminal: want a /dev/pts tty of 30x100:\n%s", s)
	}
	if s := tm.screen(); !strings.Contains(s, "\n"+strconv.Itoa(nobodyUID(t))+"\n") {
		t.Errorf("remote shell is not the task's user (nobody):\n%s", s)
	}
	tm.run("resize-window", "-t", "exec", "-x", "120", "-y", "40")
	tm.run("send-keys", "-t", "exec", "clear; echo term=$TERM; stty size; echo resized-$((1+1))", "Enter")
	tm.waitScreen("resized-2")
	if s := tm.screen(); !strings.Contains(s, "40 120") || !strings.Contains(s, "term=xterm") {
		t.Errorf("after resizing the window to 120x40:\n%s", s)
	}
	tm.run("send-keys", "-t", "exec", "exit 4", "Enter")
	// Raw mode was undone: the local terminal is canonical again.
	tm.waitScreen("EXIT=4\nCOOKED")
}
