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

// A person at a terminal (bash in tmux): completion of commands and flags,
// ID=$(nodectl execute --detach -q …), and nodectl logs -f of that task.
func TestCLIInTmux(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed")
	}
	n := appStartNode(t, "")
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", "cli", "-x", "150", "-y", "40", "env", "-i", "TERM=xterm", "HOME="+t.TempDir(), "bash", "--norc", "--noprofile")
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", sock, "kill-server").Run() })
	screen := func() string { return tmux("capture-pane", "-p", "-t", "cli", "-S", "-100") }
	typeLine := func(s string) { tmux("send-keys", "-t", "cli", "-l", s); tmux("send-keys", "-t", "cli", "Enter") }
	waitScreen := func(what, want string) {
		t.Helper()
		waitFor(t, 20*time.Second, what, func() bool { return strings.Contains(screen(), want) })
	}

	typeLine("export PATH=" + filepath.Dir(bin) + ":/usr/bin:/bin NODECTL_CLIENT_CONFIG=" + nodetest.ClientConfigFor(n.port) + " NODECTL_MASTER=127.0.0.1:" + strconv.Itoa(n.port))
	typeLine("source <(nodectl completion bash) && echo COMPLETION-LOADED")
	waitScreen("completion loaded", "\nCOMPLETION-LOADED")

	// a subcommand, then a flag
	tmux("send-keys", "-t", "cli", "-l", "nodectl app ki")
	tmux("send-keys", "-t", "cli", "Tab")
	waitScreen("nodectl app ki<TAB> completes", "nodectl app kill")
	tmux("send-keys", "-t", "cli", "C-u")
	tmux("send-keys", "-t", "cli", "-l", "nodectl task list --li")
	tmux("send-keys", "-t", "cli", "Tab")
	waitScreen("--li<TAB> completes", "nodectl task list --limit")
	tmux("send-keys", "-t", "cli", "C-u")

	typeLine(`ID=$(nodectl execute --name tmux --detach -q -- sh -c 'i=0; while true; do i=$((i+1)); echo tmux-tick-$i; sleep 0.2; done'); echo "ID=[$ID]"`)
	waitScreen("the id alone", "ID=[tmux.")
	typeLine(`nodectl logs -f "$ID"`)
	waitScreen("logs -f follows", "tmux-tick-5\n")
	tmux("send-keys", "-t", "cli", "C-c")
	typeLine(`nodectl task kill "$ID" >/dev/null; echo "KILLED=$?"`)
	waitScreen("task killed", "KILLED=0")
}
