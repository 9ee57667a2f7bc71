package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPersistentVolumeAtImagePath (issue 17 point 6): Marathon's MySQL
// example mounts a persistent volume at an absolute path of its image with
// a second volume whose relative hostPath is the persistent volume's
// containerPath (https://mesosphere.github.io/marathon/docs/persistent-volumes.html).
// The task writes through /var/lib/mysql and the file lands in the
// persistent volume; a relative hostPath that names no persistent volume
// is a 422 naming it.
func TestPersistentVolumeAtImagePath(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	if out, err := exec.Command(bin, "image", "import", "--work-dir", n.dir, busyboxTar(t), "test/busybox:1").CombinedOutput(); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	mark := appMark(7401)
	appMust(t, n, "POST", "/v2/apps", `{"id": "/pv/mysql", "cmd": "echo written-`+mark+` > /var/lib/mysql/x && exec sleep 1000",
		"cpus": 0.1, "mem": 32, "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
		"container": {"type": "MESOS", "docker": {"image": "test/busybox:1"}, "volumes": [
			{"containerPath": "mysqldata", "mode": "RW", "persistent": {"type": "root", "size": 10}},
			{"containerPath": "/var/lib/mysql", "hostPath": "mysqldata", "mode": "RW"}]}}`, 201)
	appWaitRunning(t, n, "/pv/mysql", 1, false, 60*time.Second)
	waitFor(t, 30*time.Second, "the file written through /var/lib/mysql in the persistent volume", func() bool {
		for _, lines := range stVolumeFiles(n.dir, "x") {
			if len(lines) == 1 && lines[0] == "written-"+mark {
				return true
			}
		}
		return false
	})

	body := appMust(t, n, "POST", "/v2/apps", `{"id": "/pv/bad", "cmd": "sleep 1", "cpus": 0.1, "mem": 32,
		"container": {"type": "MESOS", "docker": {"image": "test/busybox:1"}, "volumes": [
			{"containerPath": "/etc/x", "hostPath": "somewhere", "mode": "RW"}]}}`, 422)
	if !strings.Contains(string(body), "/container/volumes/0/hostPath") {
		t.Errorf("a relative hostPath naming no persistent volume: %s, want /container/volumes/0/hostPath named", body)
	}
	appMust(t, n, "DELETE", "/v2/apps/pv/mysql", "", 200)
}
