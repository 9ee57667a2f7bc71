package image

import (
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// authRegistry is an in-process registry on 127.0.0.1 that wants HTTP
// basic auth user:pass on every request; its host:port.
func authRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func dockerConfig(host, user, pass string) []byte {
	return []byte(`{"auths": {"` + host + `": {"auth": "` + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + `"}}}`)
}

// TestPullWithCredentials: a pull from a registry that wants basic auth
// fails without credentials and succeeds with a Docker config.json's
// (auth or username/password); wrong credentials fail.
func TestPullWithCredentials(t *testing.T) {
	requireRoot(t)
	host := authRegistry(t, "alice", "s3cret-pw")
	ref := host + "/private/app:1"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img := imageOf(t, v1.Config{Cmd: []string{"/hello"}}, layer(t, []entry{file("hello", "hi")}))
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret-pw"})); err != nil {
		t.Fatalf("push: %v", err)
	}
	s := newStoreAt(t, filepath.Join(t.TempDir(), "images"), RootfsCopy, host)
	ctx := testCtx(t)

	if _, err := s.Pull(ctx, ref, nil); err == nil {
		t.Fatal("pull without credentials succeeded")
	}
	wrong, err := DockerConfigKeychain(dockerConfig(host, "alice", "wrong"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(ctx, ref, nil, WithKeychain(wrong)); err == nil {
		t.Fatal("pull with wrong credentials succeeded")
	} else if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error shows the password: %v", err)
	}
	kc, err := DockerConfigKeychain(dockerConfig(host, "alice", "s3cret-pw"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Pull(ctx, ref, nil, WithKeychain(kc))
	if err != nil {
		t.Fatalf("pull with credentials: %v", err)
	}
	want, _ := img.Digest()
	if got.Digest != want {
		t.Errorf("digest %s, want %s", got.Digest, want)
	}
	// username/password fields and a URL key, on a fresh store.
	s2 := newStoreAt(t, filepath.Join(t.TempDir(), "images"), RootfsCopy, host)
	kc2, err := DockerConfigKeychain([]byte(`{"auths": {"http://` + host + `/v2/": {"username": "alice", "password": "s3cret-pw"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Pull(ctx, ref, nil, WithKeychain(kc2)); err != nil {
		t.Fatalf("pull with username/password: %v", err)
	}
}

// TestDockerConfigKeychain: parsing, registry keys, and refusals that
// never quote the secret.
func TestDockerConfigKeychain(t *testing.T) {
	kc, err := DockerConfigKeychain([]byte(`{"auths": {"https://index.docker.io/v1/": {"auth": "` +
		base64.StdEncoding.EncodeToString([]byte("bob:pw")) + `"}, "reg.example:5000": {"username": "u", "password": "p"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"busybox": "bob", "reg.example:5000/a": "u", "other.example/a": ""} {
		r, _ := name.ParseReference(ref)
		a, err := kc.Resolve(r.Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != want {
			t.Errorf("%s: user %q, want %q", ref, cfg.Username, want)
		}
	}
	for _, bad := range []string{`{"auths": {"r": {"auth": "not base64 TOPSECRET"}}}`, `TOPSECRET`, `{"auths": {}}`,
		`{"credsStore": "desktop", "auths": {"r": {}}}`, `{"auths": {"r": {}}}`} {
		_, err := DockerConfigKeychain([]byte(bad))
		if err == nil {
			t.Errorf("%s accepted", bad)
		} else if strings.Contains(err.Error(), "TOPSECRET") || errors.Unwrap(err) != nil {
			t.Errorf("%s: error quotes or wraps the secret: %v", bad, err)
		}
	}
}
