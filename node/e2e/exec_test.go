package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nodectlExec runs `nodectl exec args...` against n with the admin's client
// config (plus env) and stdin, and returns its stdout, stderr and exit code.
func nodectlExec(t *testing.T, n node, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"exec"}, args...)...)
	cmd.Env = append(cliEnv(n.port), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	}
	t.Fatalf("nodectl exec: %v", err)
	return "", "", 0
}

// execAppTask starts a node running the app /exec/app (`sleep mark`, with
// EXEC_APP_VAR=from-app) and returns the node and the app's task id.
func execAppTask(t *testing.T, mark string) (node, string) {
	t.Helper()
	n := appStartNode(t, "")
	appMust(t, n, "POST", "/v2/apps", `{"id": "/exec/app", "cmd": "sleep `+mark+`", "cpus": 0.05, "mem": 32,
		"env": {"EXEC_APP_VAR": "from-app"}}`, 201)
	appWaitRunning(t, n, "/exec/app", 1, false, 2*time.Minute)
	ids := appTaskIDs(n, "/exec/app")
	if len(ids) != 1 {
		t.Fatalf("tasks of /exec/app: %v", ids)
	}
	return n, ids[0]
}

// TestExecInTask (issue 22 point 2): `nodectl exec TASK -- CMD` runs CMD
// inside a running app task, through the leading master and the task's
// agent: as the task's user (nobody), in its pid namespace (pid 1 is the
// task's command), with its hostname and environment; stdout and stderr
// stay apart, -i forwards stdin, and the remote exit code is nodectl's.
// A principal without launch_nested_container_sessions on the task (an
// app-scoped user of other apps) is refused, and nothing the sessions
// started is left in the task.
func TestExecInTask(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	nobody := nobodyUID(t)
	mark := appMark(2201)
	n, task := execAppTask(t, mark)

	out, errOut, code := nodectlExec(t, n, "", nil, task, "--", "sh", "-c",
		`id -u; echo hi; tr '\0' ' ' < /proc/1/cmdline; echo; echo "$EXEC_APP_VAR $MESOS_TASK_ID"; echo to-stderr >&2`)
	if code != 0 {
		t.Fatalf("exec: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 4 || lines[0] != strconv.Itoa(nobody) || lines[1] != "hi" {
		t.Errorf("exec output %q: want uid %d then hi", out, nobody)
	}
	if len(lines) < 4 || !strings.Contains(lines[2], "sleep "+mark) {
		t.Errorf("exec's pid 1 is not the task's command: %q", out)
	}
	if len(lines) < 4 || lines[3] != "from-app "+task {
		t.Errorf("exec's environment is not the task's: %q", out)
	}
	if errOut != "to-stderr\n" {
		t.Errorf("stderr %q, want to-stderr", errOut)
	}

	if out, errOut, code := nodectlExec(t, n, "", nil, task, "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exit 3: nodectl exited %d (stdout %q, stderr %q)", code, out, errOut)
	}
	if out, errOut, code := nodectlExec(t, n, "line-from-stdin\n", nil, "-i", task, "--", "sh", "-c", "read l; echo got:$l"); code != 0 || out != "got:line-from-stdin\n" {
		t.Errorf("-i: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Without -i the command reads nothing.
	if out, _, code := nodectlExec(t, n, "ignored\n", nil, task, "--", "cat"); code != 0 || out != "" {
		t.Errorf("without -i: exit %d, stdout %q", code, out)
	}
	// A session's background processes die with it.
	if _, errOut, code := nodectlExec(t, n, "", nil, task, "--", "sh", "-c", "sleep "+appMark(2202)+" & echo started"); code != 0 {
		t.Errorf("background: exit %d: %s", code, errOut)
	}
	waitFor(t, 30*time.Second, "the session's background sleep gone", func() bool {
		return len(cmdlinePids()["sleep "+appMark(2202)]) == 0
	})

	// Usage and refusals.
	if _, errOut, code := nodectlExec(t, n, "", nil, task); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("no command: exit %d, stderr %q; want 2 and the usage", code, errOut)
	}
	if _, errOut, code := nodectlExec(t, n, "", nil, "no-such-task", "--", "true"); code == 0 || !strings.Contains(errOut, "no running task") {
		t.Errorf("unknown task: exit %d, stderr %q", code, errOut)
	}
	appMust(t, n, "POST", "/auth/users", `{"principal":"bob","secret":"bob-secret-00001","apps":["/other"]}`, 201)
	bob := []string{"NODECTL_PRINCIPAL=bob", "NODECTL_SECRET=bob-secret-00001"}
	out, errOut, code = nodectlExec(t, n, "", bob, task, "--", "sh", "-c", "echo should-not-run")
	if code == 0 || strings.Contains(out, "should-not-run") || !strings.Contains(errOut, "launch_nested_container_sessions") {
		t.Errorf("bob (scoped to /other): exit %d, stdout %q, stderr %q; want a refusal naming the permission", code, out, errOut)
	}
	// The same user scoped to the app's prefix may.
	appMust(t, n, "POST", "/auth/users", `{"principal":"carol","secret":"carol-secret-0001","apps":["/exec"]}`, 201)
	carol := []string{"NODECTL_PRINCIPAL=carol", "NODECTL_SECRET=carol-secret-0001"}
	if out, errOut, code := nodectlExec(t, n, "", carol, task, "--", "echo", "carol-in"); code != 0 || out != "carol-in\n" {
		t.Errorf("carol (scoped to /exec): exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The task itself kept running through all of it.
	if got := appTaskIDs(n, "/exec/app"); len(got) != 1 || got[0] != task {
		t.Errorf("tasks after the sessions: %v, want still %s", got, task)
	}
}
