package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Disk limits and a full disk, end to end with real containers
// (docs/runtime.md "Disk").

// agentLogHas reports whether a log file under dir/logs holds s.
func agentLogHas(dir, s string) bool {
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// A task writing past its disk resource in its sandbox is killed with
// REASON_CONTAINER_LIMITATION_DISK and a message with usage and limit; a
// task with no disk resource writing as much is not.
func TestSandboxDiskQuota(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:2;mem:1024;disk:256;ports:[31000-31100]",
		"--container-disk-watch-interval", "100ms", "--log-dir", filepath.Join(n.dir, "logs"))...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })

	appMust(t, n, "POST", "/v2/apps", `{"id":"/disk/free","cpus":0.1,"mem":32,"disk":0,
		"cmd":"dd if=/dev/zero of=big bs=1M count=8 && touch written && sleep `+appMark(1)+`"}`, 201)
	appMust(t, n, "POST", "/v2/apps", `{"id":"/disk/big","cpus":0.1,"mem":32,"disk":2,
		"cmd":"dd if=/dev/zero of=big bs=1M count=8 && sleep `+appMark(2)+`"}`, 201)
	var msg string
	waitFor(t, 60*time.Second, "/disk/big killed for its disk", func() bool {
		a, _ := appGet(n, "/disk/big")
		if a.LastTaskFailure != nil {
			msg = a.LastTaskFailure.Message
		}
		return strings.Contains(msg, "of the sandbox exceeds its quota")
	})
	if !strings.Contains(msg, "(2097152 bytes)") {
		t.Errorf("failure message %q does not name the 2 MiB limit", msg)
	}
	// The reason is in the agent's TASK_FAILED update (the master's /tasks
	// keeps no reasons, as in Mesos); the agent logs each update.
	waitFor(t, 10*time.Second, "TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK in the agent log", func() bool {
		return agentLogHas(n.dir, "reason=REASON_CONTAINER_LIMITATION_DISK")
	})
	// The unlimited task wrote its 8 MiB and runs on.
	waitFor(t, 30*time.Second, "/disk/free wrote its file", func() bool {
		m, _ := filepath.Glob(filepath.Join(n.dir, "slaves", "*", "frameworks", "*", "executors", "*", "runs", "*", "written"))
		return len(m) > 0 // runs/latest is a second path to it
	})
	// (The file can be written before the agent's TASK_RUNNING reached the
	// master: the running count is waited for.)
	waitFor(t, 30*time.Second, "/disk/free running, never failed", func() bool {
		a, _ := appGet(n, "/disk/free")
		if a.LastTaskFailure != nil {
			t.Fatalf("/disk/free (no disk resource) failed: %+v", a.LastTaskFailure)
		}
		return a.TasksRunning == 1
	})
}

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and makes
// a node of it; cleanup ends its containers and unmounts it (lazily if it
// is still busy), after the test's processes were killed.
func mountTmpfs(t *testing.T, size int64) node {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)+",mode=0755"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		endContainers(t, dir)
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Logf("unmount %s: %v; detaching it", dir, err)
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return node{dir: dir, port: freePort(t), agentPort: freePort(t), etcd: freePort(t), etcdPr: freePort(t)}
}

// fill writes path until the filesystem has no space left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			break
		}
	}
	// The last partial block too.
	for _, n := range []int{64 << 10, 4 << 10, 512, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
}

