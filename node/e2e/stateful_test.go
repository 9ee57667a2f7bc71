package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Stateful (resident) apps end to end: a master and separate agent
// processes, real containers, volumes under each agent's work dir.

// stAgent is one agent process of a stateful test.
type stAgent struct {
	n    node
	args []string
	p    *proc
}

// stCluster starts a master and one agent per attribute value (rack:<v>),
// with a fast disk watch.
func stCluster(t *testing.T, racks ...string) (node, *proc, []*stAgent) {
	t.Helper()
	m := newNode(t)
	mp := start(t, m.args("master", "--task-reservation-timeout", "20s")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	var ags []*stAgent
	for _, r := range racks {
		a := &stAgent{n: newNode(t)}
		a.args = a.n.args("agent", "--join", m.url(), "--token", agentToken(t, m, a.n), "--registration_backoff_factor", "50ms",
			"--resources", "cpus:1;mem:512;disk:256;"+hostPorts(), "--attributes", "rack:"+r,
			"--container-disk-watch-interval", "200ms", "--log-dir", filepath.Join(a.n.dir, "logs"))
		a.p = start(t, a.args...)
		ags = append(ags, a)
	}
	waitFor(t, 30*time.Second, "agents active", func() bool {
		n := 0
		for _, s := range slaves(t, m.url()) {
			if s.Active {
				n++
			}
		}
		return n == len(racks)
	})
	return m, mp, ags
}

// stVolumeFiles maps each volume directory under dir holding file name to
// the file's lines.
func stVolumeFiles(dir, name string) map[string][]string {
	out := map[string][]string{}
	vols, _ := filepath.Glob(filepath.Join(dir, "volumes", "roles", "marathon", "*"))
	for _, v := range vols {
		b, err := os.ReadFile(filepath.Join(v, name))
		if err != nil {
			continue
		}
		out[v] = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	return out
}

// stReserved is the number of reserved resources and volumes /state shows
// for role marathon, over all agents.
func stReserved(t *testing.T, m node) (reserved, volumes int) {
	t.Helper()
	var st struct {
		Slaves []struct {
			Full map[string][]struct {
				Disk *struct {
					Persistence *struct{ ID string } `json:"persistence"`
				} `json:"disk"`
			} `json:"reserved_resources_full"`
		} `json:"slaves"`
	}
	if err := getJSON(m.url()+"/state", &st); err != nil {
		t.Fatalf("state: %v", err)
	}
	for _, s := range st.Slaves {
		for _, r := range s.Full["marathon"] {
			reserved++
			if r.Disk != nil && r.Disk.Persistence != nil {
				volumes++
			}
		}
	}
	return reserved, volumes
}

// stRunning is the app's running tasks.
func stRunning(m node, id string) []appTask {
	var out []appTask
	for _, t := range appTasks(m, id) {
		if t.State == "TASK_RUNNING" {
			out = append(out, t)
		}
	}
	return out
}

const stApp = `{"id":"/st/pv","instances":1,"cpus":0.1,"mem":32,"disk":0,"env":{"V":"1"},
 "cmd":"echo started-$V >> data/foo && sleep 1000",
 "container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"size":10}}]},
 "upgradeStrategy":{"minimumHealthCapacity":0.5,"maximumOverCapacity":0}}`

// Marathon's resident example on one agent: kill → same agent, same
// volume; agent restart → no relaunch; upgrade → old killed first, new
// sees the data; a task beyond its volume size is killed with the disk
// reason; wipe starts afresh; DELETE releases everything; bad
// definitions get 422.
func TestStatefulResident(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m, mp, ags := stCluster(t, "a")
	ag := ags[0]
	appMust(t, m, "POST", "/v2/apps", stApp, 201)
	appWaitRunning(t, m, "/st/pv", 1, false, 30*time.Second)
	first := stRunning(m, "/st/pv")[0]
	waitFor(t, 10*time.Second, "one volume with data/foo", func() bool {
		files := stVolumeFiles(ag.n.dir, "foo")
		return len(files) == 1
	})
	if r, v := stReserved(t, m); r < 3 || v != 1 {
		t.Fatalf("/state: %d reserved resources, %d volumes; want cpus, mem and a volume", r, v)
	}

	// Kill: a new task on the same reservation.
	appMust(t, m, "DELETE", "/v2/apps/st/pv/tasks/"+first.ID, "", 200)
	var second appTask
	waitFor(t, 30*time.Second, "replacement task", func() bool {
		rs := stRunning(m, "/st/pv")
		if len(rs) == 1 && rs[0].ID != first.ID {
			second = rs[0]
			return true
		}
		return false
	})
	waitFor(t, 10*time.Second, "data/foo with two lines in the same volume", func() bool {
		files := stVolumeFiles(ag.n.dir, "foo")
		for _, lines := range files {
			return len(files) == 1 && len(lines) == 2
		}
		return false
	})

	// Agent restart: the task is recovered, not relaunched.
	ag.p.kill(syscall.SIGKILL)
	ag.p = start(t, ag.args...)
	waitFor(t, 30*time.Second, "agent back", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })
	appWaitRunning(t, m, "/st/pv", 1, false, 30*time.Second)
	if rs := stRunning(m, "/st/pv"); len(rs) != 1 || rs[0].ID != second.ID {
		t.Fatalf("after agent restart: %+v, want task %s still running", rs, second.ID)
	}

	// Master kill -9 and restart: the reservation records come back from
	// etcd (the upgrade below relaunches on the same volume), nothing restarts.
	mp.kill(syscall.SIGKILL)
	start(t, m.args("master", "--task-reservation-timeout", "20s")...)
	waitFor(t, 30*time.Second, "agent re-registered with the new master", func() bool {
		s := slaves(t, m.url())
		return len(s) == 1 && s[0].Active
	})
	appWaitRunning(t, m, "/st/pv", 1, false, 30*time.Second)
	if rs := stRunning(m, "/st/pv"); len(rs) != 1 || rs[0].ID != second.ID {
		t.Fatalf("after master restart: %+v, want task %s still running", rs, second.ID)
	}
	if _, v := stReserved(t, m); v != 1 {
		t.Fatalf("after master restart: %d volumes in /state, want 1", v)
	}

	// Upgrade: never two tasks at once; the new one appends to the same file.
	appMust(t, m, "PUT", "/v2/apps/st/pv", `{"env":{"V":"2"}}`, 200)
	waitFor(t, 60*time.Second, "upgraded task", func() bool {
		ts := appTasks(m, "/st/pv")
		live := 0
		for _, tk := range ts {
			if tk.State == "TASK_RUNNING" || tk.State == "TASK_STAGING" || tk.State == "TASK_STARTING" {
				live++
			}
		}
		if live > 1 {
			t.Fatalf("upgrade ran %d tasks at once: %+v", live, ts)
		}
		files := stVolumeFiles(ag.n.dir, "foo")
		for _, lines := range files {
			return len(lines) == 3 && lines[2] == "started-2"
		}
		return false
	})

	// Over its volume size: killed with the disk-limit reason.
	appMust(t, m, "POST", "/v2/apps", `{"id":"/st/big","cpus":0.1,"mem":32,"cmd":"dd if=/dev/zero of=data/big bs=1M count=3 && sleep 1000",
		"container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"size":1}}]}}`, 201)
	waitFor(t, 60*time.Second, "disk limit failure", func() bool {
		a, _ := appGet(m, "/st/big")
		return a.LastTaskFailure != nil && strings.Contains(a.LastTaskFailure.Message, "exceeds its quota")
	})
	// The reason is in the agent's TASK_FAILED update (the master's /tasks
	// keeps no reasons, as in Mesos); the agent logs each update.
	waitFor(t, 10*time.Second, "TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK in the agent log", func() bool {
		logs, _ := filepath.Glob(filepath.Join(ag.n.dir, "logs", "*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if strings.Contains(string(b), "reason=REASON_CONTAINER_LIMITATION_DISK") {
				return true
			}
		}
		return false
	})
	appMust(t, m, "DELETE", "/v2/apps/st/big", "", 200)

	// Wipe: the instance starts afresh in a new, empty volume.
	before := stVolumeFiles(ag.n.dir, "foo")
	cur := stRunning(m, "/st/pv")[0]
	// nodectl volume ls shows it with its usage; nodectl app wipe wipes it.
	master := "127.0.0.1:" + strconv.Itoa(m.port)
	// The deleted /st/big's volume is destroyed after its DELETE answered
	// (its task is killed first): poll until only /st/pv's is left.
	var out []byte
	var err error
	listed := func() bool {
		out, err = exec.Command(bin, "volume", "ls", "--master", master, "--work-dir", m.dir, "-o", "json").CombinedOutput()
		var rows []struct {
			PersistenceID string `json:"persistence_id"`
			UsedBytes     *int64 `json:"used_bytes"`
			Instance      string `json:"instance"`
		}
		return err == nil && json.Unmarshal(out, &rows) == nil && len(rows) == 1 && rows[0].UsedBytes != nil && *rows[0].UsedBytes > 0 && strings.HasPrefix(rows[0].Instance, "st_pv.")
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last volume ls: %v\n%s", err, out)
		}
	})
	waitFor(t, 60*time.Second, "volume ls to list /st/pv's volume alone, with its usage", listed)
	if out, err := exec.Command(bin, "app", "wipe", "--master", master, "--work-dir", m.dir, "/st/pv", cur.ID).CombinedOutput(); err != nil {
		t.Fatalf("app wipe: %v\n%s", err, out)
	}
	waitFor(t, 60*time.Second, "fresh instance after wipe", func() bool {
		files := stVolumeFiles(ag.n.dir, "foo")
		for v, lines := range files {
			if _, old := before[v]; !old && len(lines) == 1 {
				return len(files) == 1 // and the old volume is gone
			}
		}
		return false
	})

	// Invalid resident definitions.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v2/apps", strings.Replace(strings.Replace(stApp, "/st/pv", "/st/bad", 1), `"maximumOverCapacity":0`, `"maximumOverCapacity":1`, 1)},
		{"POST", "/v2/apps", strings.Replace(strings.Replace(stApp, "/st/pv", "/st/bad", 1), `"containerPath":"data"`, `"containerPath":"/data"`, 1)},
		{"PUT", "/v2/apps/st/pv", `{"container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"size":20}}]}}`},
	} {
		code, b := appDo(t, m, c.method, c.path, c.body)
		var out struct {
			Details []struct{ Path string } `json:"details"`
		}
		if code != 422 || json.Unmarshal(b, &out) != nil || len(out.Details) == 0 {
			t.Errorf("%s %s: %d %s, want 422 with details", c.method, c.path, code, b)
		}
	}

	// Delete: every reservation released, every volume directory removed.
	appMust(t, m, "DELETE", "/v2/apps/st/pv", "", 200)
	waitFor(t, 60*time.Second, "reservations released", func() bool {
		r, _ := stReserved(t, m)
		vols, _ := filepath.Glob(filepath.Join(ag.n.dir, "volumes", "roles", "marathon", "*"))
		return r == 0 && len(vols) == 0
	})
}

