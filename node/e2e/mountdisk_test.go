package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPersistentMountDisk (issue 17 point 6): Marathon's Postgres example
// (https://mesosphere.github.io/marathon/docs/persistent-volumes.html: a
// "mount" persistent volume with maxSize and a LIKE constraint on the
// disk's path) against a node given two MOUNT disks in --resources' JSON
// form (Mesos "Multiple Disks"), directories the test makes. The volume
// takes the disk whose root matches, whole; the task's data is the disk's
// root and survives a task restart; deleting the app empties the root and
// keeps it (Mesos' DESTROY of a MOUNT volume). An agent whose MOUNT root
// does not exist refuses to start (exit 2).
func TestPersistentMountDisk(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	disks := t.TempDir()
	ssd, hdd := filepath.Join(disks, "ssd-1"), filepath.Join(disks, "hdd-1")
	for _, d := range []string{ssd, hdd} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mount := func(root string, mb int) string {
		return `{"name":"disk","type":"SCALAR","scalar":{"value":` + itoa(mb) + `},"disk":{"source":{"type":"MOUNT","mount":{"root":"` + root + `"}}}}`
	}
	res := `[{"name":"cpus","type":"SCALAR","scalar":{"value":4}},{"name":"mem","type":"SCALAR","scalar":{"value":4096}},
		{"name":"disk","type":"SCALAR","scalar":{"value":1024}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31999}]}},
		` + mount(ssd, 64) + `,` + mount(hdd, 64) + `]`

	// A MOUNT root that is not there: the agent does not start.
	bad := newNode(t)
	out, err := exec.Command(bin, bad.args("all", "--resources", `[`+mount(filepath.Join(disks, "missing"), 64)+`]`)...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "MOUNT disk root") {
		t.Fatalf("a missing MOUNT root: %v\n%s\nwant exit 2 naming it", err, out)
	}

	n := appStartNode(t, res)
	if out, err := exec.Command(bin, "image", "import", "--work-dir", n.dir, busyboxTar(t), "test/busybox:1").CombinedOutput(); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	mark := appMark(7501)
	appMust(t, n, "POST", "/v2/apps", `{"id": "/postgres", "cpus": 0.1, "instances": 1, "mem": 32,
		"container": {"type": "DOCKER", "docker": {"image": "test/busybox:1"},
			"volumes": [{"containerPath": "pgdata", "mode": "RW",
				"persistent": {"type": "mount", "size": 16, "maxSize": 128, "constraints": [["path", "LIKE", ".+/ssd-.+"]]}}]},
		"env": {"POSTGRES_PASSWORD": "password", "PGDATA": "pgdata"},
		"cmd": "echo started-`+mark+` >> $MESOS_SANDBOX/$PGDATA/log && exec sleep 1000",
		"upgradeStrategy": {"maximumOverCapacity": 0, "minimumHealthCapacity": 0}}`, 201)
	appWaitRunning(t, n, "/postgres", 1, false, 60*time.Second)
	lines := func() []string {
		b, _ := os.ReadFile(filepath.Join(ssd, "log"))
		return strings.Fields(string(b))
	}
	waitFor(t, 30*time.Second, "the task's line on the ssd disk", func() bool { return len(lines()) == 1 })
	if ents, _ := os.ReadDir(hdd); len(ents) != 0 {
		t.Fatalf("the disk that does not match was written: %v", ents)
	}
	if src := mountVolumeRoot(t, n); src != ssd {
		t.Fatalf("the volume in /state is on %q, want %s", src, ssd)
	}

	// Task restart: the same disk, the data kept.
	first := appTasks(n, "/postgres")[0].ID
	appMust(t, n, "DELETE", "/v2/apps/postgres/tasks/"+first, "", 200)
	waitFor(t, 60*time.Second, "a second task and its line after the first", func() bool {
		ts := stRunning(n, "/postgres")
		return len(ts) == 1 && ts[0].ID != first && len(lines()) == 2
	})

	appMust(t, n, "DELETE", "/v2/apps/postgres", "", 200)
	waitFor(t, 60*time.Second, "the MOUNT volume destroyed: its root emptied and kept", func() bool {
		ents, err := os.ReadDir(ssd)
		return err == nil && len(ents) == 0 && mountVolumeRoot(t, n) == ""
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// mountVolumeRoot is the MOUNT root of the marathon role's persistent
// volume in the master's /state, or "".
func mountVolumeRoot(t *testing.T, n node) string {
	t.Helper()
	var st struct {
		Slaves []struct {
			Full map[string][]struct {
				Disk *struct {
					Persistence *struct{ ID string } `json:"persistence"`
					Source      *struct {
						Type  string `json:"type"`
						Mount *struct {
							Root string `json:"root"`
						} `json:"mount"`
					} `json:"source"`
				} `json:"disk"`
			} `json:"reserved_resources_full"`
		} `json:"slaves"`
	}
	if err := getJSON(n.url()+"/state", &st); err != nil {
		t.Fatalf("state: %v", err)
	}
	for _, s := range st.Slaves {
		for _, r := range s.Full["marathon"] {
			if r.Disk != nil && r.Disk.Persistence != nil && r.Disk.Source != nil && r.Disk.Source.Mount != nil {
				return r.Disk.Source.Mount.Root
			}
		}
	}
	return ""
}
