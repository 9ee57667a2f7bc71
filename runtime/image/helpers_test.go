package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// entry is one archive member for a test tarball.
type entry struct {
	name   string
	typ    byte // tar.TypeReg when zero
	body   string
	link   string
	mode   int64
	uid    int
	gid    int
	mtime  time.Time
	major  int64
	xattrs map[string]string
}

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func file(name, body string) entry   { return entry{name: name, body: body} }
func dir(name string) entry          { return entry{name: name, typ: tar.TypeDir} }
func symlink(name, to string) entry  { return entry{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) entry { return entry{name: name, typ: tar.TypeLink, link: to} }

// tarBytes builds an uncompressed tar of entries.
func tarBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			ModTime: e.mtime, Devmajor: e.major, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.ModTime.IsZero() {
			h.ModTime = testTime
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeTar writes entries as a tarball at path, gzipped if gz.
func writeTar(t testing.TB, path string, entries []entry, gz bool) string {
	t.Helper()
	b := tarBytes(t, entries)
	if gz {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(b)
		zw.Close()
		b = zb.Bytes()
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// layer makes an image layer of entries.
func layer(t testing.TB, entries []entry) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf makes a linux image of layers (bottom first) with cfg.
func imageOf(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS: "linux", Architecture: goruntime.GOARCH, Created: v1.Time{Time: testTime}, Config: cfg,
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// busyboxRootfs is a small rootfs: Debian's static busybox with applet
// links when /bin/busybox exists (busybox-static), else plain files.
func busyboxRootfs(t testing.TB) []entry {
	t.Helper()
	es := []entry{dir("./"), dir("bin"), dir("etc"), dir("tmp"), dir("proc"), dir("dev"),
		file("etc/hostname", "nodectl\n")}
	es[3].mode = 0o1777 // tmp
	if bb, err := os.ReadFile("/bin/busybox"); err == nil {
		es = append(es, entry{name: "bin/busybox", body: string(bb), mode: 0o755})
		for _, a := range []string{"sh", "echo", "cat", "ls", "true"} {
			es = append(es, symlink("bin/"+a, "busybox"))
		}
		return es
	}
	return append(es, entry{name: "bin/busybox", body: "#!/bin/false\n", mode: 0o755})
}

func haveBusybox() bool {
	_, err := os.Stat("/bin/busybox")
	return err == nil
}

// newStore opens a store in a fresh temp directory.
func newStore(t testing.TB, mode RootfsMode) *Store {
	t.Helper()
	return newStoreAt(t, filepath.Join(t.TempDir(), "images"), mode)
}

func newStoreAt(t testing.TB, dir string, mode RootfsMode, insecure ...string) *Store {
	t.Helper()
	s, err := New(Config{Dir: dir, RootfsMode: mode, InsecureRegistries: insecure, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// countFiles counts the entries of a directory.
func countFiles(t testing.TB, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// requireRoot skips tests that need root (ownership, mknod, mounts).
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}
