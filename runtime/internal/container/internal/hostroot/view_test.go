package hostroot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestViewIsAReadOnlySnapshot makes a view of the real host root: it shows
// the host's files, nothing in it can be written (from the host either:
// a view left mounted must not let `rm -rf` of the work dir reach the
// host), a host mount made afterwards is not in it but is in Foreign, and
// Detach leaves a plain directory that can be removed.
func TestViewIsAReadOnlySnapshot(t *testing.T) {
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
	parent := t.TempDir()
	dir, err := EnsureNamed(parent, "view", entries)
	if err != nil {
		t.Fatal(err)
	}
	// A host directory a test may mount on: under /var (bound in the view),
	// not under a directory containers replace.
	spot, err := os.MkdirTemp("/var/tmp", "nodectl-view-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(spot) })
	if err := os.WriteFile(filepath.Join(spot, "before"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := Foreign([]string{parent})
	if err != nil {
		t.Fatal(err)
	}
	if err := MountView(dir, entries); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Detach(dir) })
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
	// The view's own mounts are under parent: Foreign does not see them.
	after, err := Foreign([]string{parent})
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
	if _, err := os.Stat(filepath.Join(dir, spot, "later")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a host mount made after the view is in it: %v", err)
	}
	later, err := Foreign([]string{parent})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(later, func(s string) bool { return strings.HasSuffix(s, " "+spot) }) {
		t.Errorf("Foreign misses the host's new mount %s: %v", spot, later)
	}

	if err := Detach(dir); err != nil {
		t.Fatal(err)
	}
	if IsMount(dir) {
		t.Fatal("still mounted after Detach")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}
