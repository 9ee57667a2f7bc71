package hostroot

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestEnsureMirrorsTheListing(t *testing.T) {
	entries := []Entry{{Name: "usr", Kind: Dir}, {Name: "bin", Kind: Symlink, Target: "usr/bin"}, {Name: ".env", Kind: File}, {Name: "proc", Kind: Dir}}
	parent := t.TempDir()
	dir, err := Ensure(parent, entries)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != parent || filepath.Base(dir) != Name(entries) {
		t.Errorf("skeleton at %s, want %s/%s", dir, parent, Name(entries))
	}
	if target, err := os.Readlink(filepath.Join(dir, "bin")); err != nil || target != "usr/bin" {
		t.Errorf("bin -> %q (%v)", target, err)
	}
	if st, err := os.Stat(filepath.Join(dir, ".env")); err != nil || !st.Mode().IsRegular() || st.Size() != 0 {
		t.Errorf(".env: %v %v", st, err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if want := []string{".env", "bin", "proc", "usr"}; !slices.Equal(names, want) {
		t.Errorf("Read = %v, want %v", names, want)
	}

	// Made once: a second Ensure finds it, whatever is inside.
	if err := os.WriteFile(filepath.Join(dir, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := Ensure(parent, entries)
	if err != nil || again != dir {
		t.Fatalf("second Ensure = %s, %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "marker")); err != nil {
		t.Error("second Ensure remade the skeleton")
	}

	// Another listing, another skeleton; the sweep keeps what is in use.
	other := append(slices.Clone(entries), Entry{Name: "srv", Kind: Dir})
	if Name(other) == Name(entries) {
		t.Fatal("a changed listing kept its name")
	}
	dir2, err := Ensure(parent, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(parent, ".tmp-123"), 0o755); err != nil {
		t.Fatal(err)
	}
	removed, err := Sweep(parent, []string{dir2})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{filepath.Join(parent, ".tmp-123"), dir}; !slices.Equal(removed, want) {
		t.Errorf("Sweep removed %v, want %v", removed, want)
	}
	if _, err := os.Stat(dir2); err != nil {
		t.Errorf("the skeleton in use is gone: %v", err)
	}
}

func TestListReadsTheHost(t *testing.T) {
	entries, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e Entry) bool { return e.Name == "proc" && e.Kind == Dir }) {
		t.Errorf("List() = %v, no /proc directory", entries)
	}
}
