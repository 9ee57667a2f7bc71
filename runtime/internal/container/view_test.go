package container_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/containertest"
)

// TestCommandTaskSeesHostMountsOfItsStart: command tasks copy a view of the
// host root made ahead (hostroot/view.go), a snapshot; a host mount made
// after it must still be seen by the next command task (the driver makes a
// new view), read-only, as when each container bound the host itself.
func TestCommandTaskSeesHostMountsOfItsStart(t *testing.T) {
	e := newEnv(t)
	spot, err := os.MkdirTemp("/var/tmp", "nodectl-view-")
	if err != nil {
		t.Skip("no /var/tmp:", err)
	}
	t.Cleanup(func() { os.RemoveAll(spot) })
	script := `cat ` + spot + `/mark 2>/dev/null || echo none; if touch ` + spot + `/w 2>/dev/null; then echo writable; fi`

	first := e.spec(t, "view-before", "", "/bin/sh", "-c", script)
	wait(t, e.start(t, first))
	if out := containertest.ReadFile(sandboxFile(first, "stdout")); strings.TrimSpace(out) != "none" {
		t.Fatalf("before the mount: %q", out)
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
		t.Fatalf("after the host mounted %s: %q, want the mount's file and no write", spot, out)
	}
}