// Scale 3 → 1 → 3 on three agents: the scaled-down instances keep their
// volumes and come back on their own agents with their data.
func TestStatefulScale(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m, _, ags := stCluster(t, "a", "b", "c")
	app := strings.Replace(strings.Replace(stApp, `"instances":1`, `"instances":3,"constraints":[["rack","UNIQUE"]]`, 1), "/st/pv", "/st/scale", 1)
	appMust(t, m, "POST", "/v2/apps", app, 201)
	appWaitRunning(t, m, "/st/scale", 3, false, 60*time.Second)
	vols := func() map[string][]string {
		all := map[string][]string{}
		for _, a := range ags {
			for v, lines := range stVolumeFiles(a.n.dir, "foo") {
				all[v] = lines
			}
		}
		return all
	}
	waitFor(t, 10*time.Second, "one volume with data/foo per agent", func() bool { return len(vols()) == 3 })
	appMust(t, m, "PUT", "/v2/apps/st/scale", `{"instances":1}`, 200)
	appWaitRunning(t, m, "/st/scale", 1, false, 30*time.Second)
	reserved := 0
	for _, tk := range appTasks(m, "/st/scale") {
		if tk.State == "TASK_RESERVED" {
			reserved++
		}
	}
	if _, v := stReserved(t, m); v != 3 || reserved != 2 {
		t.Fatalf("after scale-down: %d volumes in /state, %d suspended instances; want 3 and 2", v, reserved)
	}
	appMust(t, m, "PUT", "/v2/apps/st/scale", `{"instances":3}`, 200)
	appWaitRunning(t, m, "/st/scale", 3, false, 60*time.Second)
	// The survivor ran once; the two that came back ran twice, each on its
	// own agent (the volumes live in the agents' work dirs).
	waitFor(t, 10*time.Second, "two volumes written twice, one once", func() bool {
		count := map[int]int{}
		for _, lines := range vols() {
			count[len(lines)]++
		}
		return count[1] == 1 && count[2] == 2 && len(vols()) == 3
	})
	appMust(t, m, "DELETE", "/v2/apps/st/scale", "", 200)
	waitFor(t, 60*time.Second, "reservations released", func() bool { r, _ := stReserved(t, m); return r == 0 })
}
