package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTaskSeccompAndHiddenWorkDir: on a node whose work dir is visible on
// the host (not under /tmp, which tasks get a private copy of), an app's
// task runs under the default seccomp filter with no_new_privs and cannot
// read the node's PKI; container.linuxInfo.seccomp.unconfined is refused
// for a principal that is not a superuser (403) and honoured for the admin.
func TestTaskSeccompAndHiddenWorkDir(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, err := os.MkdirTemp("/var/lib", "nodectl-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(func() { endContainers(t, dir) })
	n := node{dir: dir, port: freePort(t), agentPort: freePort(t), etcd: freePort(t), etcdPr: freePort(t)}
	start(t, n.args("all", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	if _, err := os.Stat(filepath.Join(dir, "pki")); err != nil {
		t.Fatalf("test assumption: %v", err)
	}

	appMust(t, n, "POST", "/auth/users", `{"principal":"bob","secret":"bob-secret-00001","apps":["/sec"]}`, 201)
	bob := anonClient(t, n)
	bobDo := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, n.url()+path, strings.NewReader(body))
		req.SetBasicAuth("bob", "bob-secret-00001")
		req.Header.Set("Content-Type", "application/json")
		resp, err := bob.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	probe := `grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; for f in ` + dir + `/pki/cluster.secret ` + dir + `/pki/ca.key.sealed ` + dir + `/admin.key ` + dir + `/admin.secret ` + dir + `/agent.db /etc/shadow; do cat $f >/dev/null 2>&1 && echo LEAK $f; done; echo PROBE-END; sleep ` + appMark(1)
	app := func(id, linux string) string {
		return `{"id":"` + id + `","cmd":"` + strings.ReplaceAll(probe, `"`, `\"`) + `","cpus":0.05,"mem":32,"container":{"type":"MESOS"` + linux + `}}`
	}
	unconfined := `,"linuxInfo":{"seccomp":{"unconfined":true}}`
	if code, b := bobDo("POST", "/v2/apps", app("/sec/free", unconfined)); code != 403 || !strings.Contains(b, "unconfined") {
		t.Fatalf("bob posts an unconfined app: %d %s, want 403 naming unconfined", code, b)
	}
	appMust(t, n, "POST", "/v2/apps", app("/sec/both", `,"linuxInfo":{"seccomp":{"unconfined":true,"profileName":"p.json"}}`), 422)
	if code, b := bobDo("POST", "/v2/apps", app("/sec/boxed", "")); code != 201 {
		t.Fatalf("bob posts a default app: %d %s", code, b)
	}
	appMust(t, n, "POST", "/v2/apps", app("/sec/free", unconfined), 201)

	for _, tc := range []struct{ id, seccomp string }{{"/sec/boxed", "2"}, {"/sec/free", "0"}} {
		appWaitRunning(t, n, tc.id, 1, false, 2*time.Minute)
		ids := appTaskIDs(n, tc.id)
		var out string
		waitFor(t, time.Minute, tc.id+" probe output", func() bool {
			files, _ := filepath.Glob(filepath.Join(dir, "slaves/*/frameworks/*/executors/"+ids[0]+"/runs/latest/stdout"))
			if len(files) == 0 {
				return false
			}
			b, _ := os.ReadFile(files[0])
			out = string(b)
			return strings.Contains(out, "PROBE-END")
		})
		t.Logf("%s:\n%s", tc.id, out)
		if strings.Contains(out, "LEAK") {
			t.Errorf("%s reached the node's secrets:\n%s", tc.id, out)
		}
		if !strings.Contains(out, "Seccomp:\t"+tc.seccomp) || !strings.Contains(out, "NoNewPrivs:\t1") {
			t.Errorf("%s: want Seccomp %s and NoNewPrivs 1:\n%s", tc.id, tc.seccomp, out)
		}
	}
	appMust(t, n, "DELETE", "/v2/apps/sec/boxed", "", 200)
	appMust(t, n, "DELETE", "/v2/apps/sec/free", "", 200)
}
