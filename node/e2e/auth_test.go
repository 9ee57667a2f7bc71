package e2e

import (
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
