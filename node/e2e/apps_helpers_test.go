package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers of the apps (/v2) end-to-end tests: plain HTTP with JSON bodies,
// as curl would send them.

// appHTTP is the client of the tests' own requests to tasks.
var appHTTP = &http.Client{Timeout: 5 * time.Second}

// appDo sends body (a JSON string, or "" for none) with method to path on
// the node's master and returns the status code and the response body.
func appDo(t testing.TB, n node, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.url()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// appMust is appDo that fails the test unless the status is one of want.
func appMust(t testing.TB, n node, method, path, body string, want ...int) []byte {
	t.Helper()
	code, b := appDo(t, n, method, path, body)
	for _, w := range want {
		if code == w {
			return b
		}
	}
	t.Fatalf("%s %s: %d, want %v: %s", method, path, code, want, b)
	return nil
}

// appInfo is the part of Marathon's app JSON the tests read.
type appInfo struct {
	ID              string                `json:"id"`
	Version         string                `json:"version"`
	Instances       int                   `json:"instances"`
	TasksRunning    int                   `json:"tasksRunning"`
	TasksStaged     int                   `json:"tasksStaged"`
	TasksHealthy    int                   `json:"tasksHealthy"`
	TasksUnhealthy  int                   `json:"tasksUnhealthy"`
	Deployments     []struct{ ID string } `json:"deployments"`
	LastTaskFailure *struct {
		TaskID  string `json:"taskId"`
		State   string `json:"state"`
		Message string `json:"message"`
	} `json:"lastTaskFailure"`
}

// appTask is the part of Marathon's task JSON the tests read.
type appTask struct {
	ID                 string `json:"id"`
	AppID              string `json:"appId"`
	State              string `json:"state"`
	Host               string `json:"host"`
	Ports              []int  `json:"ports"`
	HealthCheckResults []struct {
		Alive bool `json:"alive"`
	} `json:"healthCheckResults"`
}

// appGet is GET /v2/apps/{id}?embed=apps.lastTaskFailure; ok false on any error (404 included).
func appGet(n node, id string) (appInfo, bool) {
	var r struct {
		App appInfo `json:"app"`
	}
	err := getJSON(n.url()+"/v2/apps"+id+"?embed=apps.lastTaskFailure", &r)
	return r.App, err == nil
}

// appTasks is GET /v2/apps/{id}/tasks.
func appTasks(n node, id string) []appTask {
	var r struct {
		Tasks []appTask `json:"tasks"`
	}
	if getJSON(n.url()+"/v2/apps"+id+"/tasks", &r) != nil {
		return nil
	}
	return r.Tasks
}

// appWaitRunning waits until the app has exactly want running tasks (and
// healthy ones when healthy is set) and no deployment.
func appWaitRunning(t testing.TB, n node, id string, want int, healthy bool, timeout time.Duration) appInfo {
	t.Helper()
	var last appInfo
	waitFor(t, timeout, fmt.Sprintf("%s: %d running tasks (healthy %v) and no deployment", id, want, healthy), func() bool {
		a, ok := appGet(n, id)
		last = a
		if !ok || a.TasksRunning != want || len(a.Deployments) != 0 || a.TasksStaged != 0 {
			return false
		}
		return !healthy || a.TasksHealthy == want
	})
	return last
}

// appTaskIDs is the sorted ids of the app's tasks.
func appTaskIDs(n node, id string) []string {
	var ids []string
	for _, tk := range appTasks(n, id) {
		ids = append(ids, tk.ID)
	}
	return ids
}

// appMonitors counts the container monitors running for containers under
// dir (one per task container; see endContainers).
func appMonitors(dir string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	count := 0
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) >= 3 && filepath.Base(args[0]) == "nodectl-monitor" && strings.HasPrefix(args[1], dir+"/") {
			pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/cmdline"))
			if running(pid) {
				count++
			}
		}
	}
	return count
}

// appEvent is one event of /v2/events, with the time the test read it.
type appEvent struct {
	Type string
	Data map[string]any
	At   time.Time
}

func (e appEvent) str(k string) string { s, _ := e.Data[k].(string); return s }

// stamped is when the master published the event (its "timestamp"), or
// when the test read it if it has none: a stream read on a busy machine
// can lag the master by hundreds of milliseconds, unevenly.
func (e appEvent) stamped() time.Time {
	if at, err := time.Parse(time.RFC3339Nano, e.str("timestamp")); err == nil {
		return at
	}
	return e.At
}

// appEventStream reads /v2/events in the background until the test ends.
type appEventStream struct {
	mu     sync.Mutex // guards events
	events []appEvent
}

// appEvents subscribes to the node's event stream and waits for
// event_stream_attached, so nothing published after it returns is missed.
func appEvents(t testing.TB, n node) *appEventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url()+"/v2/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	// A node just (re)started may not lead yet: its apps API answers 503
	// until it does (its agent can be recovered before that).
	var resp *http.Response
	waitFor(t, 30*time.Second, "GET /v2/events answered other than 503", func() bool {
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("GET /v2/events: %v", err)
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			resp.Body.Close()
			return false
		}
		return true
	})
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /v2/events: %s", resp.Status)
	}
	s := &appEventStream{}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		typ := ""
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case bytes.HasPrefix(line, []byte("event: ")):
				typ = string(line[len("event: "):])
			case bytes.HasPrefix(line, []byte("data: ")):
				var m map[string]any
				if json.Unmarshal(line[len("data: "):], &m) == nil {
					s.mu.Lock()
					s.events = append(s.events, appEvent{Type: typ, Data: m, At: time.Now()})
					s.mu.Unlock()
				}
			}
		}
	}()
	waitFor(t, 10*time.Second, "event_stream_attached", func() bool { return len(s.of("event_stream_attached")) > 0 })
	return s
}

// all is a copy of the events read so far.
func (s *appEventStream) all() []appEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]appEvent(nil), s.events...)
}

// of is the events of one type read so far.
func (s *appEventStream) of(typ string) []appEvent {
	var out []appEvent
	for _, e := range s.all() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// appStartNode starts a --role=all node with room for small app tasks and
// waits for its agent.
func appStartNode(t testing.TB, resources string) node {
	t.Helper()
	n := newNode(t)
	if resources == "" {
		resources = "cpus:4;mem:4096;disk:1024;" + hostPorts()
	}
	start(t, n.args("all", "--resources", resources)...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	return n
}

// appPython is the host's python3 (tasks without an image run on the host
// rootfs); the test is skipped without one.
func appPython(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no python3 in /usr/bin or /usr/local/bin")
	return ""
}

// appMarkBase makes the `sleep N` command lines of one test run unique on
// the machine, so counting task processes by command line sees only ours.
var appMarkBase = 100000 + mathrand.IntN(800000)*10

// appMark is the unique sleep duration standing for n in this run. A test
// that counts processes by it needs an n no other test uses: the long
// tests run side by side (TestTasksBackAfterReboot once counted
// TestClientsGoMarathonGroups' tasks, both on 7101 and 7103).
func appMark(n int) string { return strconv.Itoa(appMarkBase + n) }
