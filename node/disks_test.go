package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// TestCheckDiskRoots: a MOUNT root must be an existing directory, a PATH
// root is made, and no root may hold the work dir.
func TestCheckDiskRoots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wd := filepath.Join(dir, "work")
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "ssd-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	disk := func(typ, root string) api.Resources {
		rs, err := api.ParseResources("disk[" + typ + ":" + root + "]:100")
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	if err := checkDiskRoots(wd, disk("MOUNT", filepath.Join(dir, "ssd-1"))); err != nil {
		t.Errorf("existing MOUNT root: %v", err)
	}
	if err := checkDiskRoots(wd, disk("PATH", filepath.Join(dir, "new/path"))); err != nil {
		t.Errorf("PATH root to make: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "new/path")); err != nil || !st.IsDir() {
		t.Errorf("PATH root not made: %v", err)
	}
	for _, c := range []struct {
		rs   api.Resources
		want string
	}{
		{disk("MOUNT", filepath.Join(dir, "missing")), "no such file"},
		{disk("MOUNT", file), "not a directory"},
		{disk("MOUNT", dir), "holds the work dir"},
		{disk("PATH", "."), "holds the work dir"},
	} {
		if err := checkDiskRoots(wd, c.rs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.rs, err, c.want)
		}
	}
}
