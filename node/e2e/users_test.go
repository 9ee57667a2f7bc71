package e2e

import (
	"archive/tar"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// nobodyUID is the host's nobody (Debian: 65534).
func nobodyUID(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("id", "-u", "nobody").Output()
	if err != nil {
		t.Skipf("no user nobody on this host: %v", err)
	}
	uid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// sandboxOwner is the owner of the sandbox whose stdout contains want, and
// of that stdout.
func sandboxOwner(t *testing.T, dir, want string) (sandbox, stdout int) {
	t.Helper()
	f := findFile(dir, "stdout", want)
	if f == "" {
		t.Fatalf("no sandbox stdout under %s contains %q", dir, want)
	}
	var st, sd syscall.Stat_t
	must(t, syscall.Stat(f, &st))
	must(t, syscall.Stat(filepath.Dir(f), &sd))
	return int(sd.Uid), int(st.Uid)
}

// TestTaskUsers (issue 15 point 1): through `nodectl execute` (the Mesos
// scheduler API) on a real node whose work dir is under a 0700 directory:
// a task runs as nobody by default, writes in its sandbox (its cwd), which
// it owns; --user names another; a user missing on the agent ends
// TASK_FAILED naming it; an image's USER is honoured (from the image's own
// /etc/passwd) unless the task (a Marathon app's "user") names one.
func TestTaskUsers(t *testing.T) {
	nobody := nobodyUID(t)
	n := newNode(t)
	if st, err := os.Stat(filepath.Dir(n.dir)); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Fatalf("work dir parent %s: want a 0700 directory (%v, %v)", filepath.Dir(n.dir), st.Mode(), err)
	}
	start(t, n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})

	// The default user: nobody, writing in its sandbox (cwd).
	out, code := execute(t, n.port, "--name", "as-nobody", "--", "sh", "-c",
		`echo hi > out && cat out && echo "uid=$(id -u) user=$USER logname=$LOGNAME home=$HOME"`)
	if code != 0 {
		t.Fatalf("execute as nobody: exit %d\n%s", code, out)
	}
	want := fmt.Sprintf("uid=%d user=nobody logname=nobody home=", nobody)
	if findFile(n.dir, "stdout", want) == "" {
		t.Fatalf("no stdout with %q; execute said:\n%s", want, out)
	}
	if findFile(n.dir, "stdout", "hi\n") == "" {
		t.Errorf("the task's write in its sandbox did not show")
	}
	if sb, so := sandboxOwner(t, n.dir, want); sb != nobody || so != nobody {
		t.Errorf("sandbox owned by %d, stdout by %d; want nobody (%d)", sb, so, nobody)
	}

	// --user names the user (here root, allowed by default).
	out, code = execute(t, n.port, "--name", "as-root", "--user", "root", "--", "sh", "-c", `echo "root-task uid=$(id -u)"`)
	if code != 0 || findFile(n.dir, "stdout", "root-task uid=0") == "" {
		t.Fatalf("execute --user root: exit %d\n%s", code, out)
	}

	// A user the agent lacks.
	out, code = execute(t, n.port, "--name", "ghost", "--user", "e2e-no-such-user", "--", "true")
	if code == 0 || !strings.Contains(out, "TASK_FAILED") || !strings.Contains(out, "REASON_CONTAINER_LAUNCH_FAILED") ||
		!strings.Contains(out, "e2e-no-such-user") {
		t.Fatalf("missing user: exit %d; want TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED naming the user:\n%s", code, out)
	}

	// An image whose USER is app (1234:2345 in its /etc/passwd).
	archive := userImage(t, "test/userimg:1", "app")
	load := exec.Command(bin, "image", "load", "--work-dir", n.dir, archive)
	if b, err := load.CombinedOutput(); err != nil {
		t.Fatalf("image load: %v\n%s", err, b)
	}
	out, code = execute(t, n.port, "--name", "img-user", "--image", "test/userimg:1", "--", "sh", "-c",
		`echo "img uid=$(busybox id -u) gid=$(busybox id -g) home=$HOME" && echo x > $MESOS_SANDBOX/w`)
	if code != 0 {
		t.Fatalf("image task: exit %d\n%s", code, out)
	}
	if findFile(n.dir, "stdout", "img uid=1234 gid=2345 home=/home/app") == "" {
		t.Errorf("image USER not honoured; execute said:\n%s", out)
	}
	if sb, _ := sandboxOwner(t, n.dir, "img uid=1234"); sb != 1234 {
		t.Errorf("image task's sandbox owned by %d, want 1234", sb)
	}
	// An explicit --user is CommandInfo.user too: it beats the image's USER.
	out, code = execute(t, n.port, "--name", "img-explicit", "--user", "nobody", "--image", "test/userimg:1", "--", "sh", "-c",
		`echo "img-explicit uid=$(busybox id -u)"`)
	if want := fmt.Sprintf("img-explicit uid=%d", nobody); code != 0 || findFile(n.dir, "stdout", want) == "" {
		t.Errorf("execute --user nobody --image: exit %d, no %q:\n%s", code, want, out)
	}

	// Through Marathon: an app's "user" (CommandInfo.user) beats the
	// image's USER (nobody is not in the image: the agent's); without one
	// the image's USER beats the framework's user (nobody).
	for _, tc := range []struct {
		id, user string
		uid      int
	}{{"/e2e/img-app-user", `"user": "nobody",`, nobody}, {"/e2e/img-image-user", "", 1234}} {
		mark := appMark(7100 + tc.uid%97)
		appMust(t, n, "POST", "/v2/apps", `{"id": "`+tc.id+`", `+tc.user+` "cmd": "sleep `+mark+`", "cpus": 0.05, "mem": 32,
			"container": {"type": "MESOS", "docker": {"image": "test/userimg:1"}}}`, 201)
		appWaitRunning(t, n, tc.id, 1, false, 60*time.Second)
		var pid int
		waitFor(t, 30*time.Second, tc.id+" process", func() bool {
			if pids := cmdlinePids()["sleep "+mark]; len(pids) == 1 {
				pid = pids[0]
			}
			return pid != 0
		})
		var st syscall.Stat_t
		must(t, syscall.Stat("/proc/"+strconv.Itoa(pid), &st))
		if int(st.Uid) != tc.uid {
			t.Errorf("%s runs as uid %d, want %d", tc.id, st.Uid, tc.uid)
		}
		appMust(t, n, "DELETE", "/v2/apps"+tc.id, "", 200)
	}
}

