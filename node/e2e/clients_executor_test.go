package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mesos-go's example scheduler and example executor, unchanged
// (testdata/thirdparty/mesos-go, built here from that module), against a
// real node: the scheduler registers with HTTP Basic over TLS, serves the
// executor binary from its own artifact server, and launches -tasks 3
// tasks on its CUSTOM executor "default"; the agent fetches the binary
// (CommandInfo.uris), starts the executor once in its own container, and
// the executor subscribes to the agent's executor API (plain HTTP on
// loopback, identified by the kernel), gets a LAUNCH per task and reports
// TASK_RUNNING and TASK_FINISHED with UPDATE calls. The scheduler exits
// ("mission accomplished") once every task finished; the framework's
// teardown sends the executor SHUTDOWN and its container ends.
func TestClientsMesosGoExampleExecutor(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	runExampleExecutor(t, "protobuf")
}

// The same with the example scheduler's -codec json.
func TestClientsMesosGoExampleExecutorJSON(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	runExampleExecutor(t, "json")
}

// buildExamples builds mesos-go's example scheduler and executor from the
// vendored module, once per test run (both example tests use them, side by
// side), into a directory TestMain removes.
func buildExamples(t *testing.T) (sched, executor string) {
	t.Helper()
	examples.Lock()
	defer examples.Unlock()
	if examples.dir == "" {
		dir, err := os.MkdirTemp("", "nodectl-e2e-examples-")
		if err != nil {
			t.Fatal(err)
		}
		mod, err := filepath.Abs(filepath.Join("testdata", "thirdparty", "mesos-go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []struct{ pkg, out string }{
			{"./api/v1/cmd/example-scheduler", "example-scheduler"},
			{"./api/v1/cmd/example-executor", "example-executor"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
			cmd.Dir = mod
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				_ = os.RemoveAll(dir)
				t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
			}
		}
		examples.dir = dir
	}
	return filepath.Join(examples.dir, "example-scheduler"), filepath.Join(examples.dir, "example-executor")
}

// examples is the directory of the built example binaries ("" until the
// first buildExamples).
var examples struct {
	sync.Mutex
	dir string
}

func runExampleExecutor(t *testing.T, codec string) {
	schedBin, execBin := buildExamples(t)
	n, _ := clientsStartNode(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(clientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	name := "example-" + codec
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, schedBin,
		"-url", n.url()+"/api/v1/scheduler", "-codec", codec,
		"-authmode", "basic", "-credentials.username", clientPrincipal, "-credentials.passwordFile", pwFile,
		"-executor", execBin, "-exec.image", "", "-server.address", "127.0.0.1", "-server.port", strconv.Itoa(freePort(t)),
		"-metrics.port", strconv.Itoa(freePort(t)),
		"-tasks", "3", "-cpu", "0.1", "-memory", "32", "-exec.cpu", "0.1", "-exec.memory", "64",
		"-user", me.Username, "-name", name, "-verbose")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(n.dir, "pki", "ca.crt"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("example scheduler output (tail):\n%s", tail(out.String(), 80))
		}
	})
	select {
	case <-done:
		// It exits 1 ("context canceled") after "mission accomplished",
		// and on any task in an unexpected state: its output tells.
		t.Logf("example scheduler exited: %v", waitErr)
	case <-time.After(3 * time.Minute): // bounds a hang only
		t.Fatal("the example scheduler did not finish")
	}
	if !strings.Contains(out.String(), "mission accomplished") {
		t.Fatalf("the example scheduler did not finish its tasks")
	}

	// The master saw every task finish on the executor "default".
	fwID := ""
	waitFor(t, 30*time.Second, "3 tasks TASK_FINISHED on executor default", func() bool {
		var st struct {
			Frameworks []struct {
				ID, Name string
				Tasks    []struct {
					ID         string `json:"id"`
					State      string `json:"state"`
					ExecutorID string `json:"executor_id"`
				} `json:"tasks"`
				CompletedTasks []struct {
					ID         string `json:"id"`
					State      string `json:"state"`
					ExecutorID string `json:"executor_id"`
				} `json:"completed_tasks"`
			} `json:"frameworks"`
		}
		if getJSON(n.url()+"/state", &st) != nil {
			return false
		}
		for _, f := range st.Frameworks {
			if f.Name != name {
				continue
			}
			fwID = f.ID
			finished := 0
			for _, tk := range append(f.Tasks, f.CompletedTasks...) {
				if tk.State == "TASK_FINISHED" {
					finished++
				}
			}
			return finished == 3
		}
		return false
	})

	// The executor runs (the example executor stays subscribed) until
	// the framework is torn down: SHUTDOWN, and its container ends.
	sandboxes := filepath.Join(n.dir, "slaves")
	if pids := executorProcs(sandboxes); len(pids) > 0 {
		checkExecutorAPIAuth(t, pids[0], fwID)
	} else {
		t.Logf("the executor had already exited before the teardown")
	}
	resp, err := http.PostForm(n.url()+"/master/teardown", url.Values{"frameworkId": {fwID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("teardown: %s", resp.Status)
	}
	waitFor(t, 60*time.Second, "the executor's processes gone", func() bool { return len(executorProcs(sandboxes)) == 0 })
}

// checkExecutorAPIAuth calls the executor API the executor pid was given
// (MESOS_AGENT_ENDPOINT in its environment) from this test process, which
// is in no executor's container: without credentials 401; with the
// executor's own token (MESOS_EXECUTOR_AUTHENTICATION_TOKEN) but naming
// another executor 403; with the token naming itself, SUBSCRIBE works
// (200).
func checkExecutorAPIAuth(t *testing.T, pid int, fwID string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(raw), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	endpoint, token := env["MESOS_AGENT_ENDPOINT"], env["MESOS_EXECUTOR_AUTHENTICATION_TOKEN"]
	if endpoint == "" || token == "" || env["MESOS_EXECUTOR_ID"] != "default" || env["MESOS_FRAMEWORK_ID"] != fwID || env["MESOS_HTTP_COMMAND_EXECUTOR"] != "0" {
		t.Fatalf("executor environment: endpoint %q, token set %v, executor %q, framework %q", endpoint, token != "", env["MESOS_EXECUTOR_ID"], env["MESOS_FRAMEWORK_ID"])
	}
	call := func(tok, executorID string) int {
		body := fmt.Sprintf(`{"type":"SUBSCRIBE","framework_id":{"value":%q},"executor_id":{"value":%q},"subscribe":{}}`, fwID, executorID)
		req, _ := http.NewRequest("POST", "http://"+endpoint+"/api/v1/executor", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // a SUBSCRIBE stream: closed at once
		return resp.StatusCode
	}
	if code := call("", "default"); code != http.StatusUnauthorized {
		t.Errorf("executor API from an unidentified peer: %d, want 401", code)
	}
	if code := call("not-a-token", "default"); code != http.StatusUnauthorized {
		t.Errorf("executor API with a wrong token: %d, want 401", code)
	}
	if code := call(token, "another"); code != http.StatusForbidden {
		t.Errorf("executor API as executor default naming executor another: %d, want 403", code)
	}
	if code := call(token, "default"); code != http.StatusOK {
		t.Errorf("executor API with the executor's token: %d, want 200", code)
	}
}

// executorProcs lists processes whose working directory is a custom
// executor's sandbox (…/executors/default/runs/…) under dir.
func executorProcs(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, dir+"/") && strings.Contains(cwd, "/executors/default/runs/") {
			out = append(out, pid)
		}
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
