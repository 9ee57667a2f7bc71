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
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	mark := appMark(31)
	ref, pass, auth := privateRegistry(t, `echo pulled-with-credentials; exec sleep `+mark)
	host, _, _ := strings.Cut(ref, "/")

	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]", "--insecure-registries", host)...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	createSecret(t, n, "/registry/creds", `{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`)
	createSecret(t, n, "/registry/helper", `{"credsStore":"desktop","auths":{"`+host+`":{}}}`)
	if c, b := appDo(t, n, "POST", "/v2/apps", `{"id":"/pull/bad","cpus":0.1,"mem":32,"secrets":{"s":{"source":"/registry/creds"}},
		"container":{"type":"MESOS","docker":{"image":"`+ref+`","pullConfig":{"secret":"nope"}}}}`); c != 422 || !strings.Contains(string(b), "/container/docker/pullConfig/secret") {
		t.Errorf("undefined pullConfig secret: %d %s, want 422 naming it", c, b)
	}
	// Without credentials the pull fails; with a config using a credential
	// helper the launch fails naming it.
	appMust(t, n, "POST", "/v2/apps", `{"id":"/pull/none","instances":1,"cpus":0.1,"mem":32,
		"container":{"type":"MESOS","docker":{"image":`+strconv.Quote(ref)+`}}}`, 201)
	appMust(t, n, "POST", "/v2/apps", `{"id":"/pull/helper","instances":1,"cpus":0.1,"mem":32,"secrets":{"h":{"source":"/registry/helper"}},
		"container":{"type":"MESOS","docker":{"image":`+strconv.Quote(ref)+`,"pullConfig":{"secret":"h"}}}}`, 201)
	for id, want := range map[string]string{"/pull/none": "could not be pulled", "/pull/helper": "credential helpers"} {
		waitFor(t, 60*time.Second, id+" fails naming "+want, func() bool {
			a, ok := appGet(n, id)
			return ok && a.LastTaskFailure != nil && strings.Contains(a.LastTaskFailure.Message, want)
		})
		appMust(t, n, "DELETE", "/v2/apps"+id+"?force=true", "", 200)
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
	// A pod container's image.pullConfig; forcePull pulls again (the
	// store has the image now), with the credentials.
	pod := `{"id":"/pull/pod","scaling":{"kind":"fixed","instances":1},"secrets":{"creds":{"source":"/registry/creds"}},
	  "containers":[{"name":"c","resources":{"cpus":0.05,"mem":32},
	    "image":{"kind":"DOCKER","id":` + strconv.Quote(ref) + `,"forcePull":true,"pullConfig":{"secret":"creds"}}}]}`
	appMust(t, n, "POST", "/v2/pods", pod, 201)
	t.Cleanup(func() { appDo(t, n, "DELETE", "/v2/pods/pull/pod", "") })
	waitFor(t, 60*time.Second, "pod container output", func() bool {
		found := 0
		_ = filepath.WalkDir(n.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "stdout" {
				if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "pulled-with-credentials") {
					found++
				}
			}
			return nil
		})
		return found >= 2 // the app's task and the pod's container
	})
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

// privateRegistry runs an in-process registry on 127.0.0.1 wanting basic
// auth (user puller, a random password) holding busybox with entrypoint
// sh -c script; it returns the image's ref, the password and the
// config.json auth value.
func privateRegistry(t *testing.T, script string) (ref, pass, auth string) {
	t.Helper()
	raw := make([]byte, 12)
	_, _ = rand.Read(raw)
	pass = "pw-" + hex.EncodeToString(raw)
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
	ref = host + "/private/app:1"
	archive := busyboxImage(t, ref, nil, func(c *v1.Config) {
		c.Entrypoint = []string{"/bin/sh", "-c", script}
		c.Env = []string{"PATH=/bin"}
	})
	tag, err := name.NewTag(ref, name.Insecure)
	must(t, err)
	img, err := tarball.ImageFromPath(archive, &tag)
	must(t, err)
	must(t, remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: "puller", Password: pass})))

	return ref, pass, base64.StdEncoding.EncodeToString([]byte("puller:" + pass))
}

// createSecret stores value at path with nodectl secret create.
func createSecret(t *testing.T, n node, path, value string) {
	t.Helper()
	cmd := exec.Command(bin, "secret", "create", path)
	cmd.Env = cliEnv(n.port)
	cmd.Stdin = strings.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret create %s: %v %s", path, err, out)
	}
}
