package runtime

import (
	"os"
	"path/filepath"
	"testing"

	"nodectl/cluster/api"
)

// The sandbox quota is the task's non-volume disk; the walk counts
// allocated blocks, a hard link once, no symlink target, no volume mount
// point, and stops early beyond the limit.
func TestSandboxUsage(t *testing.T) {
	ti := api.TaskInfo{Resources: api.Resources{api.ScalarResource("disk", 2), api.ScalarResource("cpus", 1)}.Add(testVolume("v1", 5))}
	if got := sandboxDiskLimit(ti); got != 2<<20 {
		t.Fatalf("sandbox limit %d, want %d", got, 2<<20)
	}
	if got := sandboxDiskLimit(api.TaskInfo{Resources: testVolume("v1", 5)}); got != 0 {
		t.Fatalf("volume-only task has sandbox limit %d, want 0", got)
	}

	dir := t.TempDir()
	outside := t.TempDir()
	write := func(p string, n int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "a"), 1<<20)
	write(filepath.Join(dir, "data", "vol"), 4<<20) // the volume's mount point
	write(filepath.Join(outside, "big"), 8<<20)
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "a-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	// A sparse file allocates (almost) nothing.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	skip := map[string]bool{filepath.Join(dir, "data"): true}
	used, err := sandboxUsage(dir, skip, 0)
	if err != nil {
		t.Fatal(err)
	}
	if used < 1<<20 || used > 1<<20+256<<10 {
		t.Fatalf("usage %d bytes, want about 1 MiB (one copy of a, no volume, no symlink target, no sparse hole)", used)
	}
	all, err := sandboxUsage(dir, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if all < 5<<20 {
		t.Fatalf("usage without skipping the volume %d bytes, want at least 5 MiB", all)
	}
	// Stopping early still reports a value beyond the limit.
	if over, err := sandboxUsage(dir, nil, 2<<20); err != nil || over <= 2<<20 {
		t.Fatalf("early stop: %d, %v; want beyond 2 MiB", over, err)
	}
	if _, err := sandboxUsage(filepath.Join(dir, "missing"), nil, 0); err == nil {
		t.Fatal("a missing sandbox measured without error")
	}
}
