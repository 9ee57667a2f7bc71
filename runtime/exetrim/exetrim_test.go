package exetrim

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fileRSS is the process's resident file-backed memory in KiB: Pss_File
// of /proc/self/smaps_rollup (the test binary's pages are not shared with
// another process, so its PSS is its RSS).
func fileRSS(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no smaps_rollup: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss_File:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no Pss_File in smaps_rollup")
	return 0
}

// Release drops the executable's pages from the resident set, and the
// process goes on running the code and reading the data it dropped.
func TestRelease(t *testing.T) {
	before := fileRSS(t)
	released, err := Release(false)
	if err != nil {
		t.Fatal(err)
	}
	after := fileRSS(t)
	t.Logf("file-backed resident %d KiB -> %d KiB (%d KiB of address space released)", before, after, released>>10)
	if released == 0 || after >= before {
		t.Fatalf("released %d bytes; file-backed resident %d -> %d KiB, want it smaller", released, before, after)
	}
	// The pages come back on use: this test runs on, and releases again
	// with fault-around off (the monitor's way).
	if _, err := Release(true); err != nil {
		t.Fatal(err)
	}
}

// A mapping with relocated (private, modified) pages is kept: in the node's
// test binaries (cgo, race detector) the race runtime is reached through
// such pages, and dropping them crashed every one of them at exit (SIGSEGV
// at PC 0 in racefini) once the node released its pages after start-up.
func TestCleanMappingsSkipsModified(t *testing.T) {
	const smaps = `00400000-00500000 r-xp 00000000 fe:00 12 /bin/x
Rss:                 100 kB
Anonymous:             0 kB
00500000-00600000 r--p 00100000 fe:00 12 /bin/x
Anonymous:             8 kB
00600000-00700000 r--p 00200000 fe:00 12 /bin/x
Anonymous:             0 kB
00700000-00800000 rw-p 00300000 fe:00 12 /bin/x
Anonymous:             0 kB
00800000-00900000 r--p 00000000 fe:00 13 /lib/y
Anonymous:             0 kB
`
	got := cleanMappings(smaps, "/bin/x")
	want := []span{{0x400000, 0x500000}, {0x600000, 0x700000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("clean mappings %x, want %x", got, want)
	}
}

// PageOut takes a read-only file mapping's pages out of the resident set;
// the mapping still reads the file's bytes afterwards. The file is named
// through a link, and its real path holds a space.
func TestPageOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "db")
	data := bytes.Repeat([]byte("nodectl "), 1<<20) // 8 MiB
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	sum := 0
	for i := 0; i < len(m); i += 4096 {
		sum += int(m[i]) // every page resident
	}
	before := fileRSS(t)
	advised, err := PageOut(link)
	if err != nil {
		t.Fatal(err)
	}
	after := fileRSS(t)
	t.Logf("file-backed resident %d KiB -> %d KiB (%d KiB advised)", before, after, advised>>10)
	if advised != uint64(len(data)) || before-after < 4096 {
		t.Fatalf("advised %d bytes of %d; file-backed resident %d -> %d KiB, want at least 4 MiB less", advised, len(data), before, after)
	}
	if !bytes.Equal(m, data) || sum == 0 {
		t.Fatal("the mapping reads other bytes after PageOut")
	}
}
