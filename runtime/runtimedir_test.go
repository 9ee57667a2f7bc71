package runtime

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func onTmpfs(t *testing.T, dir string) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == unix.TMPFS_MAGIC
}

// TestRuntimeDirMovesToTmpfs: an agent's runtime dir left on disk (an older
// agent's, with a container's state) moves onto a tmpfs whole, modes and
// symlinks included, and the disk beneath is emptied; the tmpfs stays while
// a container is in it, is found again by the next agent, and goes with
// the last container.
func TestRuntimeDirMovesToTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts)")
	}
	dir := filepath.Join(t.TempDir(), "runtime")
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	state := filepath.Join(dir, "runc", "c1", "state.json")
	if err := os.MkdirAll(filepath.Dir(state), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte(`{"id":"c1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "containers", "c1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../runc/c1", filepath.Join(dir, "containers", "c1", "link")); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)

	mounted, err := mountRuntimeDir(dir, log)
	if err != nil || !mounted || !onTmpfs(t, dir) {
		t.Fatalf("mountRuntimeDir = %v, %v; on tmpfs %v", mounted, err, onTmpfs(t, dir))
	}
	if b, err := os.ReadFile(state); err != nil || string(b) != `{"id":"c1"}` {
		t.Errorf("state after the move: %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Dir(state)); err != nil || st.Mode().Perm() != 0o711 {
		t.Errorf("state dir after the move: %v, %v", st, err)
	}
	if st, err := os.Stat(state); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("state file after the move: %v, %v", st, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "containers", "c1", "link")); err != nil || target != "../runc/c1" {
		t.Errorf("symlink after the move: %q, %v", target, err)
	}

	// A restarted agent finds its tmpfs; an agent stopping with a container
	// in it keeps it.
	if mounted, err := mountRuntimeDir(dir, log); err != nil || mounted || !onTmpfs(t, dir) {
		t.Fatalf("second mountRuntimeDir = %v, %v", mounted, err)
	}
	releaseRuntimeDir(dir, log)
	if !onTmpfs(t, dir) {
		t.Fatal("released with a container in it")
	}

	// The last container gone, the agent stopping: unmounted, and nothing
	// of the old disk copy under it.
	for _, sub := range []string{"runc", "containers"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	releaseRuntimeDir(dir, log)
	if onTmpfs(t, dir) {
		t.Fatal("still mounted with no container left")
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 0 {
		t.Errorf("the disk dir beneath holds %v (%v)", ents, err)
	}
}

// TestRuntimeDirWithMountsStaysOnDisk: a runtime dir that holds a mount (a
// warm container's slot an older agent left) is not covered by a tmpfs.
func TestRuntimeDirWithMountsStaysOnDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts)")
	}
	dir := filepath.Join(t.TempDir(), "runtime")
	slot := filepath.Join(dir, "warm", "w1", "slot")
	if err := os.MkdirAll(slot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", slot, "tmpfs", 0, "size=4k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(slot, unix.MNT_DETACH) })
	mounted, err := mountRuntimeDir(dir, slog.New(slog.DiscardHandler))
	if err != nil || mounted || onTmpfs(t, dir) {
		t.Fatalf("mountRuntimeDir over a mount = %v, %v; on tmpfs %v", mounted, err, onTmpfs(t, dir))
	}
	if !onTmpfs(t, slot) {
		t.Error("the slot's mount is no longer seen at its place")
	}
}