// An agent whose work dir is a 64 MiB tmpfs filled to 100% stays up and
// serving, says so (metric, /health, /state), refuses a launch naming the
// full disk, keeps its running task, and launches again once space is
// freed; a restart afterwards still knows every task.
func TestDiskFullAgentSurvives(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m := newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	a := mountTmpfs(t, 64<<20)
	agentArgs := a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms",
		"--resources", "cpus:2;mem:1024;disk:256;ports:[31000-31100]", "--log-dir", filepath.Join(a.dir, "logs"))
	ap := start(t, agentArgs...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })

	appMust(t, m, "POST", "/v2/apps", `{"id":"/full/before","cpus":0.1,"mem":32,"cmd":"sleep `+appMark(3)+`"}`, 201)
	appWaitRunning(t, m, "/full/before", 1, false, 60*time.Second)
	before := appTaskIDs(m, "/full/before")

	fill(t, filepath.Join(a.dir, "filler"))
	waitFor(t, 30*time.Second, "slave/disk_full 1", func() bool { return metric(a.agentURL(), "slave/disk_full") == 1 })
	var health struct {
		DiskFull  bool   `json:"disk_full"`
		FreeBytes uint64 `json:"work_dir_free_bytes"`
	}
	if err := getJSON(a.agentURL()+"/health", &health); err != nil || !health.DiskFull {
		t.Fatalf("agent /health while full: %v %+v", err, health)
	}
	var st struct {
		DiskSpace struct {
			DiskFull bool `json:"disk_full"`
		} `json:"disk_space"`
	}
	if err := getJSON(a.agentURL()+"/state", &st); err != nil || !st.DiskSpace.DiskFull {
		t.Fatalf("agent /state while full: %v %+v", err, st)
	}

	// A launch is refused with the reason; the agent and the master serve.
	appMust(t, m, "POST", "/v2/apps", `{"id":"/full/during","cpus":0.1,"mem":32,"backoffSeconds":0.1,"backoffFactor":1,
		"cmd":"sleep `+appMark(4)+`"}`, 201)
	waitFor(t, 60*time.Second, "/full/during refused for the full disk", func() bool {
		app, _ := appGet(m, "/full/during")
		return app.LastTaskFailure != nil && strings.Contains(app.LastTaskFailure.Message, "disk is full")
	})
	select {
	case <-ap.done:
		t.Fatalf("the agent exited on a full disk:\n%s", ap.out.String())
	default:
	}
	if !healthy(a.agentURL()) || !healthy(m.url()) {
		t.Fatal("agent or master not healthy while the agent's disk is full")
	}
	if s := slaves(t, m.url()); len(s) != 1 || !s[0].Active {
		t.Fatalf("agent not active while its disk is full: %+v", s)
	}
	if app, _ := appGet(m, "/full/before"); app.TasksRunning != 1 {
		t.Fatalf("/full/before: %d running while the disk is full", app.TasksRunning)
	}

	// Space freed: launches resume.
	if err := os.Remove(filepath.Join(a.dir, "filler")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "slave/disk_full 0", func() bool { return metric(a.agentURL(), "slave/disk_full") == 0 })
	appWaitRunning(t, m, "/full/during", 1, false, 60*time.Second)
	during := appTaskIDs(m, "/full/during")

	// Nothing acknowledged is lost: a restarted agent reattaches both.
	ap.kill(syscall.SIGKILL)
	start(t, agentArgs...)
	waitFor(t, 60*time.Second, "agent back with both tasks", func() bool {
		s := slaves(t, m.url())
		if len(s) != 1 || !s[0].Active {
			return false
		}
		b, d := appTaskIDs(m, "/full/before"), appTaskIDs(m, "/full/during")
		return slices.Equal(b, before) && slices.Equal(d, during) && metric(a.agentURL(), "slave/recovered") == 1
	})
	for _, id := range []string{"/full/before", "/full/during"} {
		if app, _ := appGet(m, id); app.TasksRunning != 1 {
			t.Fatalf("%s: %d running after the agent's restart", id, app.TasksRunning)
		}
	}
}

