package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestAppPullConfig: an app whose image is in a registry that wants
// basic auth runs when container.docker.pullConfig names a secret holding
// a Docker config.json with the credentials (Marathon's pullConfig, Mesos
// Image.Docker.config); the password is nowhere under the work dir.
func TestAppPullConfig(t *testing.T) {
	raw := make([]byte, 12)
	_, _ = rand.Read(raw)
	pass := "pw-" + hex.EncodeToString(raw)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "puller" || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="e2e"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/private/app:1"

	mark := appMark(31)
	archive := busyboxImage(t, ref, nil, func(c *v1.Config) {
		c.Entrypoint = []string{"/bin/sh", "-c", `echo pulled-with-credentials; exec sleep ` + mark}
		c.Env = []string{"PATH=/bin"}
	})
	tag, err := name.NewTag(ref, name.Insecure)
	must(t, err)
	img, err := tarball.ImageFromPath(archive, &tag)
	must(t, err)
	must(t, remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: "puller", Password: pass})))

	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]", "--insecure-registries", host)...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	auth := base64.StdEncoding.EncodeToString([]byte("puller:" + pass))
	config := `{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`
	cmd := exec.Command(bin, "secret", "create", "/registry/creds")
	cmd.Env = cliEnv(n.port)
	cmd.Stdin = strings.NewReader(config)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret create: %v %s", err, out)
	}

	if c, b := appDo(t, n, "POST", "/v2/apps", `{"id":"/pull/bad","cpus":0.1,"mem":32,"secrets":{"s":{"source":"/registry/creds"}},
		"container":{"type":"MESOS","docker":{"image":"`+ref+`","pullConfig":{"secret":"nope"}}}}`); c != 422 || !strings.Contains(string(b), "/container/docker/pullConfig/secret") {
		t.Errorf("undefined pullConfig secret: %d %s, want 422 naming it", c, b)
	}
	app := `{"id":"/pull/app","instances":1,"cpus":0.1,"mem":32,"secrets":{"creds":{"source":"/registry/creds"}},
		"container":{"type":"MESOS","docker":{"image":` + strconv.Quote(ref) + `,"pullConfig":{"secret":"creds"}}}}`
	appMust(t, n, "POST", "/v2/apps", app, 201)
	t.Cleanup(func() { appDo(t, n, "DELETE", "/v2/apps/pull/app?force=true", "") })
	appWaitRunning(t, n, "/pull/app", 1, false, 90*time.Second)
	waitFor(t, 20*time.Second, "task output", func() bool {
		return findFile(n.dir, "stdout", "pulled-with-credentials") != ""
	})
	for _, p := range []string{"/v2/apps/pull/app", "/v2/tasks", "/state"} {
		if _, b := appDo(t, n, "GET", p, ""); strings.Contains(string(b), pass) || strings.Contains(string(b), auth) {
			t.Errorf("GET %s shows the credentials", p)
		}
	}
	_ = filepath.WalkDir(n.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if st, err := d.Info(); err != nil || st.Size() > 256<<20 {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && (strings.Contains(string(b), pass) || strings.Contains(string(b), auth)) {
			t.Errorf("%s holds the registry credentials in clear", p)
		}
		return nil
	})
}
