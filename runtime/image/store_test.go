package image

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{}},
		{"bad mode", Config{Dir: t.TempDir(), RootfsMode: 7}},
		{"bad insecure registry", Config{Dir: t.TempDir(), InsecureRegistries: []string{"host/path"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New: err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestImportRoundTripsName(t *testing.T) {
	requireRoot(t)
	s := newStore(t, RootfsCopy)
	ctx := testCtx(t)
	tgz := writeTar(t, filepath.Join(t.TempDir(), "bb.tgz"), busyboxRootfs(t), true)
	img, err := s.Import(ctx, tgz, "bar/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	if img.Ref != "bar/busybox:1" || img.Name != "index.docker.io/bar/busybox:1" || len(img.Layers) != 1 {
		t.Errorf("imported %+v", img)
	}
	if len(img.Config.Env) == 0 || !strings.HasPrefix(img.Config.Env[0], "PATH=") {
		t.Errorf("imported config env = %v, want PATH", img.Config.Env)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Ref != "bar/busybox:1" || list[0].Digest != img.Digest || list[0].Size <= 0 {
		t.Fatalf("List = %+v", list)
	}
	for _, ref := range []string{"bar/busybox:1", "docker.io/bar/busybox:1", "index.docker.io/bar/busybox:1",
		img.Digest.String(), img.Digest.Hex[:12]} {
		got, err := s.Get(ctx, ref)
		if err != nil || got.Digest != img.Digest {
			t.Errorf("Get(%q) = %v, %v", ref, got.Digest, err)
		}
	}
	for _, ref := range []string{"bar/busybox:2", "busybox", "abc"} {
		if _, err := s.Get(ctx, ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): err = %v, want ErrNotFound", ref, err)
		}
	}
	bb := filepath.Join(s.layerPath(img.Layers[0]), "bin/busybox")
	if fi, err := os.Stat(bb); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("unpacked bin/busybox: %v %v", fi, err)
	}
	if _, err := s.Import(ctx, tgz, "bar/busybox@sha256:"+img.Digest.Hex); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("import as a digest: err = %v, want ErrInvalidReference", err)
	}

	// The same rootfs under a short name: same blobs, one more name.
	again, err := s.Import(ctx, tgz, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if again.Ref != "busybox" || again.Name != "index.docker.io/library/busybox:latest" {
		t.Errorf("short name: %+v", again)
	}
	if got, err := s.Get(ctx, "docker.io/library/busybox:latest"); err != nil || got.Ref != "busybox" {
		t.Errorf("Get canonical: %+v %v", got, err)
	}
}

// The acceptance check's archive: bin/ok and ../../../../tmp/<unique>.
func TestImportRefusesEscapingArchive(t *testing.T) {
	requireRoot(t)
	unique := fmt.Sprintf("nodectl-escape-%d-%d", os.Getpid(), time.Now().UnixNano())
	sentinel := filepath.Join("/tmp", unique)
	t.Cleanup(func() { os.RemoveAll(sentinel) })
	tests := []struct {
		name    string
		entries []entry
	}{
		{"dotdot", []entry{file("bin/ok", "ok"), file("../../../../tmp/"+unique, "pwned")}},
		{"absolute", []entry{file("bin/ok", "ok"), file(sentinel, "pwned")}},
		{"symlink to /tmp", []entry{symlink("evil", "/tmp"), file("evil/"+unique, "pwned")}},
		{"hardlink to /etc/passwd", []entry{file("bin/ok", "ok"), hardlink("passwd", "/etc/passwd")}},
		{"char device", []entry{file("bin/ok", "ok"), {name: "null", typ: '3', major: 1, body: ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, RootfsCopy)
			ctx := testCtx(t)
			for _, gz := range []bool{false, true} {
				tarPath := writeTar(t, filepath.Join(t.TempDir(), "evil.tar"), tt.entries, gz)
				_, err := s.Import(ctx, tarPath, "bar/evil:1")
				if !errors.Is(err, ErrUnsafeEntry) {
					t.Fatalf("Import (gzip %v): err = %v, want ErrUnsafeEntry", gz, err)
				}
				if _, err := os.Lstat(sentinel); err == nil {
					t.Fatalf("%s exists: the archive escaped", sentinel)
				}
			}
			if list, _ := s.List(ctx); len(list) != 0 {
				t.Errorf("refused import is listed: %+v", list)
			}
			if n := countFiles(t, s.layerDir()); n != 0 {
				t.Errorf("%d layers unpacked", n)
			}
			if n := countFiles(t, s.tmpDir()); n != 0 {
				t.Errorf("%d leftovers in tmp", n)
			}
		})
	}
}

func TestRemoveAndGC(t *testing.T) {
	requireRoot(t)
	s := newStore(t, RootfsCopy)
	ctx := testCtx(t)
	dir := t.TempDir()
	a := writeTar(t, filepath.Join(dir, "a.tar"), []entry{file("a", "a")}, false)
	b := writeTar(t, filepath.Join(dir, "b.tar"), []entry{file("b", "b")}, false)
	imgA, err := s.Import(ctx, a, "a:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, a, "a:2"); err != nil { // a second name, same blobs
		t.Fatal(err)
	}
	imgB, err := s.Import(ctx, b, "b:1")
	if err != nil {
		t.Fatal(err)
	}
	blobs := countFiles(t, s.blobDir())

	if _, err := s.Remove(ctx, "nope:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove missing: err = %v", err)
	}
	if _, err := s.Remove(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	st, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blobs != 0 || st.Layers != 0 {
		t.Errorf("GC with a:2 still named removed %+v", st)
	}
	removed, err := s.Remove(ctx, imgA.Digest.Hex[:12]) // by digest: every name of it
	if err != nil || len(removed) != 1 || removed[0].Ref != "a:2" {
		t.Fatalf("Remove by digest = %+v, %v", removed, err)
	}
	st, err = s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Layers != 1 || st.Blobs < 2 || st.BytesFreed <= 0 {
		t.Errorf("GC = %+v, want 1 layer and a's blobs", st)
	}
	if _, err := os.Stat(s.layerPath(imgA.Layers[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a's layer still there: %v", err)
	}
	if _, err := os.Stat(s.layerPath(imgB.Layers[0])); err != nil {
		t.Errorf("b's layer gone: %v", err)
	}
	if got := countFiles(t, s.blobDir()); got != blobs-st.Blobs {
		t.Errorf("%d blobs, want %d", got, blobs-st.Blobs)
	}
	if _, err := s.Get(ctx, "b:1"); err != nil {
		t.Errorf("b:1 after GC: %v", err)
	}
	if st, err := s.GC(ctx); err != nil || st != (GCStats{}) {
		t.Errorf("second GC = %+v, %v", st, err)
	}
}

// Many goroutines import, list and collect at once; every import that
// returned survives, with all its blobs and its layer.
func TestConcurrentImportsAndGC(t *testing.T) {
	requireRoot(t)
	s := newStore(t, RootfsCopy)
	ctx := testCtx(t)
	dir := t.TempDir()
	shared := writeTar(t, filepath.Join(dir, "shared.tar"), busyboxRootfs(t), false)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	const n = 6
	for i := range n {
		wg.Go(func() {
			own := writeTar(t, filepath.Join(dir, fmt.Sprintf("own%d.tar", i)), []entry{file(fmt.Sprintf("f%d", i), "x")}, i%2 == 0)
			for _, src := range []struct{ tar, ref string }{{shared, fmt.Sprintf("shared:%d", i)}, {own, fmt.Sprintf("own:%d", i)}} {
				if _, err := s.Import(ctx, src.tar, src.ref); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := s.GC(ctx); err != nil {
				errs <- err
			}
			if _, err := s.List(ctx); err != nil {
				errs <- err
			}
		}
	})
	// A second store on the same directory stands in for another process's view.
	other := newStoreAt(t, s.Dir(), RootfsCopy)
	wg.Go(func() {
		for range 5 {
			if _, err := other.GC(ctx); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2*n {
		t.Fatalf("%d images listed, want %d", len(list), 2*n)
	}
	for _, img := range list {
		if _, err := s.Unpack(ctx, img.Ref); err != nil {
			t.Errorf("%s: %v", img.Ref, err)
		}
		if _, err := os.Stat(s.layerPath(img.Layers[0])); err != nil {
			t.Errorf("%s: layer missing after GC: %v", img.Ref, err)
		}
	}
	// n own layers + 1 shared layer, each stored and unpacked once; plus a
	// manifest and a config per distinct image (imports made in different
	// seconds differ in their config's creation time).
	if got := countFiles(t, s.layerDir()); got != n+1 {
		t.Errorf("%d unpacked layers, want %d", got, n+1)
	}
	distinct := map[string]bool{}
	for _, img := range list {
		distinct[img.Digest.Hex] = true
		distinct[img.ConfigDigest.Hex] = true
	}
	if got, want := countFiles(t, s.blobDir()), len(distinct)+n+1; got != want {
		t.Errorf("%d blobs, want %d", got, want)
	}
}

// TestHelperHoldLock is not a test: TestLockAcrossProcesses runs the test
// binary as a helper process that holds the store lock.
func TestHelperHoldLock(t *testing.T) {
	dir := os.Getenv("NODECTL_IMAGE_HOLD_LOCK")
	if dir == "" {
		t.Skip("helper process only")
	}
	s, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	lk, err := s.lockExclusive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	lk.unlock()
}

func TestLockAcrossProcesses(t *testing.T) {
	s := newStore(t, RootfsCopy)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NODECTL_IMAGE_HOLD_LOCK="+s.Dir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.List(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("List while another process holds the lock: err = %v, want deadline exceeded", err)
	}
	stdin.Close() // helper unlocks and exits
	if _, err := s.List(testCtx(t)); err != nil {
		t.Fatalf("List after the helper let go: %v", err)
	}
}

// An imported image's digest is a function of the tarball alone: importing
// it twice, into two stores and under two names, gzipped or not, gives one
// digest, and its creation time is the newest entry's, not the clock's.
func TestImportDigestIsContent(t *testing.T) {
	requireRoot(t)
	ctx := testCtx(t)
	tmp := t.TempDir()
	newest := testTime.Add(90 * time.Minute)
	entries := []entry{dir("etc"), file("etc/hostname", "x\n"), {name: "etc/motd", body: "hi\n", mtime: newest.Add(300 * time.Millisecond)}}
	plain := writeTar(t, filepath.Join(tmp, "rootfs.tar"), entries, false)
	var digests []string
	for i, s := range []*Store{newStore(t, RootfsCopy), newStore(t, RootfsCopy)} {
		img, err := s.Import(ctx, plain, fmt.Sprintf("r:%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !img.Created.Equal(newest) {
			t.Errorf("import %d: created %v, want the newest entry's time %v", i, img.Created, newest)
		}
		digests = append(digests, img.Digest.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("one tarball imported twice: digests %s and %s", digests[0], digests[1])
	}
	gz := writeTar(t, filepath.Join(tmp, "rootfs.tar.gz"), entries, true)
	got, err := contentTime(gz)
	if err != nil || !got.Equal(newest) {
		t.Errorf("contentTime(gzipped) = %v, %v; want %v", got, err, newest)
	}
	empty := writeTar(t, filepath.Join(tmp, "empty.tar"), nil, false)
	if got, err := contentTime(empty); err != nil || !got.Equal(time.Unix(0, 0)) {
		t.Errorf("contentTime(empty) = %v, %v; want the epoch", got, err)
	}
}
