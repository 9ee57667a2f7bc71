package e2e

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOutsiderChain replays, as an outsider with no certificate and no
// password, the chain that once went from the network to cluster admin
// (run a task, read its output through the master, mint a token, take a
// snapshot, read the bootstrap token in the master's log, tear down,
// reserve, mark an agent gone, SUBSCRIBE as the built-in framework): every
// step is refused with 401 and a WWW-Authenticate challenge, on the real
// binary.
func TestOutsiderChain(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	start(t, n.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(n.url()) })
	out := anonClient(t, n)
	steps := []struct{ method, path, ctype, body string }{
		{"POST", "/v2/apps", "application/json", `{"id":"/x","cmd":"cat /var/lib/nodectl/admin.key","cpus":0.1,"mem":32}`},
		{"POST", "/v2/apps", "text/plain", `{"id":"/x","cmd":"id","cpus":0.1,"mem":32}`},
		{"POST", "/api/v1/scheduler", "application/json", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x","id":{"value":"anything-0000"}}}}`},
		{"GET", "/agents/S0/files/read?path=/x&offset=0", "", ""},
		{"GET", "/files/read?path=/master/log&offset=0", "", ""},
		{"GET", "/master/tokens", "", ""},
		{"POST", "/master/tokens", "application/json", `{"role":"master","ttl":"0"}`},
		{"GET", "/master/snapshot", "", ""},
		{"GET", "/state", "", ""},
		{"POST", "/master/teardown", "application/x-www-form-urlencoded", "frameworkId=x"},
		{"POST", "/master/reserve", "application/x-www-form-urlencoded", "slaveId=x&resources=[]"},
		{"POST", "/master/agents/x/gone", "", ""},
		{"GET", "/auth/users", "", ""},
	}
	for _, s := range steps {
		req, _ := http.NewRequest(s.method, n.url()+s.path, strings.NewReader(s.body))
		if s.ctype != "" {
			req.Header.Set("Content-Type", s.ctype)
		}
		resp, err := out.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", s.method, s.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("outsider %s %s: %s %q, want 401 with a Basic challenge", s.method, s.path, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// What stays open: liveness, and the UI's page (it holds no data).
	for _, p := range []string{"/health", "/ping", "/"} {
		resp, err := out.Get(n.url() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("outsider GET %s: %s, want 200", p, resp.Status)
		}
	}
}

// TestAppScopedPrincipal: a user allowed only /team-a sees only its apps
// and their tasks everywhere it looks (/v2/apps, /v2/tasks,
// /v2/deployments, /v2/events, /state, /tasks, /frameworks) and is refused
// outside them.
func TestAppScopedPrincipal(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	appMust(t, n, "POST", "/auth/users", `{"principal":"alice","secret":"alice-secret-0001","apps":["/team-a"]}`, 201)
	alice := anonClient(t, n)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, n.url()+path, strings.NewReader(body))
		req.SetBasicAuth("alice", "alice-secret-0001")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := alice.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := do("POST", "/v2/apps", `{"id":"/team-a/web","cmd":"sleep 3000","cpus":0.01,"mem":16}`); code != 201 {
		t.Fatalf("alice creates /team-a/web: %d %s", code, b)
	}
	if code, b := do("POST", "/v2/apps", `{"id":"/team-b/web","cmd":"sleep 3000","cpus":0.01,"mem":16}`); code != 403 {
		t.Fatalf("alice creates /team-b/web: %d %s, want 403", code, b)
	}
	appMust(t, n, "POST", "/v2/apps", `{"id":"/team-b/db","cmd":"sleep 3001","cpus":0.01,"mem":16}`, 201)
	appWaitRunning(t, n, "/team-a/web", 1, false, 2*time.Minute)
	appWaitRunning(t, n, "/team-b/db", 1, false, 2*time.Minute)

	// The event stream: alice's sees her scale, and nothing of team-b's
	// (which happened first).
	req, _ := http.NewRequest("GET", n.url()+"/v2/events", nil)
	req.SetBasicAuth("alice", "alice-secret-0001")
	req.Header.Set("Accept", "text/event-stream")
	stream := &http.Client{Transport: alice.Transport}
	resp, err := stream.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("alice's events: %v %v", err, resp)
	}
	defer resp.Body.Close()
	appMust(t, n, "PUT", "/v2/apps/team-b/db", `{"instances":2}`, 200)
	if code, b := do("PUT", "/v2/apps/team-a/web", `{"instances":2}`); code != 200 {
		t.Fatalf("alice scales team-a: %d %s", code, b)
	}
	events := make(chan string)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			events <- sc.Text()
		}
	}()
	deadline := time.After(2 * time.Minute)
	for seen := false; !seen; {
		select {
		case line, ok := <-events:
			if !ok {
				t.Fatal("alice's event stream ended")
			}
			if strings.Contains(line, "/team-b") {
				t.Fatalf("alice's event stream shows team-b: %.300s", line)
			}
			seen = strings.HasPrefix(line, "data:") && strings.Contains(line, "/team-a/web")
		case <-deadline:
			t.Fatal("alice's event stream never showed her scale")
		}
	}

	// Both scales done: no launch is in flight when the test ends.
	appWaitRunning(t, n, "/team-a/web", 2, false, 2*time.Minute)
	appWaitRunning(t, n, "/team-b/db", 2, false, 2*time.Minute)
	for _, p := range []string{"/v2/apps", "/v2/tasks", "/v2/deployments", "/v2/queue", "/state", "/state-summary", "/tasks", "/frameworks"} {
		code, b := do("GET", p, "")
		if code != 200 || strings.Contains(b, "team-b") {
			t.Errorf("alice GET %s: %d, shows team-b: %.400s", p, code, b)
		}
		if p != "/v2/deployments" && p != "/v2/queue" && p != "/state-summary" && !strings.Contains(b, "team-a") {
			t.Errorf("alice GET %s: her own app is missing: %.400s", p, b)
		}
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v2/apps/team-b/db", ""}, {"DELETE", "/v2/apps/team-b/db", ""},
		{"PUT", "/v2/apps/team-b/db", `{"instances":0}`}, {"POST", "/v2/apps/team-b/db/restart", ""},
		{"DELETE", "/v2/apps/team-b/db/tasks", ""}, {"POST", "/master/teardown", ""}, {"GET", "/master/tokens", ""},
	} {
		if code, b := do(c.method, c.path, c.body); code != 403 {
			t.Errorf("alice %s %s: %d %s, want 403", c.method, c.path, code, b)
		}
	}
	// The admin sees both.
	var st struct {
		Frameworks []struct{ Tasks []struct{ Name string } }
	}
	if err := getJSON(n.url()+"/state", &st); err != nil {
		t.Fatal(err)
	}
	names := ""
	for _, f := range st.Frameworks {
		for _, tk := range f.Tasks {
			names += tk.Name + " "
		}
	}
	if !strings.Contains(names, "team-a") || !strings.Contains(names, "team-b") {
		t.Errorf("admin's /state tasks: %s", names)
	}
}
