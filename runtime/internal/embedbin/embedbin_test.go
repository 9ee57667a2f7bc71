package embedbin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// countingFS counts the embedded files opened.
type countingFS struct {
	fs.FS
	opens int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.opens++
	return c.FS.Open(name)
}

func TestInstall(t *testing.T) {
	big := strings.Repeat("shim", 100<<10) // several chunks
	src := &countingFS{FS: fstest.MapFS{"bin/a": {Data: []byte(big)}, "bin/b": {Data: []byte("monitor")}}}
	dir := filepath.Join(t.TempDir(), "bin")
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	paths, err := Install(src, "bin", dir, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if read(paths[0]) != big || read(paths[1]) != "monitor" {
		t.Fatal("installed files differ from the embedded ones")
	}
	st1, _ := os.Stat(paths[0])
	if st1.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v", st1.Mode())
	}

	// Unchanged: the embedded files are not even opened.
	src.opens = 0
	if _, err := Install(src, "bin", dir, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if src.opens != 0 {
		t.Errorf("%d embedded files opened for an unchanged directory", src.opens)
	}

	// A file changed on disk: compared, replaced; the other one kept.
	if err := os.WriteFile(paths[1], []byte("tampered"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(src, "bin", dir, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if read(paths[1]) != "monitor" {
		t.Error("a changed file was not replaced")
	}
	if st2, _ := os.Stat(paths[0]); !os.SameFile(st1, st2) {
		t.Error("an unchanged file was rewritten")
	}

	// A mode change is repaired.
	if err := os.Chmod(paths[0], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(src, "bin", dir, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(paths[0]); st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v not repaired", st.Mode())
	}

	// Another nodectl binary (its stamp differs): compared, not rewritten
	// when equal.
	stampPath := filepath.Join(dir, stampName)
	if err := os.WriteFile(stampPath, []byte(`{"exe":{"ino":1},"files":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	st3, _ := os.Stat(paths[0])
	src.opens = 0
	if _, err := Install(src, "bin", dir, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if src.opens != 2 {
		t.Errorf("%d embedded files compared after a binary change, want 2", src.opens)
	}
	if st4, _ := os.Stat(paths[0]); !os.SameFile(st3, st4) {
		t.Error("an equal file was rewritten")
	}

	// A new embedded version of the same size is found by content.
	src.FS = fstest.MapFS{"bin/a": {Data: []byte(strings.Repeat("SHIM", 100<<10))}, "bin/b": {Data: []byte("monitor")}}
	if err := os.Remove(stampPath); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(src, "bin", dir, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if read(paths[0]) != strings.Repeat("SHIM", 100<<10) {
		t.Error("a new embedded version of the same size was not installed")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestInstallMissing(t *testing.T) {
	for name, fsys := range map[string]fs.FS{
		"absent": fstest.MapFS{"bin/.gitkeep": {}},
		"empty":  fstest.MapFS{"bin/a": {Data: nil}},
	} {
		if _, err := Install(fsys, "bin", t.TempDir(), "a"); !errors.Is(err, ErrMissing) {
			t.Errorf("%s: err %v, want ErrMissing", name, err)
		}
	}
}