// userImage writes a docker-save archive of busybox with an /etc/passwd
// holding app (1234:2345, home /home/app) and the config's USER set.
func userImage(t *testing.T, ref, user string) string {
	t.Helper()
	entries := []imageEntry{
		{hdr: tar.Header{Name: "home/", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "home/app/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 1234, Gid: 2345}},
		{hdr: tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, body: "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\n"},
		{hdr: tar.Header{Name: "etc/group", Typeflag: tar.TypeReg, Mode: 0o644}, body: "root:x:0:\napp:x:2345:\n"},
	}
	return busyboxImage(t, ref, entries, func(c *v1.Config) {
		c.User = user
		c.Cmd = []string{"sh"}
	})
}

// TestRootRefusedAndMinimumLimits (issue 15 points 1 and 8) on a node with
// --root-submissions=false: root is refused through the Mesos scheduler
// API (TASK_ERROR, REASON_TASK_UNAUTHORIZED) and /v2/apps (403), even for
// the admin; an app without a user runs as the framework's (nobody); an
// app with cpus 0 and mem 0 runs under a CPU quota and a memory limit at
// Mesos' minimums (cgroup files) and the master counts it at them.
func TestRootRefusedAndMinimumLimits(t *testing.T) {
	nobody := nobodyUID(t)
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]", "--root-submissions=false", "--cgroups_enable_cfs")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})

	out, code := execute(t, n.port, "--name", "root-task", "--user", "root", "--", "true")
	if code == 0 || !strings.Contains(out, "TASK_ERROR") || !strings.Contains(out, "REASON_TASK_UNAUTHORIZED") {
		t.Errorf("root through the scheduler API: exit %d; want TASK_ERROR, REASON_TASK_UNAUTHORIZED:\n%s", code, out)
	}
	body := appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/as-root", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16, "user": "root"}`, 403)
	if !strings.Contains(string(body), "root") {
		t.Errorf("403 %s: want the user named", body)
	}

	mark := appMark(7001)
	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/tiny", "cmd": "sleep `+mark+`", "cpus": 0, "mem": 0}`, 201)
	appWaitRunning(t, n, "/e2e/tiny", 1, false, 60*time.Second)
	var pid int
	waitFor(t, 30*time.Second, "the tiny app's process", func() bool {
		pids := cmdlinePids()["sleep "+mark]
		if len(pids) == 1 {
			pid = pids[0]
		}
		return pid != 0
	})
	var st syscall.Stat_t
	must(t, syscall.Stat("/proc/"+strconv.Itoa(pid), &st))
	if int(st.Uid) != nobody {
		t.Errorf("an app without a user runs as uid %d, want nobody (%d)", st.Uid, nobody)
	}
	quota, memLimit := cgroupLimits(t, pid)
	waitFor(t, 30*time.Second, "cpu quota 1000us per 100ms (cpus 0.01)", func() bool {
		quota, memLimit = cgroupLimits(t, pid)
		return quota == "1000 100000" || quota == "1000"
	})
	if memLimit != strconv.Itoa(32<<20) {
		t.Errorf("memory limit %s, want %d (mem 32)", memLimit, 32<<20)
	}
	var state struct {
		Slaves []struct {
			Used map[string]any `json:"used_resources"`
		} `json:"slaves"`
	}
	must(t, getJSON(n.url()+"/state", &state))
	if len(state.Slaves) != 1 {
		t.Fatalf("slaves %+v", state.Slaves)
	}
	cpus, _ := state.Slaves[0].Used["cpus"].(float64)
	mem, _ := state.Slaves[0].Used["mem"].(float64)
	if cpus < 0.01-1e-9 || mem < 32 {
		t.Errorf("the master counts the tiny app at cpus %v, mem %v; want at least 0.01 and 32", cpus, mem)
	}
	appMust(t, n, "DELETE", "/v2/apps/e2e/tiny", "", 200)
}

// cgroupLimits reads pid's CFS quota (v1 "cpu.cfs_quota_us", v2 "cpu.max")
// and memory limit (v1 "memory.limit_in_bytes", v2 "memory.max").
func cgroupLimits(t *testing.T, pid int) (quota, mem string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	must(t, err)
	read := func(p string) string {
		v, _ := os.ReadFile(p)
		return strings.TrimSpace(string(v))
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cg := cpuCgroupIn(string(b))
		return read(filepath.Join("/sys/fs/cgroup", cg, "cpu.max")), read(filepath.Join("/sys/fs/cgroup", cg, "memory.max"))
	}
	var memCg string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,") {
			memCg = parts[2]
		}
	}
	cg := cpuCgroupIn(string(b))
	return read(filepath.Join("/sys/fs/cgroup/cpu", cg, "cpu.cfs_quota_us")), read(filepath.Join("/sys/fs/cgroup/memory", memCg, "memory.limit_in_bytes"))
}
