package container_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

// dirRoots is the test's Config.WarmRootfs: a warm container's root is a
// fresh busybox tree in dir/<id>/rootfs (the agent's is an overlay of the
// image, runtime/warmimage.go).
type dirRoots struct {
	dir      string
	mu       sync.Mutex
	released []string
}

func (r *dirRoots) Prepare(image, id string) (string, error) {
	rootfs := filepath.Join(r.dir, id, "rootfs")
	if err := containertest.BuildBusyboxRootfs(rootfs); err != nil {
		return "", err
	}
	return rootfs, nil
}

func (r *dirRoots) Release(id string) {
	r.mu.Lock()
	r.released = append(r.released, id)
	r.mu.Unlock()
	_ = os.RemoveAll(filepath.Join(r.dir, id))
}

// warmImageEnv is warmEnv with warm containers of image tasks.
func warmImageEnv(t *testing.T) (*env, *dirRoots, string) {
	t.Helper()
	containertest.RequireRoot(t)
	work := t.TempDir()
	e := newEnv(t)
	e.d.Close()
	roots := &dirRoots{dir: filepath.Join(work, "provisioner")}
	e.cfg.WarmContainers, e.cfg.WarmRootfs = true, roots
	e.cfg.HiddenPaths = []string{work}
	d, err := container.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	t.Cleanup(d.Close)
	return e, roots, work
}

// imageSpec is an image task's spec on a root of its own in
// work/provisioner/<id>, made unless the root was moved there already.
func imageSpec(t *testing.T, work, id string, args ...string) container.Spec {
	t.Helper()
	rootfs := filepath.Join(work, "provisioner", id, "rootfs")
	if _, err := os.Stat(rootfs); err != nil {
		if err := containertest.BuildBusyboxRootfs(rootfs); err != nil {
			t.Fatal(err)
		}
	}
	sb := filepath.Join(work, "sandboxes", id)
	if err := os.MkdirAll(sb, 0o755); err != nil {
		t.Fatal(err)
	}
	return container.Spec{ID: id, Rootfs: rootfs, Image: "sha256:test", SandboxDir: sb, Args: args}
}

// claim claims the ready warm container of the test image and moves its
// root to work/provisioner/<id>, as the agent does.
func claim(t *testing.T, e *env, work, id string) string {
	t.Helper()
	var wid, from string
	containertest.Eventually(t, 30*time.Second, func() bool {
		var ok bool
		wid, from, ok = e.d.ClaimWarm("sha256:test")
		return ok
	}, "no warm container of the image to claim")
	if err := os.Rename(filepath.Dir(from), filepath.Join(work, "provisioner", id)); err != nil {
		t.Fatal(err)
	}
	return wid
}

