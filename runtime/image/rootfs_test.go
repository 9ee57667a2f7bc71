package image

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// modes are the rootfs modes to test; overlay only where this kernel and
// filesystem can mount it.
func modes(t *testing.T) []RootfsMode {
	t.Helper()
	requireRoot(t)
	out := []RootfsMode{RootfsCopy}
	if err := probeOverlay(t.TempDir()); err != nil {
		t.Logf("overlayfs not usable here, copy mode only: %v", err)
		return out
	}
	return append(out, RootfsOverlay)
}

// storeImageAs stores img in s under ref, as Load would.
func storeImageAs(t *testing.T, s *Store, img v1.Image, ref string) Image {
	t.Helper()
	out, err := s.add(testCtx(t), img, []string{ref}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// whiteoutImage: the upper layer deletes etc/gone, makes opq opaque and
// replaces the lower symlink "link" with a directory.
func whiteoutImage(t *testing.T) v1.Image {
	lower := append(busyboxRootfs(t),
		file("etc/keep", "keep"), file("etc/gone", "gone"), dir("etc/gonedir"), file("etc/gonedir/f", "f"),
		dir("opq"), file("opq/old", "old"), dir("opq/sub"), file("opq/sub/old2", "old"),
		file("data/shared", "lower"), hardlink("data/shared-link", "data/shared"),
		symlink("link", "/etc"))
	upper := []entry{
		dir("etc"), file("etc/.wh.gone", ""), file("etc/.wh.gonedir", ""),
		dir("opq"), file("opq/.wh..wh..opq", ""), file("opq/new", "new"),
		dir("link"), file("link/inside", "inside"),
	}
	return imageOf(t, v1.Config{Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi"}, Env: []string{"A=1"}, WorkingDir: "/tmp", User: "0:0"},
		layer(t, lower), layer(t, upper))
}

func TestPrepareRootfsWhiteouts(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode.String(), func(t *testing.T) {
			s := newStore(t, mode)
			ctx := testCtx(t)
			img := storeImageAs(t, s, whiteoutImage(t), "example.com/wh:1")
			cdir := filepath.Join(t.TempDir(), "c1")
			rootfs, cfg, err := s.PrepareRootfs(ctx, "example.com/wh:1", cdir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.ReleaseRootfs(cdir) })
			if rootfs != filepath.Join(cdir, "rootfs") {
				t.Errorf("rootfs = %s", rootfs)
			}
			want := ImageConfig{Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi"}, Env: []string{"A=1"}, WorkingDir: "/tmp", User: "0:0"}
			if fmt.Sprint(cfg) != fmt.Sprint(want) {
				t.Errorf("config = %+v, want %+v", cfg, want)
			}
			if got := isOverlayMount(rootfs); got != (mode == RootfsOverlay) {
				t.Errorf("overlay mounted = %v in %v mode", got, mode)
			}
			for _, p := range []string{"etc/gone", "etc/gonedir", "opq/old", "opq/sub"} {
				if _, err := os.Lstat(filepath.Join(rootfs, p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: %v, want deleted by the upper layer", p, err)
				}
			}
			if got := names(t, filepath.Join(rootfs, "opq")); !slices.Equal(got, []string{"new"}) {
				t.Errorf("opaque dir holds %v, want [new]", got)
			}
			if b, err := os.ReadFile(filepath.Join(rootfs, "etc/keep")); err != nil || string(b) != "keep" {
				t.Errorf("etc/keep = %q, %v", b, err)
			}
			if fi, err := os.Lstat(filepath.Join(rootfs, "link")); err != nil || !fi.IsDir() {
				t.Errorf("link should be the upper layer's directory: %v %v", fi, err)
			}
			if _, err := os.Stat("/etc/inside"); err == nil {
				t.Error("/etc/inside exists on the host")
			}
			var a, b syscall.Stat_t
			syscall.Stat(filepath.Join(rootfs, "data/shared"), &a)
			syscall.Stat(filepath.Join(rootfs, "data/shared-link"), &b)
			if a.Ino != b.Ino || a.Nlink != 2 {
				t.Errorf("hardlink not preserved: ino %d/%d nlink %d", a.Ino, b.Ino, a.Nlink)
			}

			// Writes go to this container only, never into the shared layers.
			if err := os.WriteFile(filepath.Join(rootfs, "etc/keep"), []byte("changed"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(rootfs, "etc/hostname")); err != nil {
				t.Fatal(err)
			}
			lower := s.layerPath(img.Layers[0])
			if b, _ := os.ReadFile(filepath.Join(lower, "etc/keep")); string(b) != "keep" {
				t.Errorf("shared layer changed: etc/keep = %q", b)
			}
			if _, err := os.Stat(filepath.Join(lower, "etc/hostname")); err != nil {
				t.Errorf("shared layer changed: %v", err)
			}
			// A second container sees the image as it was.
			cdir2 := filepath.Join(t.TempDir(), "c2")
			rootfs2, _, err := s.PrepareRootfs(ctx, img.Digest.String(), cdir2)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(rootfs2, "etc/keep")); string(b) != "keep" {
				t.Errorf("second container sees etc/keep = %q", b)
			}
			if haveBusybox() {
				out, err := chrootRun(rootfs2, "/bin/busybox", "cat", "/etc/hostname")
				if err != nil || out != "nodectl\n" {
					t.Errorf("busybox in the rootfs: %q, %v", out, err)
				}
			}
			if err := s.ReleaseRootfs(cdir2); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(rootfs2); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("rootfs after release: %v", err)
			}
			if err := s.ReleaseRootfs(cdir2); err != nil {
				t.Errorf("second release: %v", err)
			}
		})
	}
}

func chrootRun(root string, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/bin"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A lower layer's symlink pointing outside must not carry an upper layer's
// files out of the rootfs, in either mode.
func TestPrepareRootfsLowerSymlinkDoesNotEscape(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode.String(), func(t *testing.T) {
			outside := t.TempDir()
			s := newStore(t, mode)
			img := imageOf(t, v1.Config{},
				layer(t, []entry{symlink("a", outside), symlink("b", "../../../../"+outside)}),
				layer(t, []entry{dir("a"), file("a/x", "x"), dir("b"), file("b/y", "y")}))
			storeImageAs(t, s, img, "sym:1")
			cdir := t.TempDir()
			rootfs, _, err := s.PrepareRootfs(testCtx(t), "sym:1", cdir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.ReleaseRootfs(cdir) })
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("written outside the rootfs: %v", ents)
			}
			for _, p := range []string{"a/x", "b/y"} {
				if _, err := os.Lstat(filepath.Join(rootfs, p)); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
		})
	}
}

