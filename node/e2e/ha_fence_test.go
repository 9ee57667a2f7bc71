package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// haNoRedirect sends a JSON request and reports the answer as it is (a
// 307 to the leader is not followed): what this master itself answered.
func haNoRedirect(method, url, body string) (int, string) {
	c := &http.Client{Timeout: 2 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// haAppDef is an app's definition as a leader answers it (200), or false.
func haAppDef(url, id string) (instances int, version string, ok bool) {
	var a struct {
		App struct {
			Instances int    `json:"instances"`
			Version   string `json:"version"`
		} `json:"app"`
	}
	code, b := haDo("GET", url+"/v2/apps/"+id, "")
	if code != 200 || json.Unmarshal(b, &a) != nil {
		return 0, "", false
	}
	return a.App.Instances, a.App.Version, true
}

// TestHADeposedLeaderCommitsNothing: the leader is paused (SIGSTOP) past
// its lease while writes to it wait in its listen queue; a successor
// takes over; the old leader resumes (SIGCONT). It acknowledges none of
// those writes, steps down, and commits nothing: a third leader, which
// loads the apps state from etcd afresh, sees the app as it was before
// the pause.
func TestHADeposedLeaderCommitsNothing(t *testing.T) {
	// Not t.Parallel: three masters on a 500 ms election timeout flap
	// leadership beside the other tests' load (its create got 503 "Could
	// not determine the current leader" so).
	haDeposedLeader(t, haFlags, nil)
}

// haDeposedLeader is TestHADeposedLeaderCommitsNothing with the masters'
// flags; paused, if set, checks the leader just before it is paused.
func haDeposedLeader(t *testing.T, flags []string, paused func(old *haMaster)) {
	startMaster := func(extra ...string) *haMaster {
		m := &haMaster{n: newNode(t)}
		m.p = start(t, m.n.args("master", append(append([]string{}, flags...), extra...)...)...)
		return m
	}
	m1 := startMaster()
	waitFor(t, 30*time.Second, "first master", func() bool { return healthy(m1.n.url()) })
	join := haJoin(m1, haToken(t, m1, "master"))
	m2, m3 := startMaster(join...), startMaster(join...)
	haWaitVoters(t, m1.n.url(), 3)
	ms := []*haMaster{m1, m2, m3}
	old := haWaitLeader(t, ms)
	if paused != nil {
		paused(old)
	}
	// No agents: the app is a definition (and its deployment) only.
	if code, b := haDo("POST", old.n.url()+"/v2/apps", `{"id":"/fence","cmd":"sleep 1","instances":1,"cpus":0.01,"mem":1}`); code != 201 {
		t.Fatalf("create app: %d %s", code, b)
	}
	_, version, ok := haAppDef(old.n.url(), "fence")
	if !ok {
		t.Fatal("app not readable on the leader")
	}

	if err := old.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The requests below are sent to a stopped leader: wait until every
	// thread of it has stopped (the kernel stops them one by one).
	waitFor(t, 30*time.Second, "every thread of the leader stopped", func() bool { return allThreadsStopped(old.p.cmd.Process.Pid) })
	stopped := time.Now()
	t.Cleanup(func() { _ = old.p.cmd.Process.Signal(syscall.SIGCONT) })
	type answer struct {
		what string
		code int
		body string
	}
	answers := make(chan answer, 3)
	for _, w := range []struct{ what, method, path, body string }{
		{"scale", "PUT", "/v2/apps/fence?force=true", `{"instances":5}`},
		{"create", "POST", "/v2/apps", `{"id":"/fence-new","cmd":"sleep 1","instances":1,"cpus":0.01,"mem":1}`},
		{"delete", "DELETE", "/v2/apps/fence?force=true", ``},
	} {
		go func() {
			code, body := haNoRedirect(w.method, old.n.url()+w.path, w.body)
			answers <- answer{w.what, code, body}
		}()
	}
	var others []*haMaster
	for _, m := range ms {
		if m != old {
			others = append(others, m)
		}
	}
	succ := haWaitLeader(t, others)
	t.Logf("successor elected %s after the pause", time.Since(stopped).Round(time.Millisecond))
	if _, v, ok := haAppDef(succ.n.url(), "fence"); !ok || v != version {
		waitFor(t, 30*time.Second, "the successor serving the app", func() bool {
			_, v, ok = haAppDef(succ.n.url(), "fence")
			return ok
		})
		if v != version {
			t.Errorf("successor's app version %s, want %s", v, version)
		}
	}

	if err := old.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a := <-answers
		if a.code/100 == 2 {
			t.Errorf("the deposed leader acknowledged the %s: %d %s", a.what, a.code, a.body)
		} else {
			t.Logf("the deposed leader answered the %s: %d %s", a.what, a.code, strings.TrimSpace(a.body))
		}
	}
	waitFor(t, 30*time.Second, "the old leader to step down", func() bool { return metric(old.n.url(), "master/elected") == 0 })

	// What etcd holds: a new leader loads it afresh.
	succ.p.kill(syscall.SIGKILL)
	var rest []*haMaster
	for _, m := range ms {
		if m != succ {
			rest = append(rest, m)
		}
	}
	third := haWaitLeader(t, rest)
	var n int
	var v string
	waitFor(t, 30*time.Second, "the third leader serving the app", func() bool {
		n, v, ok = haAppDef(third.n.url(), "fence")
		return ok
	})
	if n != 1 || v != version {
		t.Errorf("app after the deposed leader resumed: %d instances, version %s; want 1, %s", n, v, version)
	}
	if code, b := haDo("GET", third.n.url()+"/v2/apps/fence-new", ""); code != 404 {
		t.Errorf("app created through the deposed leader: %d %s, want 404", code, b)
	}
}

// allThreadsStopped reports whether every thread of pid is in the stopped
// state ('T' in /proc/<pid>/task/<tid>/stat).
func allThreadsStopped(pid int) bool {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if len(stats) == 0 {
		return false
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}
