package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// snapshot lists every path under dir with its size, to prove nothing changed.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		out = append(out, fmt.Sprintf("%s %v nlink=%d size=%d", p, fi.Mode(), st.Nlink, fi.Size()))
		return nil
	})
	return out
}

func nlink(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Nlink)
}

func TestExtractRefusesUnsafeEntries(t *testing.T) {
	requireRoot(t)
	passwdLinks := func() uint64 {
		var st unix.Stat_t
		if err := unix.Stat("/etc/passwd", &st); err != nil {
			return 0
		}
		return uint64(st.Nlink)
	}
	before := passwdLinks()
	tests := []struct {
		name    string
		entries func(outside string) []entry
		entry   string // the refused entry named in the error
	}{
		{"dotdot", func(string) []entry {
			return []entry{file("bin/ok", "ok"), file("../outside/pwned", "x")}
		}, "../outside/pwned"},
		{"deep dotdot", func(string) []entry {
			return []entry{file("bin/ok", "ok"), file("bin/../../outside/pwned", "x")}
		}, "bin/../../outside/pwned"},
		{"absolute path", func(outside string) []entry {
			return []entry{file(outside+"/pwned", "x")}
		}, "/pwned"},
		{"write through absolute symlink", func(outside string) []entry {
			return []entry{symlink("evil", outside), file("evil/pwned", "x")}
		}, "evil/pwned"},
		{"write through relative symlink", func(string) []entry {
			return []entry{symlink("evil", "../outside"), file("evil/pwned", "x")}
		}, "evil/pwned"},
		{"mkdir through symlink", func(outside string) []entry {
			return []entry{symlink("evil", outside), dir("evil/sub")}
		}, "evil/sub"},
		{"symlink chain out", func(string) []entry {
			return []entry{symlink("b", "../outside"), symlink("a", "b"), file("a/pwned", "x")}
		}, "a/pwned"},
		{"symlink to symlink in a subdir", func(outside string) []entry {
			return []entry{dir("d"), symlink("d/up", ".."), symlink("d/out", "up/../outside"), file("d/out/pwned", "x")}
		}, "d/out/pwned"},
		{"hardlink to /etc/passwd", func(string) []entry {
			return []entry{hardlink("passwd", "/etc/passwd")}
		}, "passwd"},
		{"hardlink with dotdot", func(string) []entry {
			return []entry{hardlink("target", "../outside/target")}
		}, "target"},
		{"hardlink through symlink", func(outside string) []entry {
			return []entry{symlink("evil", outside), hardlink("target", "evil/target")}
		}, "target"},
		{"whiteout through symlink", func(outside string) []entry {
			return []entry{symlink("evil", outside), file("evil/.wh.target", "")}
		}, "evil/.wh.target"},
		{"char device", func(string) []entry {
			return []entry{dir("dev"), {name: "dev/mem", typ: tar.TypeChar, major: 1}}
		}, "dev/mem"},
		{"block device", func(string) []entry {
			return []entry{{name: "sda", typ: tar.TypeBlock, major: 8}}
		}, "sda"},
		{"fifo", func(string) []entry {
			return []entry{{name: "fifo", typ: tar.TypeFifo}}
		}, "fifo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
			for _, d := range []string{root, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "target"), []byte("sentinel"), 0o644); err != nil {
				t.Fatal(err)
			}
			want := snapshot(t, outside)
			b := tarBytes(t, tt.entries(outside))
			err := extract(context.Background(), bytes.NewReader(b), root, extractOptions{whiteouts: true})
			if !errors.Is(err, ErrUnsafeEntry) {
				t.Fatalf("extract: err = %v, want ErrUnsafeEntry", err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.entry) {
				t.Errorf("error %q does not name the entry %q", err, tt.entry)
			}
			if got := snapshot(t, outside); !slices.Equal(got, want) {
				t.Errorf("outside changed:\n got %v\nwant %v", got, want)
			}
			if _, err := os.Lstat(filepath.Join(outside, "pwned")); err == nil {
				t.Error("sentinel path outside/pwned was written")
			}
			if n := nlink(t, filepath.Join(outside, "target")); n != 1 {
				t.Errorf("outside/target has %d links", n)
			}
			if got := passwdLinks(); got != before {
				t.Errorf("/etc/passwd link count %d, was %d", got, before)
			}
		})
	}
}

// Without the name checks, os.Root alone still keeps writes inside.
func TestExtractRootBlocksWithoutNameChecks(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	os.Mkdir(root, 0o755)
	os.Mkdir(outside, 0o755)
	if err := os.Symlink(outside, filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	x := &extractor{root: r, dirs: map[string]bool{".": true, "evil": true}} // lie: evil is "known" to be a dir
	hdr := &tar.Header{Name: "evil/pwned", Typeflag: tar.TypeReg, Mode: 0o644}
	err = x.file(hdr, "evil/pwned", strings.NewReader(""))
	if !errors.Is(err, ErrUnsafeEntry) {
		t.Errorf("file through symlink: err = %v, want ErrUnsafeEntry", err)
	}
	err = x.hardlink(&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "evil/x"}, "h")
	if err == nil {
		t.Error("hardlink through symlink succeeded")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written outside: %v", ents)
	}
}

