package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPodSecretsEnvAndFile: a pod (Marathon docs' secrets example for
// pods: a pod-level secret env var and a secret volume mounted at a
// container's mountPath) gets the value of a `nodectl secret create`
// secret as an environment variable and as a 0400 file; the value is in
// no /v2 answer and nowhere under the work dir but the task's secret
// file.
func TestPodSecretsEnvAndFile(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	value := "pod-s3cr3t-" + hex.EncodeToString(raw)
	sum := sha256.Sum256([]byte(value))
	want := hex.EncodeToString(sum[:])
	cmd := exec.Command(bin, "secret", "create", "/pod/db/password")
	cmd.Env = cliEnv(n.port)
	cmd.Stdin = strings.NewReader(value + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret create: %v %s", err, out)
	}
	shell := `printf 'env-hash:%s\n' "$(printf %s "$DB_PASS" | sha256sum | cut -d' ' -f1)"; ` +
		`printf 'file-hash:%s\n' "$(sha256sum < path/to/db/password | cut -d' ' -f1)"; ` +
		`printf 'file-mode:%s\n' "$(stat -c %a path/to/db/password)"; exec sleep ` + appMark(7101)
	pod := `{"id":"/sec/pod","scaling":{"kind":"fixed","instances":1},
	  "secrets":{"secret1":{"source":"/pod/db/password"}},
	  "environment":{"DB_PASS":{"secret":"secret1"}},
	  "volumes":[{"name":"secretvolume","secret":"secret1"}],
	  "containers":[{"name":"c","exec":{"command":{"shell":` + strconv.Quote(shell) + `}},
	    "resources":{"cpus":0.05,"mem":32},"volumeMounts":[{"name":"secretvolume","mountPath":"path/to/db/password"}]}]}`
	appMust(t, n, "POST", "/v2/pods", pod, 201)
	t.Cleanup(func() { appDo(t, n, "DELETE", "/v2/pods/sec/pod", "") })
	var stdout string
	waitFor(t, 60*time.Second, "container output", func() bool {
		stdout = findFile(n.dir, "stdout", "file-mode:")
		return stdout != ""
	})
	got, _ := os.ReadFile(stdout)
	for _, line := range []string{"env-hash:" + want, "file-hash:" + want, "file-mode:400"} {
		if !strings.Contains(string(got), line+"\n") {
			t.Errorf("container output lacks %q:\n%s", line, got)
		}
	}
	for _, p := range []string{"/v2/pods/sec/pod", "/v2/pods/sec/pod::status", "/v2/pods/::status", "/v2/groups?embed=group.pods", "/state", "/tasks"} {
		c, b := appDo(t, n, "GET", p, "")
		if c != 200 || strings.Contains(string(b), value) {
			t.Errorf("GET %s: %d, or it shows the secret's value", p, c)
		}
	}
	if _, b := appDo(t, n, "GET", "/v2/pods/sec/pod", ""); !strings.Contains(string(b), `"/pod/db/password"`) {
		t.Errorf("the pod lost its secrets: %s", b)
	}
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
