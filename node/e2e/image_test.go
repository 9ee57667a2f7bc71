package e2e

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageEntrypointWorkdirEnv (issue 17 point 3): an image whose config
// has an ENTRYPOINT, a CMD, a WORKDIR and ENV, run by Marathon apps: with
// "args" they are appended to the ENTRYPOINT (replacing CMD); with "cmd"
// it runs under /bin/sh -c and the ENTRYPOINT is ignored; both run in the
// WORKDIR with the image's ENV, the app's env winning. privileged and
// docker.parameters are refused by name.
func TestImageEntrypointWorkdirEnv(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	archive := entrypointImage(t, "test/entry:1")
	if b, err := exec.Command(bin, "image", "load", "--work-dir", n.dir, archive).CombinedOutput(); err != nil {
		t.Fatalf("image load: %v\n%s", err, b)
	}

	mark := appMark(7301)
	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/img-args", "args": ["fromargs", "`+mark+`"], "cpus": 0.05, "mem": 32,
		"env": {"OVER": "app"}, "container": {"type": "DOCKER", "docker": {"image": "test/entry:1"}}}`, 201)
	appWaitRunning(t, n, "/e2e/img-args", 1, false, 60*time.Second)
	want := "entry $0=fromargs $1=" + mark + " pwd=/opt/work greet=image over=app"
	waitFor(t, 30*time.Second, "the entrypoint's line with the args", func() bool {
		return findFile(n.dir, "stdout", want) != ""
	})
	if findFile(n.dir, "stdout", "fromcmd") != "" {
		t.Errorf("the image's CMD ran with args given")
	}

	mark2 := appMark(7302)
	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/img-cmd", "cmd": "echo \"shell pwd=$(pwd) greet=$GREET over=$OVER\"; exec sleep `+mark2+`",
		"cpus": 0.05, "mem": 32, "container": {"type": "MESOS", "docker": {"image": "test/entry:1"}}}`, 201)
	appWaitRunning(t, n, "/e2e/img-cmd", 1, false, 60*time.Second)
	want2 := "shell pwd=/opt/work greet=image over=image"
	waitFor(t, 30*time.Second, "the shell command's line", func() bool {
		return findFile(n.dir, "stdout", want2) != ""
	})
	if f := findFile(n.dir, "stdout", want2); f != "" {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "entry ") {
			t.Errorf("the entrypoint ran for cmd: %s", b)
		}
	}

	for field, docker := range map[string]string{
		"container.docker.privileged": `"privileged": true`,
		"container.docker.parameters": `"parameters": [{"key": "memory", "value": "1g"}]`,
	} {
		body := appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/img-refused", "cmd": "true", "container": {"docker": {"image": "test/entry:1", `+docker+`}}}`, 422)
		if !strings.Contains(string(body), field) {
			t.Errorf("422 %s: want %s named", body, field)
		}
	}
	appMust(t, n, "DELETE", "/v2/apps/e2e/img-args", "", 200)
	appMust(t, n, "DELETE", "/v2/apps/e2e/img-cmd", "", 200)
}

// entrypointImage writes a docker-save archive of busybox with
// ENTRYPOINT ["/bin/sh", "-c", <print and sleep>], CMD ["fromcmd", "1"],
// WORKDIR /opt/work and ENV GREET=image OVER=image.
func entrypointImage(t *testing.T, ref string) string {
	t.Helper()
	dirs := []imageEntry{{hdr: tar.Header{Name: "opt/", Typeflag: tar.TypeDir, Mode: 0o755}}, {hdr: tar.Header{Name: "opt/work/", Typeflag: tar.TypeDir, Mode: 0o755}}}
	return busyboxImage(t, ref, dirs, func(c *v1.Config) {
		c.Entrypoint = []string{"/bin/sh", "-c", `echo "entry \$0=$0 \$1=$1 pwd=$(pwd) greet=$GREET over=$OVER"; exec sleep $1`}
		c.Cmd = []string{"fromcmd", "1"}
		c.WorkingDir = "/opt/work"
		c.Env = []string{"PATH=/bin", "GREET=image", "OVER=image"}
	})
}

// imageEntry is one entry of an image layer busyboxImage adds.
type imageEntry struct {
	hdr  tar.Header
	body string
}

// busyboxImage writes a docker-save archive (tagged ref) of busybox plus
// one layer holding entries, with its config changed by configure.
func busyboxImage(t testing.TB, ref string, entries []imageEntry, configure func(*v1.Config)) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		must(t, tw.WriteHeader(&h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			must(t, err)
		}
	}
	must(t, tw.Close())
	layerPath := filepath.Join(t.TempDir(), "layer.tar")
	must(t, os.WriteFile(layerPath, buf.Bytes(), 0o644))
	base, err := tarball.LayerFromFile(busyboxTar(t))
	must(t, err)
	layer, err := tarball.LayerFromFile(layerPath)
	must(t, err)
	img, err := mutate.AppendLayers(empty.Image, base, layer)
	must(t, err)
	cf, err := img.ConfigFile()
	must(t, err)
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	configure(&cf.Config)
	img, err = mutate.ConfigFile(img, cf)
	must(t, err)
	tag, err := name.NewTag(ref, name.WeakValidation)
	must(t, err)
	out := filepath.Join(t.TempDir(), "image.tar")
	must(t, tarball.WriteToFile(out, tag, img))
	return out
}