// A --role=all node whose whole work dir (etcd's data, the agent's
// checkpoints and sandboxes) is a small tmpfs filled to 100% stays up and
// serving: the process lives, the master stays leader with a healthy etcd,
// /health and the /v2 API answer and take writes, the agent calls its disk
// full and refuses a launch with the reason; once the filler is removed
// the refused app and a new one run, and every acknowledged write is
// there, after a SIGKILL and restart too. The test waits only on these
// outcomes (how fast the reserve is released is a race it need not win:
// node/etcd_reserve.go pads etcd's files beforehand).
func TestDiskFullAllInOneSurvives(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	// etcd preallocates two 64 MiB WAL segments; the rest is the
	// database and its padding, the node's binaries (the shim, the
	// monitor and ~15 MiB of CNI plugins under <work-dir>/bin), the
	// agent's state and the reserve (node/etcd_reserve.go: 5% of the
	// filesystem here). At 192 MiB the agent found its disk full before
	// the fill once the CNI plugins were added.
	n := mountTmpfs(t, 256<<20)
	args := n.args("all", "--resources", "cpus:2;mem:1024;disk:256;ports:[31000-31100]",
		"--log-dir", filepath.Join(n.dir, "logs"))
	p := start(t, args...)
	alive := func(what string) {
		t.Helper()
		select {
		case <-p.done:
			t.Fatalf("the node exited on a full disk (%s):\n%s", what, p.out.String())
		default:
		}
	}
	// wait is waitFor that fails at once, with the node's output, if it
	// exited.
	wait := func(what string, cond func() bool) {
		t.Helper()
		waitFor(t, 2*time.Minute, what, func() bool { alive(what); return cond() })
	}
	wait("agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	wait("the etcd space reserve", func() bool {
		_, err := os.Stat(filepath.Join(n.dir, "etcd.reserve"))
		return err == nil
	})
	appMust(t, n, "POST", "/v2/apps", `{"id":"/fullall/before","cpus":0.1,"mem":32,"cmd":"sleep `+appMark(7401)+`"}`, 201)
	appWaitRunning(t, n, "/fullall/before", 1, false, 2*time.Minute)

	fill(t, filepath.Join(n.dir, "filler"))
	alive("fill")
	// The agent counts the space kept for etcd as full.
	wait("slave/disk_full 1", func() bool { return metric(n.agentURL(), "slave/disk_full") == 1 })
	wait("leader with a healthy etcd while full", func() bool {
		return healthy(n.url()) && metric(n.url(), "master/elected") == 1 && metric(n.url(), "master/etcd_quorum_healthy") == 1
	})
	appMust(t, n, "GET", "/v2/apps", "", 200)

	// Writes while full: each lands in etcd (WAL and database) or is
	// refused with a clear 5xx; the node stays up either way, and the
	// last acknowledged one is kept.
	val := strings.Repeat("x", 32<<10)
	acked := -1
	for i := range 20 {
		code, b := appDo(t, n, "PUT", "/v2/apps/fullall/written?force=true", `{"cpus":0.1,"mem":32,"instances":0,"cmd":"sleep 1","labels":{"pad":"`+val+`","i":"`+strconv.Itoa(i)+`"}}`)
		switch {
		case code < 300:
			acked = i
		case code < 500 || !strings.Contains(string(b), "message"):
			t.Fatalf("PUT while full: %d %s", code, b)
		}
		alive("writes")
	}
	if acked < 0 {
		t.Fatal("no write acknowledged while the disk is full")
	}
	// A launch is refused with the reason.
	appMust(t, n, "POST", "/v2/apps", `{"id":"/fullall/during","cpus":0.1,"mem":32,"backoffSeconds":1,"backoffFactor":1,
		"cmd":"sleep `+appMark(7403)+`"}`, 201)
	wait("/fullall/during refused for the full disk", func() bool {
		app, _ := appGet(n, "/fullall/during")
		return app.LastTaskFailure != nil && strings.Contains(app.LastTaskFailure.Message, "disk is full")
	})
	if app, _ := appGet(n, "/fullall/before"); app.TasksRunning != 1 {
		t.Fatalf("/fullall/before: %d running while the disk is full", app.TasksRunning)
	}
	wait("etcd's space reserve released", func() bool {
		_, err := os.Stat(filepath.Join(n.dir, "etcd.reserve"))
		return errors.Is(err, os.ErrNotExist)
	})

	// Space freed: the refused app and a new one run, the reserve is back.
	if err := os.Remove(filepath.Join(n.dir, "filler")); err != nil {
		t.Fatal(err)
	}
	wait("slave/disk_full 0", func() bool { return metric(n.agentURL(), "slave/disk_full") == 0 })
	appWaitRunning(t, n, "/fullall/during", 1, false, 2*time.Minute)
	appMust(t, n, "POST", "/v2/apps", `{"id":"/fullall/after","cpus":0.1,"mem":32,"cmd":"sleep `+appMark(7402)+`"}`, 201)
	appWaitRunning(t, n, "/fullall/after", 1, false, 2*time.Minute)
	wait("the etcd space reserve made again", func() bool {
		_, err := os.Stat(filepath.Join(n.dir, "etcd.reserve"))
		return err == nil
	})
	written := func() string {
		var r struct {
			App struct {
				Labels map[string]string `json:"labels"`
			} `json:"app"`
		}
		if getJSON(n.url()+"/v2/apps/fullall/written", &r) != nil {
			return ""
		}
		return r.App.Labels["i"]
	}
	if got := written(); got != strconv.Itoa(acked) {
		t.Fatalf("/fullall/written has label i=%q, want the last acknowledged %d", got, acked)
	}

	// Nothing acknowledged is lost: a SIGKILLed node comes back with it.
	p.kill(syscall.SIGKILL)
	p = start(t, args...)
	wait("restarted node leads with every app", func() bool {
		if !healthy(n.url()) || metric(n.url(), "master/elected") != 1 {
			return false
		}
		for _, id := range []string{"/fullall/before", "/fullall/during", "/fullall/after"} {
			if a, ok := appGet(n, id); !ok || a.TasksRunning != 1 {
				return false
			}
		}
		return written() == strconv.Itoa(acked)
	})
}
