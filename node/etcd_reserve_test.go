package node

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// On a filesystem with room the reserve is made at once, a stale one
// replaced, etcd's database padded (its holes too), and release removes
// the reserve.
func TestSpaceReserve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "etcd.reserve")
	if err := os.WriteFile(path, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	// etcd's database as bbolt leaves it after growing: 1 MiB of holes.
	db := filepath.Join(dir, "etcd", "member", "snap", "db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(db, 1<<20); err != nil {
		t.Fatal(err)
	}
	r, err := newSpaceReserve(dir, filepath.Join(dir, "etcd"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(db, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 1<<20 || uint64(st.Blocks)*512 < 1<<20+r.size {
		t.Fatalf("database not padded: size %d, %d bytes allocated, want %d", st.Size, st.Blocks*512, 1<<20+r.size)
	}
	if r.size == 0 || r.size > reserveMaxBytes || r.keep() != 2*r.size {
		t.Fatalf("size %d keep %d", r.size, r.keep())
	}
	fi, err := os.Stat(path)
	if err != nil || !r.held || uint64(fi.Size()) != r.size {
		t.Fatalf("reserve not made: held %v, %v %v", r.held, fi, err)
	}
	if err := r.release(); err != nil || r.held {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("reserve still there: %v", err)
	}
	var none *spaceReserve
	if none.keep() != 0 {
		t.Fatal("keep of no reserve")
	}
}
