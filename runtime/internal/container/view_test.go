package container_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

// TestCommandTaskSeesHostMountsOfItsStart: command tasks copy a view of the
// host root (hostroot/view.go); a host mount made after one must still be
// seen by the next command task (the driver makes a new view), read-only,
// as when each container bound the host itself.
func TestCommandTaskSeesHostMountsOfItsStart(t *testing.T) {
	e := newEnv(t)
	spot, err := os.MkdirTemp("/var/tmp", "nodectl-view-")
	if err != nil {
		t.Skip("no /var/tmp:", err)
	}
	t.Cleanup(func() { os.RemoveAll(spot) })
	script := `cat ` + spot + `/mark 2>/dev/null || echo none; if touch ` + spot + `/w 2>/dev/null; then echo writable; fi`

	sleeper := e.start(t, e.spec(t, "view-sleeper", "", "/bin/sleep", "1000"))
	first := e.spec(t, "view-before", "", "/bin/sh", "-c", script)
	wait(t, e.start(t, first))
	if out := containertest.ReadFile(sandboxFile(first, "stdout")); strings.TrimSpace(out) != "none" {
		t.Fatalf("before the mount: %q", out)
	}
	again := e.spec(t, "view-again", "", "/bin/true")
	wait(t, e.start(t, again))
	for _, id := range []string{first.ID, again.ID} {
		if root := hostRootOf(t, e, id); filepath.Dir(root) != e.cfg.ViewRoot {
			t.Fatalf("root %s of %s: want the view under %s", root, id, e.cfg.ViewRoot)
		}
	}

	if err := unix.Mount("tmpfs", spot, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(spot, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(spot, "mark"), []byte("mounted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := e.spec(t, "view-after", "", "/bin/sh", "-c", script)
	wait(t, e.start(t, second))
	if out := containertest.ReadFile(sandboxFile(second, "stdout")); strings.TrimSpace(out) != "mounted" {
		t.Fatalf("after the host mounted %s: %q, want the mount's file and no write (roots %s, %s)", spot, out, hostRootOf(t, e, first.ID), hostRootOf(t, e, second.ID))
	}
	// The start over, the view goes. A process exec'd into a container made
	// from it still starts (libcontainer starts it in the container's root
	// directory, which must stay).
	view := hostRootOf(t, e, second.ID)
	if m, err := mountinfo.Mounted(view); m || err != nil {
		t.Fatalf("view %s still mounted after the last start (%v)", view, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ex, out, err := sleeper.Exec(ctx, container.ExecSpec{Args: []string{"/bin/true"}}); err != nil || ex.Code != 0 {
		t.Errorf("exec into a container whose view was replaced: %+v %q %v", ex, out, err)
	}
}

// requestRoot is the root a container's request names, and whether it is a
// view.
func requestRoot(t *testing.T, e *env, id string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.cfg.Root, "containers", id, "request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		HostRootDir  string `json:"host_root_dir"`
		HostRootView bool   `json:"host_root_view"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	return req.HostRootDir, req.HostRootView
}

// hostRootOf is the view a container was made from.
func hostRootOf(t *testing.T, e *env, id string) string {
	t.Helper()
	dir, view := requestRoot(t, e, id)
	if !view {
		t.Fatalf("container %s: root %s is no view", id, dir)
	}
	return dir
}
