package runtime

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRelinkConcurrent: the tasks of one group make their sandboxes at
// once and relink the executor's "latest" together; none may fail.
func TestRelinkConcurrent(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "latest")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() { errs <- relink(link, "run1") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.Readlink(link); err != nil || got != "run1" {
		t.Fatalf("latest -> %q, %v", got, err)
	}
	if m, _ := filepath.Glob(link + ".tmp*"); len(m) != 0 {
		t.Errorf("temporary links left: %v", m)
	}
}

// TestSandboxSpreadsExecutors: a framework's executors directory carries
// ext4's top-of-hierarchy attribute (chattr +T), so every task's sandbox
// is placed in a block group of its own choosing (see spreadChildren).
func TestSandboxSpreadsExecutors(t *testing.T) {
	wd := t.TempDir()
	if !onExt4(wd) {
		t.Skipf("%s is not on ext4, whose attribute FS_TOPDIR_FL is", wd)
	}
	for _, run := range []string{"C1", "C2"} {
		if _, err := makeSandbox(wd, "A-S0", "F1", "task."+run, run); err != nil {
			t.Fatal(err)
		}
	}
	requireTopdir(t, filepath.Join(wd, "slaves", "A-S0", "frameworks", "F1", "executors"))
}

// requireTopdir fails the test unless dir carries FS_TOPDIR_FL; where dir
// is not on ext4 (whose attribute that is) it only says so.
func requireTopdir(t *testing.T, dir string) {
	t.Helper()
	if !onExt4(dir) {
		t.Logf("%s is not on ext4: its FS_TOPDIR_FL is not checked", dir)
		return
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Fatal(err)
	}
	if flags&fsTopdirFL == 0 {
		t.Fatalf("%s: flags %#x, want FS_TOPDIR_FL", dir, flags)
	}
}

// onExt4 reports whether path is on an ext4 filesystem.
func onExt4(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.EXT4_SUPER_MAGIC
}

// TestSpreadSeenBounded: the directories spreadChildren remembers stay
// bounded however many frameworks an agent sees.
func TestSpreadSeenBounded(t *testing.T) {
	wd := t.TempDir()
	for i := range spreadRemember + 10 {
		spreadChildren(filepath.Join(wd, "f"+strconv.Itoa(i), "executors"))
	}
	spreadSeen.Lock()
	n := len(spreadSeen.dirs)
	spreadSeen.Unlock()
	if n > spreadRemember {
		t.Fatalf("%d directories remembered, want at most %d", n, spreadRemember)
	}
}
