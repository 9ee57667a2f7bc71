package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAppSecrets: a secret made with `nodectl secret create` reaches a
// Marathon app's task as an environment variable and as a 0400 file (the
// task prints their hashes; the test compares), and the value appears
// nowhere else under the node's work dir: not in etcd, not in the agent's
// sqlite checkpoint, not in logs, not in /v2 or /state answers. An app
// whose secret was deleted is refused at launch with a message naming
// the secret; an undefined reference is refused with 422.
func TestAppSecrets(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	value := "s3cr3t-" + hex.EncodeToString(raw)
	sum := sha256.Sum256([]byte(value))
	want := hex.EncodeToString(sum[:])

	cli := func(stdin string, args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = cliEnv(n.port)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	if code, out := cli(value+"\n", "secret", "create", "/db/password"); code != 0 {
		t.Fatalf("secret create (stdin): %d %s", code, out)
	}
	if code, out := cli("", "secret", "create", "/db/gone", "--value", "soon-gone-value"); code != 0 {
		t.Fatalf("secret create --value: %d %s", code, out)
	}
	if code, out := cli("", "secret", "create", "/db/../x", "--value", "v"); code != 2 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("bad path: exit %d %q, want 2 and one line", code, out)
	}
	code, out := cli("", "secret", "ls")
	if code != 0 || !strings.Contains(out, "/db/password") || strings.Contains(out, value) {
		t.Fatalf("secret ls: %d %s", code, out)
	}

	// An undefined reference is named.
	c, b := appDo(t, n, "POST", "/v2/apps", `{"id":"/sec/bad","cmd":"true","cpus":0.1,"mem":16,
		"env":{"X":{"secret":"nope"}},"secrets":{"s":{"source":"/db/password"}}}`)
	if c != 422 || !strings.Contains(string(b), "nope") {
		t.Errorf("undefined secret reference: %d %s, want 422 naming it", c, b)
	}

	mark := appMark(1)
	cmd := `printf 'env-hash:%s\n' "$(printf %s "$DB_PASS" | sha256sum | cut -d' ' -f1)"; ` +
		`printf 'file-hash:%s\n' "$(sha256sum < dbpass | cut -d' ' -f1)"; ` +
		`printf 'file-mode:%s\n' "$(stat -c %a dbpass)"; exec sleep ` + mark
	app := `{"id":"/sec/app","instances":1,"cpus":0.1,"mem":32,"cmd":` + strconv.Quote(cmd) + `,
		"env":{"DB_PASS":{"secret":"secret0"},"PLAIN":"x"},
		"secrets":{"secret0":{"source":"/db/password"}},
		"container":{"type":"MESOS","volumes":[{"containerPath":"dbpass","secret":"secret0"}]}}`
	appMust(t, n, "POST", "/v2/apps", app, 201)
	t.Cleanup(func() { appDo(t, n, "DELETE", "/v2/apps/sec/app?force=true", "") })
	appWaitRunning(t, n, "/sec/app", 1, false, 60*time.Second)
	var stdout string
	waitFor(t, 20*time.Second, "task output", func() bool {
		stdout = findFile(n.dir, "stdout", "file-mode:")
		return stdout != ""
	})
	got, _ := os.ReadFile(stdout)
	for _, line := range []string{"env-hash:" + want, "file-hash:" + want, "file-mode:400"} {
		if !strings.Contains(string(got), line+"\n") {
			t.Errorf("task output lacks %q:\n%s", line, got)
		}
	}

	// Answers hold references, never the value.
	for _, p := range []string{"/v2/apps/sec/app", "/v2/apps?embed=apps.tasks", "/v2/tasks", "/state", "/tasks"} {
		c, b := appDo(t, n, "GET", p, "")
		if c != 200 {
			t.Errorf("GET %s: %d", p, c)
		}
		if strings.Contains(string(b), value) {
			t.Errorf("GET %s shows the secret's value", p)
		}
	}
	var agentState map[string]any
	if err := getJSON(n.agentURL()+"/state", &agentState); err != nil {
		t.Errorf("agent /state: %v", err)
	} else if b, _ := json.Marshal(agentState); strings.Contains(string(b), value) || !strings.Contains(string(b), "sec_app") {
		t.Errorf("agent /state shows the value, or not the task: %s", b)
	}
	if _, b := appDo(t, n, "GET", "/v2/apps/sec/app", ""); !strings.Contains(string(b), `"/db/password"`) {
		t.Errorf("the app lost its secrets: %s", b)
	}

	// The sandbox on the host (which the files API serves) has only the
	// empty mount point; the file itself is under <work dir>/secrets.
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(stdout), "dbpass")); err != nil || len(b) != 0 {
		t.Errorf("sandbox dbpass on the host: %q %v, want an empty mount point", b, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(n.dir, "secrets")); len(ents) != 1 {
		t.Errorf("%d secret dirs, want 1", len(ents))
	}

	// A secret deleted after the app was defined refuses the launch.
	appMust(t, n, "POST", "/v2/apps", `{"id":"/sec/missing","instances":0,"cpus":0.1,"mem":16,"cmd":"sleep `+appMark(2)+`",
		"env":{"GONE":{"secret":"g"}},"secrets":{"g":{"source":"/db/gone"}}}`, 201)
	t.Cleanup(func() { appDo(t, n, "DELETE", "/v2/apps/sec/missing?force=true", "") })
	if code, out := cli("", "secret", "rm", "/db/gone"); code != 0 {
		t.Fatalf("secret rm: %d %s", code, out)
	}
	appMust(t, n, "PUT", "/v2/apps/sec/missing", `{"instances":1}`, 200)
	waitFor(t, 60*time.Second, "launch refused naming /db/gone", func() bool {
		a, ok := appGet(n, "/sec/missing")
		return ok && a.LastTaskFailure != nil && a.LastTaskFailure.State == "TASK_ERROR" &&
			strings.Contains(a.LastTaskFailure.Message, "/db/gone")
	})
	appMust(t, n, "DELETE", "/v2/apps/sec/app", "", 200)
	waitFor(t, 30*time.Second, "the task's secret dir removed", func() bool {
		ents, err := os.ReadDir(filepath.Join(n.dir, "secrets"))
		return err == nil && len(ents) == 0
	})
	if code, out := cli("", "secret", "rm", "/db/gone"); code == 0 || !strings.Contains(out, "does not exist") {
		t.Errorf("rm of a missing secret: %d %s", code, out)
	}

	// Nowhere under the work dir but the task's own secret file (in
	// <work dir>/secrets, mounted into the sandbox): etcd's
	// data, the agent's sqlite checkpoint, logs.
	_ = filepath.WalkDir(n.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, filepath.Join(n.dir, "secrets")+"/") || !d.Type().IsRegular() {
			return nil
		}
		if st, err := d.Info(); err != nil || st.Size() > 256<<20 {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), value) {
			t.Errorf("%s holds the secret's value in clear", p)
		}
		return nil
	})
}
