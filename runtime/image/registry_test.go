package image

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryBin is Debian's docker-registry (distribution 2.x).
const registryBin = "/usr/bin/docker-registry"

// startRegistry runs a throwaway registry on 127.0.0.1 with its own config
// and storage in a temp dir, and returns its host:port. It is killed at cleanup.
func startRegistry(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(registryBin); err != nil {
		t.Skipf("%s not found: install the Debian package docker-registry (the Makefile's test setup must)", registryBin)
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(registryBin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("registry on %s not ready: %v\n%s", addr, err, logs.String())
		}
		<-tick.C
	}
}

func push(t testing.TB, ref string, img v1.Image) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// progressLog records Progress updates.
type progressLog struct {
	mu      sync.Mutex
	last    map[v1.Hash]Progress
	updates int
}

func (p *progressLog) fn(u Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[v1.Hash]Progress{}
	}
	p.last[u.Layer] = u
	p.updates++
}

func TestPullFromRegistry(t *testing.T) {
	requireRoot(t)
	host := startRegistry(t)
	base := layer(t, busyboxRootfs(t))
	extra, err := random.Layer(1<<20, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	if err != nil {
		t.Fatal(err)
	}
	one := imageOf(t, v1.Config{Cmd: []string{"/bin/sh"}}, base)
	two := imageOf(t, v1.Config{Cmd: []string{"/bin/sh"}}, base, extra)
	d1 := push(t, host+"/test/app:1", one)
	d2 := push(t, host+"/test/app:2", two)

	s := newStoreAt(t, filepath.Join(t.TempDir(), "images"), RootfsCopy, host)
	ctx := testCtx(t)
	var p1 progressLog
	img, err := s.Pull(ctx, host+"/test/app:1", p1.fn)
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != d1 || img.Ref != host+"/test/app:1" || len(img.Layers) != 1 {
		t.Errorf("pulled %+v", img)
	}
	baseDigest, _ := base.Digest()
	baseSize, _ := base.Size()
	if got := p1.last[baseDigest]; got.Done != baseSize || got.Total != baseSize || got.Cached {
		t.Errorf("last progress for the layer = %+v, want %d of %d", got, baseSize, baseSize)
	}

	// By digest: same manifest, nothing new stored.
	blobs := countFiles(t, s.blobDir())
	byDigest := host + "/test/app@" + d1.String()
	img, err = s.Pull(ctx, byDigest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != d1 || img.Ref != byDigest {
		t.Errorf("pulled by digest %+v", img)
	}
	if got := countFiles(t, s.blobDir()); got != blobs {
		t.Errorf("pull by digest stored %d new blobs", got-blobs)
	}

	// The second image shares its base layer: stored and unpacked once.
	var p2 progressLog
	if _, err := s.Pull(ctx, host+"/test/app:2", p2.fn); err != nil {
		t.Fatal(err)
	}
	if !p2.last[baseDigest].Cached {
		t.Errorf("shared layer not reported cached: %+v", p2.last[baseDigest])
	}
	if got := countFiles(t, s.blobDir()); got != blobs+3 { // extra layer, config, manifest
		t.Errorf("%d blobs after the second image, want %d", got, blobs+3)
	}
	if got := countFiles(t, s.layerDir()); got != 2 {
		t.Errorf("%d unpacked layers, want 2", got)
	}
	if got, err := s.Get(ctx, host+"/test/app:2"); err != nil || got.Digest != d2 {
		t.Errorf("Get app:2 = %v, %v", got.Digest, err)
	}

	// A multi-platform index resolves to this machine's platform.
	other := "arm64"
	if goruntime.GOARCH == "arm64" {
		other = "amd64"
	}
	foreign, _ := random.Image(256, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: foreign, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
		mutate.IndexAddendum{Add: two, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}}},
	)
	r, _ := name.ParseReference(host + "/test/multi:1")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	if img, err := s.Pull(ctx, host+"/test/multi:1", nil); err != nil || img.Digest != d2 {
		t.Errorf("multi-platform pull = %v, %v; want %s", img.Digest, err, d2)
	}

	if _, err := s.Pull(ctx, host+"/test/missing:1", nil); err == nil {
		t.Error("pull of a missing tag succeeded")
	}
}

// Without the registry in InsecureRegistries, the store never speaks plain
// HTTP, not even to 127.0.0.1 (which go-containerregistry alone would).
func TestPullPlainHTTPOnlyForInsecureRegistries(t *testing.T) {
	requireRoot(t)
	host := startRegistry(t)
	push(t, host+"/test/app:1", imageOf(t, v1.Config{}, layer(t, []entry{file("f", "f")})))
	s := newStore(t, RootfsCopy)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.Pull(ctx, host+"/test/app:1", nil)
	if err == nil {
		t.Fatal("pulled over plain HTTP from a registry not listed as insecure")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "HTTPS") && !strings.Contains(err.Error(), "https") {
		t.Errorf("error does not say HTTPS was required: %v", err)
	}
	if n := countFiles(t, s.blobDir()); n != 0 {
		t.Errorf("%d blobs stored", n)
	}
}

// BenchmarkPullUnpack pulls a busybox image (plus a 1 MiB random layer) from
// a local registry and unpacks it into a fresh store, once per iteration.
func BenchmarkPullUnpack(b *testing.B) {
	requireRoot(b)
	host := startRegistry(b)
	extra, err := random.Layer(1<<20, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	if err != nil {
		b.Fatal(err)
	}
	img := imageOf(b, v1.Config{}, layer(b, busyboxRootfs(b)), extra)
	push(b, host+"/bench/busybox:1", img)
	var size int64
	layers, _ := img.Layers()
	for _, l := range layers {
		n, _ := l.Size()
		size += n
	}
	b.SetBytes(size)
	ctx := context.Background()
	parent := b.TempDir()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s, err := New(Config{Dir: filepath.Join(parent, fmt.Sprint(i)), InsecureRegistries: []string{host}, RootfsMode: RootfsCopy})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Pull(ctx, host+"/bench/busybox:1", nil); err != nil {
			b.Fatal(err)
		}
	}
}