func TestLeasesKeepLayersThroughGC(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode.String(), func(t *testing.T) {
			s := newStore(t, mode)
			ctx := testCtx(t)
			img := storeImageAs(t, s, whiteoutImage(t), "lease:1")
			cdir := filepath.Join(t.TempDir(), "c")
			rootfs, _, err := s.PrepareRootfs(ctx, "lease:1", cdir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.ReleaseRootfs(cdir) })
			leases, err := s.Leases()
			if err != nil || len(leases) != 1 || leases[0].ContainerDir != cdir || leases[0].Image != img.Digest || leases[0].Mode != mode.String() {
				t.Fatalf("Leases = %+v, %v", leases, err)
			}
			// Idempotent for the same image (agent restart), busy for another.
			if again, _, err := s.PrepareRootfs(ctx, "lease:1", cdir); err != nil || again != rootfs {
				t.Errorf("second prepare = %s, %v", again, err)
			}
			storeImageAs(t, s, imageOf(t, v1.Config{}, layer(t, []entry{file("other", "")})), "other:1")
			if _, _, err := s.PrepareRootfs(ctx, "other:1", cdir); !errors.Is(err, ErrBusy) {
				t.Errorf("prepare another image in a busy dir: err = %v, want ErrBusy", err)
			}

			if _, err := s.Remove(ctx, "lease:1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GC(ctx); err != nil {
				t.Fatal(err)
			}
			for _, l := range img.Layers {
				if _, err := os.Stat(s.layerPath(l)); err != nil {
					t.Errorf("leased layer collected: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(rootfs, "etc/keep")); err != nil {
				t.Errorf("rootfs broken after GC: %v", err)
			}
			if err := s.ReleaseRootfs(cdir); err != nil {
				t.Fatal(err)
			}
			st, err := s.GC(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Layers != 2 || st.Blobs != 4 {
				t.Errorf("GC after release = %+v, want 2 layers and 4 blobs", st)
			}
		})
	}
}

