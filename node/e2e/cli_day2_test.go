package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cliRun runs the built nodectl against n: stdout, stderr, exit code.
func cliRun(t testing.TB, n node, args ...string) (string, string, int) {
	t.Helper()
	return cliRunEnv(t, n, nil, args...)
}

// cliRunEnv is cliRun with more environment (KEY=value), given to the
// command only, so the test can run beside others (no t.Setenv).
func cliRunEnv(t testing.TB, n node, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(cliEnv(n.port), "NODECTL_MASTER=127.0.0.1:"+strconv.Itoa(n.port)), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nodectl %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// lineWatcher collects a running command's stdout lines.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
}

func (w *lineWatcher) has(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// follow starts nodectl with args, collecting its stdout; the returned
// func stops it.
func follow(t *testing.T, n node, args ...string) (*lineWatcher, *exec.Cmd) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cliEnv(n.port), "NODECTL_MASTER=127.0.0.1:"+strconv.Itoa(n.port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &lineWatcher{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; _ = cmd.Wait() })
	return w, cmd
}

// Day two from a shell: execute shows the task's output and exits with its
// code; --detach -q prints the id alone; logs (and logs -f) of a task and
// of an app; help; usage errors exit 2; completion asks the binary.
func TestCLIDayTwo(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")

	// execute: stdout is the task's, its stderr and the status lines on
	// stderr, the exit code the task's.
	out, errOut, code := cliRun(t, n, "execute", "--name", "out", "--", "sh", "-c", "echo hello-day2; echo oops >&2; exit 3")
	if code != 3 || out != "hello-day2\n" || !strings.Contains(errOut, "oops\n") || !strings.Contains(errOut, "TASK_FAILED") {
		t.Fatalf("execute: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	out, errOut, code = cliRun(t, n, "execute", "-q", "--name", "fine", "--", "sh", "-c", "echo $MESOS_SANDBOX | grep -c /")
	if code != 0 || out != "1\n" || errOut != "" {
		t.Fatalf("execute -q: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// --detach -q: one line, the id
	out, errOut, code = cliRun(t, n, "execute", "--name", "acc-logs", "--detach", "-q", "--", "sh", "-c", "echo logline-42; i=0; while true; do i=$((i+1)); echo tick-$i; echo etick-$i >&2; sleep 0.2; done")
	id := strings.TrimSuffix(out, "\n")
	if code != 0 || !strings.HasPrefix(id, "acc-logs.") || strings.Contains(id, "\n") || errOut != "" {
		t.Fatalf("execute --detach -q: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Cleanup(func() { cliRun(t, n, "task", "kill", id) })
	// --detach -o json names the task's sandbox (looked up while the task
	// started), a directory of the agent.
	out, errOut, code = cliRun(t, n, "execute", "--name", "dj", "--detach", "-q", "-o", "json", "--", "sleep", "7641")
	var detached map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &detached) != nil || !strings.HasPrefix(detached["id"], "dj.") {
		t.Fatalf("execute --detach -o json: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Cleanup(func() { cliRun(t, n, "task", "kill", detached["id"]) })
	if fi, err := os.Stat(detached["sandbox"]); err != nil || !fi.IsDir() || !strings.Contains(detached["sandbox"], "/runs/") {
		t.Errorf("execute --detach -o json: sandbox %q: %v", detached["sandbox"], err)
	}
	waitFor(t, 15*time.Second, "logs show the task's output", func() bool {
		out, _, code := cliRun(t, n, "logs", id)
		return code == 0 && strings.HasPrefix(out, "logline-42\ntick-1\n")
	})
	// stderr has its own pace: wait for a second line there too (CI once
	// saw only "etick-1" when stdout already had its first tick).
	waitFor(t, 15*time.Second, "two lines on the task's stderr", func() bool {
		out, _, code = cliRun(t, n, "logs", "--stderr", "--tail", "2", id)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		return code == 0 && len(lines) == 2 && strings.HasPrefix(lines[0], "etick-")
	})
	// -f shows what the task prints next
	w, _ := follow(t, n, "logs", "-f", "--tail", "0", id)
	out, _, _ = cliRun(t, n, "logs", "--tail", "1", id)
	last, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(out), "tick-"))
	waitFor(t, 15*time.Second, "logs -f follows", func() bool { return w.has("tick-" + strconv.Itoa(last+3)) })
	// and ends when the task does
	fw, cmd := follow(t, n, "logs", "-f", "--tail", "0", id)
	if _, _, code := cliRun(t, n, "task", "kill", id); code != 0 {
		t.Fatalf("task kill: exit %d", code)
	}
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("logs -f of a killed task: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("logs -f did not end with its task (saw tick-1: %v)", fw.has("tick-1"))
	}

	// an app: every instance, lines prefixed with the task id
	appMust(t, n, "POST", "/v2/apps", `{"id":"/cli/echo","cmd":"i=0; while true; do i=$((i+1)); echo app-line-$i; sleep 0.2; done","cpus":0.05,"mem":32,"instances":2}`, 201)
	appWaitRunning(t, n, "/cli/echo", 2, false, 60*time.Second)
	ids := appTaskIDs(n, "/cli/echo")
	for _, args := range [][]string{{"logs", "/cli/echo"}, {"app", "logs", "/cli/echo"}} {
		waitFor(t, 15*time.Second, strings.Join(args, " ")+" shows both instances", func() bool {
			out, _, code := cliRun(t, n, args...)
			return code == 0 && strings.Contains(out, ids[0]+" | app-line-1\n") && strings.Contains(out, ids[1]+" | app-line-1\n")
		})
	}
	aw, _ := follow(t, n, "app", "logs", "-f", "--tail", "1", "/cli/echo")
	waitFor(t, 15*time.Second, "app logs -f follows both", func() bool {
		return aw.has(ids[0]+" | app-line-") && aw.has(ids[1]+" | app-line-")
	})
	out, _, code = cliRun(t, n, "app", "tasks", "-q", "/cli/echo")
	if code != 0 || len(strings.Fields(out)) != 2 {
		t.Errorf("app tasks -q: exit %d\n%s", code, out)
	}
	// app kill --scale: one instance fewer
	out, _, code = cliRun(t, n, "app", "kill", "--scale", "--task", ids[0], "/cli/echo")
	if code != 0 || !strings.Contains(out, "finished") {
		t.Errorf("app kill --scale: exit %d\n%s", code, out)
	}
	if a, _ := appGet(n, "/cli/echo"); a.Instances != 1 {
		t.Errorf("after app kill --scale: %d instances, want 1", a.Instances)
	}
	// app edit: an editor that changes nothing, then one that scales
	_, errOut, code = cliRunEnv(t, n, []string{"EDITOR=true"}, "app", "edit", "/cli/echo")
	if code != 0 || !strings.Contains(errOut, "no changes") {
		t.Errorf("app edit (no change): exit %d %s", code, errOut)
	}
	_, errOut, code = cliRunEnv(t, n, []string{`EDITOR=sed -i 's/"instances": 1,/"instances": 2,/'`}, "app", "edit", "/cli/echo")
	if a, _ := appGet(n, "/cli/echo"); code != 0 || a.Instances != 2 {
		t.Errorf("app edit: exit %d, %d instances, want 2\n%s", code, a.Instances, errOut)
	}

	// help and usage errors
	out, _, code = cliRun(t, n, "help")
	if code != 0 || !strings.Contains(out, "logs") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"no-such-command"}, {"task", "logs"}, {"logs"}, {"execute", "--", "true"}, {"task", "list", "--nope"}} {
		out, errOut, code := cliRun(t, n, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line", args, code, out, errOut)
		}
	}
	// completion: what the bash and zsh scripts ask the binary
	out, _, _ = cliRun(t, n, "app", "--generate-bash-completion")
	for _, want := range []string{"kill", "logs", "edit", "exec"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("app completion lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = cliRun(t, n, "task", "list", "--li", "--generate-bash-completion")
	if !strings.Contains(out, "--limit\n") {
		t.Errorf("flag completion:\n%s", out)
	}
}
