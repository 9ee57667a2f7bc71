package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAppsHostPathVolumes: through the Marathon API and the real binary,
// an app whose hostPath is not under the agent's --allowed-host-paths is
// refused 422 naming container.volumes[0].hostPath (the agent advertises
// its list; an agent still refuses with TASK_ERROR what it does not
// allow, runtime/hostpaths_test.go), and one under the
// list runs with the volumes mounted as listed: read-only without :rw
// (although the app asks RW), writable with it (issue 15, item 6).
func TestAppsHostPathVolumes(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	base := t.TempDir()
	ro, rw, other := filepath.Join(base, "ro"), filepath.Join(base, "rw"), filepath.Join(base, "other")
	for _, d := range []string{ro, rw, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Tasks run as nobody: the rw directory is theirs to write.
	if err := os.Chmod(rw, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]", "--allowed-host-paths", ro+","+rw+":rw")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})

	// The agent advertises its list: the master refuses a hostPath no
	// agent allows at once, naming the field.
	body := appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": "/e2e/hp-denied", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
		"container": {"type": "MESOS", "volumes": [{"containerPath": "/tmp/v", "hostPath": %q, "mode": "RO"}]}}`, other), 422)
	if !strings.Contains(string(body), "/container/volumes/0/hostPath") || !strings.Contains(string(body), "--allowed-host-paths") {
		t.Errorf("422 %s: want the field and the flag named", body)
	}
	t.Logf("refused: %s", body)

	script := "cat /tmp/ro/f >/dev/null || exit 11; if touch /tmp/ro/new 2>/dev/null; then exit 12; fi; " +
		"echo written > /tmp/rw/out || exit 13; exec sleep 1000"
	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": "/e2e/hp-ok", "cmd": %q, "cpus": 0.05, "mem": 16,
		"container": {"type": "MESOS", "volumes": [{"containerPath": "/tmp/ro", "hostPath": %q, "mode": "RW"},
			{"containerPath": "/tmp/rw", "hostPath": %q, "mode": "RW"}]}}`, script, ro, rw), 201)
	appWaitRunning(t, n, "/e2e/hp-ok", 1, false, 60*time.Second)
	waitFor(t, 30*time.Second, "the task's write through the rw volume", func() bool {
		b, err := os.ReadFile(filepath.Join(rw, "out"))
		return err == nil && string(b) == "written\n"
	})
	if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
		t.Fatal("the task wrote into the read-only volume")
	}
	if a, _ := appGet(n, "/e2e/hp-ok"); a.LastTaskFailure != nil {
		t.Fatalf("hp-ok failed: %+v", a.LastTaskFailure)
	}
	appMust(t, n, "DELETE", "/v2/apps/e2e/hp-ok", "", 200)
}
