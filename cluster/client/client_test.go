package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// selfSigned is a client certificate for the tests.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "admin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// seen is what a test server saw of a request.
type seen struct {
	host, method, path, body, user, pass, cert string
}

type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (rc *recorder) add(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s := seen{host: r.Host, method: r.Method, path: r.URL.RequestURI(), body: string(b)}
	s.user, s.pass, _ = r.BasicAuth()
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		s.cert = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, s)
	rc.mu.Unlock()
}

func (rc *recorder) all() []seen {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]seen(nil), rc.reqs...)
}

func tlsServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func trust(s *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return &tls.Config{RootCAs: pool}
}

// A standby answers 307 with a protocol-relative Location, as the Mesos
// master does; the client re-sends the body with the credentials to the
// leader, and goes there directly afterwards.
func TestRedirectToLeader(t *testing.T) {
	var rec recorder
	leader := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	standby := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("Location", "//"+leader.Listener.Addr().String()+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	cfg := trust(standby)
	cfg.Certificates = []tls.Certificate{selfSigned(t)}
	c, err := New(Config{Server: standby.URL, TLS: cfg, Principal: "alice", Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ OK bool }
	if err := c.Post(t.Context(), "/v2/apps?force=true", map[string]string{"id": "/a"}, &out); err != nil || !out.OK {
		t.Fatalf("post: %v %v", out, err)
	}
	reqs := rec.all()
	if len(reqs) != 2 {
		t.Fatalf("requests %+v", reqs)
	}
	for _, r := range reqs {
		if r.method != http.MethodPost || r.path != "/v2/apps?force=true" || r.body != `{"id":"/a"}` || r.user != "alice" || r.pass != "s3cret" {
			t.Errorf("request %+v", r)
		}
		if r.cert != "" {
			t.Errorf("client certificate %q presented with a principal", r.cert)
		}
	}
	if c.Base() != leader.URL {
		t.Errorf("base %s, want the leader %s", c.Base(), leader.URL)
	}
	if err := c.Get(t.Context(), "/state", nil); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.all(); len(reqs) != 3 || reqs[2].host != leader.Listener.Addr().String() {
		t.Errorf("second call went to %+v", reqs[len(reqs)-1])
	}

	// The leader goes away: the next call starts over at the server.
	leader.Close()
	err = c.Get(t.Context(), "/state", nil)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("after leader loss: %v", err)
	}
	if reqs := rec.all(); reqs[len(reqs)-1].host != standby.Listener.Addr().String() {
		t.Errorf("not retried at the server: %+v", reqs[len(reqs)-1])
	}
}

// Without a principal the configured certificate is presented and no
// Basic credentials are sent.
func TestCertificateWithoutPrincipal(t *testing.T) {
	var rec recorder
	s := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rec.add(r) }))
	cfg := trust(s)
	cfg.Certificates = []tls.Certificate{selfSigned(t)}
	c, err := New(Config{Server: s.URL, TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), "/x", nil); err != nil {
		t.Fatal(err)
	}
	if r := rec.all()[0]; r.cert != "admin" || r.user != "" {
		t.Errorf("request %+v", r)
	}
	if _, err := New(Config{Server: s.URL, Secret: "x"}); err == nil {
		t.Error("a secret without a principal accepted")
	}
}

// Only the cluster CA is trusted.
func TestOtherCARefused(t *testing.T) {
	s := tlsServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	c, err := New(Config{Server: s.URL, TLS: &tls.Config{RootCAs: x509.NewCertPool()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Get(t.Context(), "/", nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unknown CA: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	s := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"/401": 401, "/403": 403, "/404": 404, "/409": 409, "/422": 422, "/500": 500, "/502": 502}[r.URL.Path]
		w.WriteHeader(code)
		switch r.URL.Path {
		case "/422":
			io.WriteString(w, `{"message":"Object is not valid","details":[{"path":"/cmd","errors":["a","b"]}]}`)
		case "/502":
			io.WriteString(w, "bad\ngateway\n")
		case "/500":
		default:
			json.NewEncoder(w).Encode(map[string]string{"message": "msg " + r.URL.Path})
		}
	}))
	c, err := New(Config{Server: s.URL, TLS: trust(s), AuthHint: "give --principal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
		is         error
	}{
		{"/401", "authentication required: msg /401; give --principal", ErrUnauthenticated},
		{"/403", "permission denied: msg /403", ErrPermissionDenied},
		{"/404", "msg /404", ErrNotFound},
		{"/409", "msg /409", ErrConflict},
		{"/422", "Object is not valid: /cmd: a; /cmd: b", ErrInvalid},
		{"/500", "500 Internal Server Error", nil},
		{"/502", "502 Bad Gateway: bad gateway", nil},
	} {
		err := c.Get(t.Context(), tc.path, nil)
		var e *Error
		if !errors.As(err, &e) || err.Error() != tc.want || e.Path != tc.path || StatusOf(err) != e.Code {
			t.Errorf("%s: %v", tc.path, err)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: not %v", tc.path, tc.is)
		}
	}
}

// A redirect to plain HTTP would carry the credentials in the clear.
func TestRedirectDowngradeRefused(t *testing.T) {
	s := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/x", http.StatusTemporaryRedirect)
	}))
	c, err := New(Config{Server: s.URL, TLS: trust(s), Principal: "a", Secret: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Get(t.Context(), "/", nil); err == nil || !strings.Contains(err.Error(), "not HTTPS") {
		t.Fatalf("downgrade: %v", err)
	}
}

// A 503 with Retry-After (a leader still loading its state) is sent again,
// body and all, until the master answers; a 503 without it is returned
// at once.
func TestUnavailableRetried(t *testing.T) {
	var rec recorder
	var mu sync.Mutex
	left := 2
	s := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/plain" {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"message":"down"}`)
			return
		}
		if left > 0 {
			left--
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"message":"Leader is starting up"}`)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	c, err := New(Config{Server: s.URL, TLS: trust(s), Principal: "alice", Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ OK bool }
	if err := c.Post(t.Context(), "/v2/apps", map[string]string{"id": "/a"}, &out); err != nil || !out.OK {
		t.Fatalf("post: %v %v", out, err)
	}
	reqs := rec.all()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (two 503s, then the answer)", len(reqs))
	}
	for _, r := range reqs {
		if r.body != `{"id":"/a"}` {
			t.Errorf("body %q re-sent", r.body)
		}
	}
	if err := c.Get(t.Context(), "/plain", nil); err == nil {
		t.Fatal("a 503 without Retry-After: no error")
	}
	if n := len(rec.all()); n != 4 {
		t.Errorf("a 503 without Retry-After was sent %d times, want once", n-3)
	}
}