// A later entry replaces a symlink planted by an earlier one; it must not
// write through it.
func TestExtractReplacesSymlinkInsteadOfFollowing(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	os.Mkdir(root, 0o755)
	os.Mkdir(outside, 0o755)
	target := filepath.Join(outside, "target")
	os.WriteFile(target, []byte("sentinel"), 0o644)
	b := tarBytes(t, []entry{symlink("f", target), file("f", "replaced"), symlink("l", "f"), hardlink("h", "l")})
	if err := extract(context.Background(), bytes.NewReader(b), root, extractOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "sentinel" {
		t.Errorf("outside target = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "f")); string(got) != "replaced" {
		t.Errorf("f = %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(root, "h")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("h should be a hardlink to the symlink l: %v %v", fi, err)
	}
}

func TestExtractPreservesMetadata(t *testing.T) {
	requireRoot(t)
	t1, t2, t3 := testTime, testTime.Add(time.Hour), testTime.Add(2*time.Hour+500*time.Millisecond)
	b := tarBytes(t, []entry{
		{name: "d/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1001, mtime: t1},
		{name: "d/suid", body: "bin", mode: 0o4755, uid: 1000, gid: 1001, mtime: t2},
		{name: "d/link", typ: tar.TypeSymlink, link: "suid", uid: 1002, gid: 1003, mtime: t3},
		{name: "d/hard", typ: tar.TypeLink, link: "d/suid"},
		{name: "sticky/", typ: tar.TypeDir, mode: 0o1777, mtime: t2},
		{name: "attr", body: "x", xattrs: map[string]string{"user.nodectl": "yes", "trusted.overlay.opaque": "y"}},
		{name: "implicit/parent/file", body: "deep"},
	})
	root := t.TempDir()
	if err := extract(context.Background(), bytes.NewReader(b), root, extractOptions{}); err != nil {
		t.Fatal(err)
	}
	type want struct {
		path     string
		mode     os.FileMode
		uid, gid uint32
		mtime    time.Time
	}
	for _, w := range []want{
		{"d", os.ModeDir | 0o750, 1000, 1001, t1},
		{"d/suid", os.ModeSetuid | 0o755, 1000, 1001, t2},
		{"d/link", os.ModeSymlink | 0o777, 1002, 1003, t3},
		{"sticky", os.ModeDir | os.ModeSticky | 0o777, 0, 0, t2},
	} {
		fi, err := os.Lstat(filepath.Join(root, w.path))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != w.mode || st.Uid != w.uid || st.Gid != w.gid || !fi.ModTime().Equal(w.mtime) {
			t.Errorf("%s: mode %v uid %d gid %d mtime %v; want %v %d %d %v", w.path, fi.Mode(), st.Uid, st.Gid, fi.ModTime(), w.mode, w.uid, w.gid, w.mtime)
		}
	}
	if n := nlink(t, filepath.Join(root, "d/hard")); n != 2 {
		t.Errorf("d/hard: %d links, want 2 (hardlink to d/suid)", n)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "implicit/parent/file")); string(got) != "deep" {
		t.Errorf("implicit/parent/file = %q", got)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(root, "attr"), "user.nodectl", buf); err != nil && !errors.Is(err, unix.ENOTSUP) {
		t.Errorf("user xattr: %v", err)
	} else if err == nil && string(buf[:n]) != "yes" {
		t.Errorf("user xattr = %q", buf[:n])
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "attr"), opaqueXattr, buf); err == nil {
		t.Error("archive set trusted.overlay.opaque: archives must not forge overlay metadata")
	}
}

func TestExtractWhiteouts(t *testing.T) {
	requireRoot(t)
	entries := []entry{dir("etc"), file("etc/.wh.gone", ""), dir("opq"), file("opq/.wh..wh..opq", ""), file("opq/new", "n"),
		file(".wh..wh.plnk", "")}
	tests := []struct {
		name      string
		whiteouts bool
	}{{"overlay form", true}, {"plain files", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := extract(context.Background(), bytes.NewReader(tarBytes(t, entries)), root, extractOptions{whiteouts: tt.whiteouts}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(filepath.Join(root, "etc/gone"))
			if tt.whiteouts {
				if err != nil {
					t.Fatalf("whiteout not created: %v", err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if fi.Mode()&os.ModeCharDevice == 0 || st.Rdev != 0 {
					t.Errorf("etc/gone: mode %v rdev %d, want char device 0:0", fi.Mode(), st.Rdev)
				}
				if !opaque(filepath.Join(root, "opq")) {
					t.Error("opq is not marked opaque")
				}
				for _, p := range []string{"etc/.wh.gone", "opq/.wh..wh..opq", ".wh..wh.plnk"} {
					if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
						t.Errorf("%s written as a file", p)
					}
				}
			} else {
				if err == nil {
					t.Error("whiteout created in plain mode")
				}
				if _, err := os.Lstat(filepath.Join(root, "etc/.wh.gone")); err != nil {
					t.Errorf("plain mode: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "opq/new")); err != nil {
				t.Error(err)
			}
		})
	}
}