func TestGCDropsStaleLeases(t *testing.T) {
	requireRoot(t)
	s := newStore(t, RootfsCopy)
	ctx := testCtx(t)
	storeImageAs(t, s, imageOf(t, v1.Config{}, layer(t, []entry{file("f", "")})), "stale:1")
	cdir := filepath.Join(t.TempDir(), "c")
	if _, _, err := s.PrepareRootfs(ctx, "stale:1", cdir); err != nil {
		t.Fatal(err)
	}
	s.Remove(ctx, "stale:1")
	if err := os.RemoveAll(cdir); err != nil { // the runtime lost the container without releasing it
		t.Fatal(err)
	}
	st, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leases != 1 || st.Layers != 1 {
		t.Errorf("GC = %+v, want the stale lease and its layer gone", st)
	}
}

// More layers than fit in mount(2)'s one-page option string: the store
// switches to the new mount API (lowerdir+).
func TestOverlayManyLayers(t *testing.T) {
	if !slices.Contains(modes(t), RootfsOverlay) {
		t.Skip("overlayfs not usable here")
	}
	const n = 60
	var layers []v1.Layer
	for i := range n {
		layers = append(layers, layer(t, []entry{file(fmt.Sprintf("l%02d", i), fmt.Sprint(i)), file("top", fmt.Sprint(i))}))
	}
	s := newStore(t, RootfsOverlay)
	img := storeImageAs(t, s, imageOf(t, v1.Config{}, layers...), "many:1")
	optLen := 0
	for _, l := range img.Layers {
		optLen += len(s.layerPath(l)) + 1
	}
	if optLen <= maxMountData {
		t.Fatalf("lowerdir option is %d bytes: too short to exercise the new mount API", optLen)
	}
	cdir := t.TempDir()
	rootfs, _, err := s.PrepareRootfs(testCtx(t), "many:1", cdir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ReleaseRootfs(cdir) })
	if got := len(names(t, rootfs)); got != n+1 {
		t.Errorf("%d entries in rootfs, want %d", got, n+1)
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "top")); string(b) != fmt.Sprint(n-1) {
		t.Errorf("top = %q, want the topmost layer's %d", b, n-1)
	}
}

func TestPrepareRootfsImageWithoutLayers(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode.String(), func(t *testing.T) {
			s := newStore(t, mode)
			storeImageAs(t, s, imageOf(t, v1.Config{Cmd: []string{"x"}}), "nolayers:1")
			cdir := t.TempDir()
			rootfs, cfg, err := s.PrepareRootfs(testCtx(t), "nolayers:1", cdir)
			if err != nil {
				t.Fatal(err)
			}
			if len(names(t, rootfs)) != 0 || !slices.Equal(cfg.Cmd, []string{"x"}) {
				t.Errorf("rootfs %v, cfg %+v", names(t, rootfs), cfg)
			}
			if err := s.ReleaseRootfs(cdir); err != nil {
				t.Fatal(err)
			}
			if got := names(t, cdir); len(got) != 0 {
				t.Errorf("left in container dir: %v", got)
			}
		})
	}
}

func TestReleaseRefusesWhileMountedBeneath(t *testing.T) {
	requireRoot(t)
	s := newStore(t, RootfsCopy)
	storeImageAs(t, s, imageOf(t, v1.Config{}, layer(t, []entry{dir("proc")})), "m:1")
	cdir := t.TempDir()
	rootfs, _, err := s.PrepareRootfs(testCtx(t), "m:1", cdir)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "precious"), []byte("x"), 0o644)
	if err := syscall.Mount(src, filepath.Join(rootfs, "proc"), "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	err = s.ReleaseRootfs(cdir)
	syscall.Unmount(filepath.Join(rootfs, "proc"), 0)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "proc") {
		t.Errorf("release with a bind mount beneath: err = %v, want ErrBusy", err)
	}
	if _, err := os.Stat(filepath.Join(src, "precious")); err != nil {
		t.Errorf("release deleted through a mount: %v", err)
	}
	if err := s.ReleaseRootfs(cdir); err != nil {
		t.Fatal(err)
	}
}