// TestWarmImageContainer: after an image task starts, the spare makes a
// container of the same image ahead; the next image task claims its root
// and takes it over — its own sandbox at /mnt/mesos/sandbox, writable, its
// environment and working directory, the root it claimed — and destroying
// it leaves no mount; the warm container's root is the task's, never
// released by the driver.
func TestWarmImageContainer(t *testing.T) {
	e, roots, work := warmImageEnv(t)
	e.start(t, imageSpec(t, work, "i1", "/bin/sh", "-c", "sleep 30"))
	stub := warmReady(t, e.cfg.Root)
	if _, _, ok := e.d.ClaimWarm("sha256:other"); ok {
		t.Fatal("claimed a warm container of another image")
	}

	wid := claim(t, e, work, "i2")
	spec := imageSpec(t, work, "i2", "/bin/sh", "-c",
		`echo "$FOO $(pwd) $(id -u)"; echo hello > /mnt/mesos/sandbox/out; echo root > /rootfile; grep -c ' /mnt/mesos/sandbox ' /proc/self/mountinfo; sleep 30`)
	spec.Warm, spec.Env = wid, []string{"FOO=bar"}
	c := e.start(t, spec)
	if c.Pid() != stub {
		t.Fatalf("init pid %d, want the warm container's %d: not taken over", c.Pid(), stub)
	}
	var out string
	containertest.Eventually(t, 30*time.Second, func() bool {
		out = containertest.ReadFile(sandboxFile(spec, "stdout"))
		return strings.Count(out, "\n") >= 2
	}, "the task's output is not in its sandbox")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "bar "+container.DefaultSandboxTarget+" 0" {
		t.Errorf("task saw %q, want FOO=bar, cwd %s, uid 0", lines[0], container.DefaultSandboxTarget)
	}
	if lines[1] != "2" { // the slot, and the sandbox over it
		t.Errorf("%s mounts: %s, want 2", container.DefaultSandboxTarget, lines[1])
	}
	if got := containertest.ReadFile(sandboxFile(spec, "out")); got != "hello\n" {
		t.Errorf("the sandbox's file from the task: %q", got)
	}
	if got := containertest.ReadFile(filepath.Join(spec.Rootfs, "rootfile")); got != "root\n" {
		t.Errorf("the root the task writes is not the one it claimed: %q", got)
	}
	if err := c.Kill(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	destroy(t, e.d, "i2")
	if m := mountsUnder(filepath.Join(e.cfg.Root, "containers")); len(m) > 0 {
		t.Errorf("mounts left under the containers' run dirs: %v", m)
	}
	if m := mountsUnder(spec.SandboxDir); len(m) > 0 {
		t.Errorf("mounts left on the sandbox: %v", m)
	}
	roots.mu.Lock()
	for _, id := range roots.released {
		if id == wid {
			t.Errorf("the driver released the root it gave the task (%s)", wid)
		}
	}
	roots.mu.Unlock()

	// A task that does not fit its claimed warm container (another
	// user) gets a container of its own on that root, the warm one ended
	// first.
	warmReady(t, e.cfg.Root)
	wid = claim(t, e, work, "i3")
	other := imageSpec(t, work, "i3", "/bin/sh", "-c", "id -u; sleep 30")
	other.Warm, other.UID, other.GID = wid, 65534, 65534
	c = e.start(t, other)
	containertest.Eventually(t, 30*time.Second, func() bool {
		return containertest.ReadFile(sandboxFile(other, "stdout")) == "65534\n"
	}, "the unfit task did not run as its own user")
	if _, err := os.Stat(filepath.Join(e.cfg.Root, "runc", wid)); !os.IsNotExist(err) {
		t.Errorf("the unfit claim's warm container %s lives on: %v", wid, err)
	}
	_ = c.Kill(context.Background(), 0)

	// A claim let go (Unclaim) ends its container and leaves its root.
	wid = claim(t, e, work, "i4")
	e.d.Unclaim(wid)
	if _, err := os.Stat(filepath.Join(work, "provisioner", "i4", "rootfs", "bin")); err != nil {
		t.Errorf("the unclaimed root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.Root, "runc", wid)); !os.IsNotExist(err) {
		t.Errorf("the unclaimed warm container %s lives on: %v", wid, err)
	}

	// A start refused before it begins (no command) ends the claimed
	// container all the same.
	wid = claim(t, e, work, "i6")
	bad := imageSpec(t, work, "i6")
	bad.Warm = wid
	if _, err := e.d.Start(context.Background(), bad); err == nil {
		t.Fatal("a start without a command")
	}
	if _, err := os.Stat(filepath.Join(e.cfg.Root, "runc", wid)); !os.IsNotExist(err) {
		t.Errorf("the refused start's warm container %s lives on: %v", wid, err)
	}

	// DropWarm ends the warm containers of an image (its name removed
	// from the agent's store) and releases their roots; nothing remakes
	// them until the next image task.
	e.start(t, imageSpec(t, work, "i5", "/bin/true"))
	// At least one: the unfit task above (another user) may have left a
	// warm container of its kind too, if no claim since took it.
	containertest.Eventually(t, 30*time.Second, func() bool { return len(warmStubs(e.cfg.Root)) > 0 }, "no warm container after a start")
	e.d.DropWarm("sha256:test")
	containertest.Eventually(t, 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(work, "provisioner", "warm-*"))
		return len(m) == 0 // one being made is ended once made
	}, "warm roots left after DropWarm")
	if _, _, ok := e.d.ClaimWarm("sha256:test"); ok {
		t.Error("a warm container of the dropped image to claim")
	}

	// Close ends the warm container and releases its root.
	e.d.Close()
	if m := mountsUnder(filepath.Join(e.cfg.Root, "warm")); len(m) > 0 {
		t.Errorf("warm mounts left after Close: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(work, "provisioner", "warm-*")); len(m) > 0 {
		t.Errorf("warm roots left after Close: %v", m)
	}
}
