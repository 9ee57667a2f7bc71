package runtime

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// An image's /tmp becomes 1777 (created when missing); a /tmp symlink is
// left alone and nothing outside the rootfs changes through it.
func TestWritableTmp(t *testing.T) {
	check := func(rootfs string) {
		t.Helper()
		if err := writableTmp(rootfs); err != nil {
			t.Fatal(err)
		}
		st, err := os.Lstat(filepath.Join(rootfs, "tmp"))
		if err != nil || st.Mode()&(fs.ModePerm|fs.ModeSticky) != fs.ModeSticky|0o777 || !st.IsDir() {
			t.Errorf("%s/tmp: %v %v, want a 1777 directory", rootfs, st.Mode(), err)
		}
	}
	closed := t.TempDir()
	if err := os.Mkdir(filepath.Join(closed, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	check(closed)
	check(t.TempDir()) // no /tmp at all

	outside := t.TempDir()
	if err := os.Chmod(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	linked := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(linked, "tmp")); err != nil {
		t.Fatal(err)
	}
	if err := writableTmp(linked); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(outside); st.Mode().Perm() != 0o700 {
		t.Errorf("a /tmp symlink changed its target: %v", st.Mode())
	}
}
