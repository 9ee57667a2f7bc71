package e2e

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestGCEarlyAtLowDisk is the second half of issue 19's GC acceptance
// ("at low disk, collection runs early"; the first half, a 1 s gc_delay,
// is TestMesosOperatorGCEnv). The node's work dir is a small tmpfs the
// test mounts; gc_delay is an hour. While the disk has room the finished
// task's sandbox and an unused image layer stay; once a filler file
// takes the usage past 1 − gc_disk_headroom, Mesos' formula gives a
// maximum age of 0 and both go, while the running task's sandbox and its
// image's layer (no longer named, but in use) stay.
func TestGCEarlyAtLowDisk(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=320m,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs work dir: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	registerNode(dir)
	t.Cleanup(func() { endContainers(t, dir) }) // before the unmount
	n := node{dir: dir, port: freePort(t), agentPort: freePort(t), etcd: freePort(t), etcdPr: freePort(t)}

	// Two images: busybox for the running task, and a one-file image
	// whose name is removed (its layer is then unused).
	bb := busyboxTar(t)
	tiny := filepath.Join(t.TempDir(), "tiny.tar")
	writeOneFileTar(t, tiny, "hello", "unused layer")
	layers := func() map[string]bool {
		ents, _ := os.ReadDir(filepath.Join(n.dir, "images", "layers", "sha256"))
		out := map[string]bool{}
		for _, e := range ents {
			out[e.Name()] = true
		}
		return out
	}
	var busyboxLayers map[string]bool
	for _, c := range [][]string{{bb, "gc/busybox:1"}, {tiny, "gc/tiny:1"}} {
		if out, err := exec.Command(bin, "image", "import", "--work-dir", n.dir, c[0], c[1]).CombinedOutput(); err != nil {
			t.Fatalf("image import %v: %v\n%s", c, err, out)
		}
		if busyboxLayers == nil {
			busyboxLayers = layers()
		}
	}
	if len(layers()) != 2 || len(busyboxLayers) != 1 {
		t.Fatalf("layers after import: %v", layers())
	}

	start(t, n.args("all", "--resources", "cpus:2;mem:512;disk:64;ports:[31000-31100]",
		"--gc_delay", "1hrs", "--gc_disk_headroom", "0.1", "--disk_watch_interval", "1secs")...)
	waitFor(t, 30*time.Second, "the node healthy with its agent", func() bool { return healthy(n.url()) && len(slaves(t, n.url())) == 1 })

	appMust(t, n, "POST", "/v2/apps", `{"id": "/gc/boxed", "cmd": "sleep 600",
		"container": {"type": "MESOS", "docker": {"image": "gc/busybox:1"}}, "cpus": 0.05, "mem": 16}`, 201)
	appWaitRunning(t, n, "/gc/boxed", 1, false, 60*time.Second)
	if out, code := execute(t, n.port, "--name", "gc-done", "--", "echo", "done"); code != 0 {
		t.Fatalf("execute: %d %s", code, out)
	}
	sandboxes := func(pattern string) []string {
		m, _ := filepath.Glob(filepath.Join(n.dir, "slaves", "*", "frameworks", "*", "executors", pattern))
		var out []string
		for _, p := range m {
			if !strings.Contains(p, "/slaves/latest/") { // the symlink to the agent's own
				out = append(out, p)
			}
		}
		return out
	}
	done := sandboxes("gc-done*")
	if len(done) != 1 {
		t.Fatalf("finished sandboxes %v", done)
	}
	running := len(sandboxes("*")) - 1
	if running < 1 {
		t.Fatal("no sandbox for the running app task")
	}
	for _, ref := range []string{"gc/tiny:1", "gc/busybox:1"} {
		if out, err := exec.Command(bin, "image", "rm", "--work-dir", n.dir, ref).CombinedOutput(); err != nil {
			t.Fatalf("image rm %s: %v\n%s", ref, err, out)
		}
	}

	// Room on the disk: a collection runs (its maximum age is positive)
	// and keeps everything.
	metric := func(name string) (float64, bool) {
		var snap map[string]float64
		if err := getJSON(n.agentURL()+"/metrics/snapshot", &snap); err != nil {
			return 0, false
		}
		v, ok := snap[name]
		return v, ok
	}
	waitFor(t, 30*time.Second, "a sandbox collection with room on the disk", func() bool {
		v, ok := metric("slave/gc_max_allowed_age_secs")
		return ok && v > 0
	})
	if _, err := os.Stat(done[0]); err != nil {
		t.Fatalf("the finished sandbox went with room on the disk: %v", err)
	}
	if len(layers()) != 2 {
		t.Fatalf("image layers with room on the disk: %v", layers())
	}

	// Low disk: fill to 95%.
	var st unix.Statfs_t
	if err := unix.Statfs(n.dir, &st); err != nil {
		t.Fatal(err)
	}
	size, avail := int64(st.Blocks)*st.Bsize, int64(st.Bavail)*st.Bsize
	fill := avail - size/20
	f, err := os.Create(filepath.Join(n.dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, fill); err != nil {
		t.Fatalf("fill the work dir: %v", err)
	}
	f.Close()
	waitFor(t, 30*time.Second, "early collection of the finished sandbox and the unused layer", func() bool {
		_, err := os.Stat(done[0])
		return os.IsNotExist(err) && len(layers()) == 1
	})
	if got := len(sandboxes("*")); got != running {
		t.Errorf("%d sandboxes left, want the %d of the running task", got, running)
	}
	for l := range layers() {
		if !busyboxLayers[l] {
			t.Errorf("layer %s left", l)
		}
	}
	if v, _ := metric("slave/gc_image_layers_removed"); v < 1 {
		t.Errorf("slave/gc_image_layers_removed %v", v)
	}
	if v, _ := metric("slave/gc_sandboxes_removed"); v < 1 {
		t.Errorf("slave/gc_sandboxes_removed %v", v)
	}
	if v, _ := metric("slave/gc_max_allowed_age_secs"); v != 0 {
		t.Errorf("slave/gc_max_allowed_age_secs %v at low disk, want 0", v)
	}
	if ts := appTasks(n, "/gc/boxed"); len(ts) != 1 || ts[0].State != "TASK_RUNNING" {
		t.Errorf("the running app task after collection: %+v", ts)
	}
}

func writeOneFileTar(t *testing.T, path, name, content string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
