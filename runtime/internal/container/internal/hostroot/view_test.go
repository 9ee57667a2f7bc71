package hostroot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// TestViewIsReadOnly makes views of the real host root: a view shows the
// host's files, nothing in it can be written (from the host either), a
// host mount made afterwards is in Foreign and read-only in the next view,
// the view root is left out of a later view (no view inside a view), and
// detaching the root leaves nothing.
func TestViewIsReadOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts)")
	}
	entries, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e Entry) bool { return e.Name == "var" && e.Kind == Dir }) {
		t.Skip("no /var on this host")
	}
	// Under /var (bound in the views), not under a directory containers
	// replace: the view root (the agent's is in its work dir), and a spot for
	// a host mount.
	base, err := os.MkdirTemp("/var/tmp", "nodectl-view-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	root, spot := filepath.Join(base, "views"), filepath.Join(base, "spot")
	if err := os.Mkdir(spot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spot, "before"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := MountViewRoot(root); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Detach(root) })
	before, err := Foreign([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	dir, dir2 := filepath.Join(root, "v1"), filepath.Join(root, "v2")
	for _, d := range []string{dir, dir2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := MountView(dir, entries); err != nil {
		t.Fatal(err)
	}
	if !IsMount(dir) || !IsMount(filepath.Join(dir, "var")) {
		t.Fatal("the view or its /var is no mount point")
	}
	if b, err := os.ReadFile(filepath.Join(dir, spot, "before")); err != nil || string(b) != "x" {
		t.Fatalf("host file through the view: %q, %v", b, err)
	}
	for _, p := range []string{filepath.Join(dir, spot, "new"), filepath.Join(dir, spot, "before")} {
		if err := os.WriteFile(p, []byte("y"), 0o644); !errors.Is(err, unix.EROFS) {
			t.Errorf("write %s through the view: %v, want EROFS", p, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, spot, "before")); !errors.Is(err, unix.EROFS) {
		t.Errorf("remove through the view: %v, want EROFS", err)
	}
	// The views' own mounts are under root: Foreign does not see them.
	after, err := Foreign([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Errorf("Foreign changed with the view's own mounts:\n%v\n%v", before, after)
	}

	if err := unix.Mount("tmpfs", spot, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(spot, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(spot, "later"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// In the first view or not, as the host's /var propagates or not;
	// read-only in the next one.
	later, err := Foreign([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(later, func(s string) bool { return strings.HasSuffix(s, " "+spot) }) {
		t.Errorf("Foreign misses the host's new mount %s: %v", spot, later)
	}

	// The next view has the new mount, and nothing of the first view.
	if err := MountView(dir2, entries); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, spot, "later")); err != nil {
		t.Errorf("the next view lacks the host's new mount: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir2, spot, "later"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("the host's new mount is writable in the next view: %v", err)
	}
	if IsMount(filepath.Join(dir2, root)) || IsMount(filepath.Join(dir2, dir, "var")) {
		t.Error("a view holds the view root's mounts")
	}

	if err := Detach(root); err != nil {
		t.Fatal(err)
	}
	if left, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root)); err != nil || len(left) > 0 {
		t.Errorf("mounts left under the view root: %d (%v)", len(left), err)
	}
}