// After a reboot the overlay mount is gone but the container's upper layer
// is not: preparing again mounts it over the same changes.
func TestPrepareRootfsRemountsAfterReboot(t *testing.T) {
	if !slices.Contains(modes(t), RootfsOverlay) {
		t.Skip("overlayfs not usable here")
	}
	s := newStore(t, RootfsOverlay)
	ctx := testCtx(t)
	storeImageAs(t, s, imageOf(t, v1.Config{}, layer(t, []entry{file("f", "image")})), "re:1")
	cdir := t.TempDir()
	rootfs, _, err := s.PrepareRootfs(ctx, "re:1", cdir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ReleaseRootfs(cdir) })
	if err := os.WriteFile(filepath.Join(rootfs, "f"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unmount(rootfs); err != nil { // the reboot
		t.Fatal(err)
	}
	again, _, err := s.PrepareRootfs(ctx, "re:1", cdir)
	if err != nil || again != rootfs || !isOverlayMount(rootfs) {
		t.Fatalf("prepare after reboot = %s, %v (mounted %v)", again, err, isOverlayMount(rootfs))
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "f")); string(b) != "changed" {
		t.Errorf("f = %q, want the container's change kept", b)
	}
}

// MoveRootfs gives a prepared rootfs (a warm container's) to another
// container directory, mounted, with its lease: GC keeps its image, and
// releasing the new directory undoes it all.
func TestMoveRootfs(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode.String(), func(t *testing.T) {
			s := newStore(t, mode)
			ctx := testCtx(t)
			storeImageAs(t, s, imageOf(t, v1.Config{}, layer(t, []entry{file("f", "image")})), "mv:1")
			parent := t.TempDir()
			from, to := filepath.Join(parent, "warm-x"), filepath.Join(parent, "task")
			if _, _, err := s.PrepareRootfs(ctx, "mv:1", from); err != nil {
				t.Fatal(err)
			}
			if err := s.MoveRootfs(ctx, from, to); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.ReleaseRootfs(to) })
			if _, err := os.Stat(from); !os.IsNotExist(err) {
				t.Errorf("%s still there: %v", from, err)
			}
			if b, _ := os.ReadFile(filepath.Join(to, "rootfs", "f")); string(b) != "image" {
				t.Errorf("moved rootfs f = %q", b)
			}
			ls, err := s.Leases()
			if err != nil || len(ls) != 1 || ls[0].ContainerDir != to {
				t.Fatalf("leases %+v, %v: want one, of %s", ls, err, to)
			}
			if err := s.MoveRootfs(ctx, from, filepath.Join(parent, "again")); err == nil {
				t.Error("moved a rootfs that is not there")
			}
			if err := s.ReleaseRootfs(to); err != nil {
				t.Fatal(err)
			}
			if ls, _ := s.Leases(); len(ls) != 0 {
				t.Errorf("leases after release: %+v", ls)
			}
		})
	}
}

// BenchmarkPrepareRootfs prepares and releases an overlay rootfs of a small
// image, as every image task's start and end do.
func BenchmarkPrepareRootfs(b *testing.B) {
	requireRoot(b)
	if err := probeOverlay(b.TempDir()); err != nil {
		b.Skipf("overlayfs not usable here: %v", err)
	}
	s := newStore(b, RootfsOverlay)
	ctx := testCtx(b)
	if _, err := s.add(ctx, imageOf(b, v1.Config{}, layer(b, busyboxRootfs(b))), []string{"bench:1"}, nil); err != nil {
		b.Fatal(err)
	}
	parent := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cdir := filepath.Join(parent, strconv.Itoa(i))
		if _, _, err := s.PrepareRootfs(ctx, "bench:1", cdir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.ReleaseRootfs(cdir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
