package image

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// twoImages returns two images sharing their bottom layer.
func twoImages(t *testing.T) (v1.Image, v1.Image) {
	t.Helper()
	base := layer(t, busyboxRootfs(t))
	a := imageOf(t, v1.Config{Cmd: []string{"/bin/sh"}}, base, layer(t, []entry{file("a", "a")}))
	b := imageOf(t, v1.Config{Entrypoint: []string{"/bin/echo"}, Env: []string{"B=1"}}, base, layer(t, []entry{file("b", "b")}))
	return a, b
}

func refs(imgs []Image) []string {
	var out []string
	for _, i := range imgs {
		out = append(out, i.Ref)
	}
	slices.Sort(out)
	return out
}

func gzipFile(t *testing.T, src string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(src + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	out.Close()
	return out.Name()
}

func TestLoadDockerSave(t *testing.T) {
	requireRoot(t)
	a, b := twoImages(t)
	path := filepath.Join(t.TempDir(), "save.tar")
	m := map[name.Reference]v1.Image{}
	for ref, img := range map[string]v1.Image{"example.com/a:1": a, "example.com/a:latest": a, "b:1": b} {
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		m[tag] = img
	}
	if err := tarball.MultiRefWriteToFile(path, m); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{path, gzipFile(t, path)} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			s := newStore(t, RootfsCopy)
			ctx := testCtx(t)
			loaded, err := s.Load(ctx, file)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"b:1", "example.com/a:1", "example.com/a:latest"}
			if got := refs(loaded); !slices.Equal(got, want) {
				t.Fatalf("loaded %v, want %v", got, want)
			}
			list, _ := s.List(ctx)
			if got := refs(list); !slices.Equal(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
			gotB, err := s.Get(ctx, "b:1")
			if err != nil || !slices.Equal(gotB.Config.Entrypoint, []string{"/bin/echo"}) || !slices.Equal(gotB.Config.Env, []string{"B=1"}) {
				t.Errorf("b:1 = %+v, %v", gotB, err)
			}
			// 3 distinct layers (the base is shared), 2 configs, 2 manifests: each once.
			if got := countFiles(t, s.blobDir()); got != 7 {
				t.Errorf("%d blobs, want 7 (shared layer stored once)", got)
			}
			if got := countFiles(t, s.layerDir()); got != 3 {
				t.Errorf("%d unpacked layers, want 3", got)
			}
		})
	}
}

// tarDir writes the contents of dir as a tar archive (an "OCI archive").
func tarDir(t *testing.T, dir, out string) string {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadOCILayout(t *testing.T) {
	requireRoot(t)
	a, b := twoImages(t)
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	add := func(img v1.Image, ann map[string]string) {
		if err := p.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
			t.Fatal(err)
		}
	}
	add(a, map[string]string{annotationRefName: "registry.local:5000/team/a:1"})
	add(b, map[string]string{annotationContainerdName: "docker.io/library/b:2", annotationRefName: "2"})
	add(a, map[string]string{annotationRefName: "latest"}) // a bare tag names no repository: skipped

	// A multi-platform index: the store picks linux/GOARCH.
	other := "arm64"
	if goruntime.GOARCH == "arm64" {
		other = "amd64"
	}
	foreign, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: foreign, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
		mutate.IndexAddendum{Add: b, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}}},
	)
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationRefName: "example.com/multi:1"})); err != nil {
		t.Fatal(err)
	}
	archive := tarDir(t, dir, filepath.Join(t.TempDir(), "oci.tar"))

	s := newStore(t, RootfsCopy)
	ctx := testCtx(t)
	loaded, err := s.Load(ctx, archive)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"docker.io/library/b:2", "example.com/multi:1", "registry.local:5000/team/a:1"}
	if got := refs(loaded); !slices.Equal(got, want) {
		t.Fatalf("loaded %v, want %v", got, want)
	}
	bDigest, _ := b.Digest()
	multi, err := s.Get(ctx, "example.com/multi:1")
	if err != nil || multi.Digest != bDigest {
		t.Errorf("multi-platform image resolved to %v (%v), want %s for linux/%s", multi.Digest, err, bDigest, goruntime.GOARCH)
	}
	if got, err := s.Get(ctx, "b:2"); err != nil || got.Digest != bDigest {
		t.Errorf("Get b:2 = %v, %v", got.Digest, err)
	}
	if got := countFiles(t, s.layerDir()); got != 3 {
		t.Errorf("%d unpacked layers, want 3 (the foreign image is not stored)", got)
	}
}

func TestLoadRefusesOtherArchives(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	s := newStore(t, RootfsCopy)
	ctx := testCtx(t)
	rootfs := writeTar(t, filepath.Join(dir, "rootfs.tar"), busyboxRootfs(t), false)
	if _, err := s.Load(ctx, rootfs); !errors.Is(err, ErrUnsupportedArchive) {
		t.Errorf("Load(rootfs tar): err = %v, want ErrUnsupportedArchive", err)
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte(strings.Repeat("not a tar", 100)), 0o644)
	if _, err := s.Load(ctx, garbage); !errors.Is(err, ErrUnsupportedArchive) {
		t.Errorf("Load(garbage): err = %v, want ErrUnsupportedArchive", err)
	}
	// An OCI archive whose index points nowhere safe is refused while extracting.
	evil := writeTar(t, filepath.Join(dir, "evil.tar"), []entry{file("oci-layout", "{}"), file("index.json", "{}"), file("../escape", "x")}, false)
	if _, err := s.Load(ctx, evil); !errors.Is(err, ErrUnsafeEntry) {
		t.Errorf("Load(evil OCI archive): err = %v, want ErrUnsafeEntry", err)
	}
	if _, err := s.Load(ctx, filepath.Join(dir, "missing.tar")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing): err = %v", err)
	}
}
