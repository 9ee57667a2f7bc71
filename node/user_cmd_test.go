package node_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/cluster/pki"
	"nodectl/node"
)

// fakeUsers implements the master's user API contract (/auth/users,
// /auth/whoami) for the CLI's unit tests: the admin certificate (CN admin)
// is a superuser, Basic principals are checked against their secrets.
type fakeUsers struct {
	mu    sync.Mutex
	users map[string]*fakeUser // guarded by mu
	seen  []string             // "METHOD path kind:principal", guarded by mu
}

type fakeUser struct {
	secret  string
	apps    []string
	created time.Time
}

func writeMsg(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (f *fakeUsers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	who, kind, super := "", "", false
	if p, s, ok := r.BasicAuth(); ok {
		u := f.users[p]
		if u == nil || u.secret != s {
			writeMsg(w, http.StatusUnauthorized, "wrong principal or secret")
			return
		}
		who, kind, super = p, "basic", p == "root"
	} else if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && r.TLS.PeerCertificates[0].Subject.CommonName == "admin" {
		who, kind, super = "admin", "certificate", true
	} else {
		writeMsg(w, http.StatusUnauthorized, "no credentials")
		return
	}
	f.seen = append(f.seen, r.Method+" "+r.URL.Path+" "+kind+":"+who)
	if r.URL.Path == "/auth/whoami" {
		json.NewEncoder(w).Encode(map[string]any{"principal": who, "kind": kind, "superuser": super})
		return
	}
	if !super {
		writeMsg(w, http.StatusForbidden, who+" may not manage users")
		return
	}
	var body struct {
		Principal string    `json:"principal"`
		Secret    string    `json:"secret"`
		Apps      *[]string `json:"apps"`
	}
	if r.Body != nil {
		json.NewDecoder(r.Body).Decode(&body)
	}
	name, one := strings.CutPrefix(r.URL.Path, "/auth/users/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/auth/users":
		type info struct {
			Principal string   `json:"principal"`
			Apps      []string `json:"apps"`
			Created   string   `json:"created"`
		}
		out := []info{}
		for p, u := range f.users {
			out = append(out, info{p, u.apps, u.created.Format(time.RFC3339)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Principal < out[j].Principal })
		json.NewEncoder(w).Encode(map[string]any{"users": out})
	case r.Method == http.MethodPost && r.URL.Path == "/auth/users":
		switch {
		case len(body.Secret) < 8:
			writeMsg(w, http.StatusUnprocessableEntity, "secret: at least 8 characters")
		case f.users[body.Principal] != nil:
			writeMsg(w, http.StatusConflict, "user "+body.Principal+" exists")
		default:
			u := &fakeUser{secret: body.Secret, created: time.Now()}
			if body.Apps != nil {
				u.apps = *body.Apps
			}
			f.users[body.Principal] = u
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]string{"principal": body.Principal})
		}
	case one && f.users[name] == nil:
		writeMsg(w, http.StatusNotFound, "unknown user "+name)
	case one && r.Method == http.MethodPut:
		if body.Secret != "" {
			f.users[name].secret = body.Secret
		}
		if body.Apps != nil {
			f.users[name].apps = *body.Apps
		}
		json.NewEncoder(w).Encode(map[string]string{"principal": name})
	case one && r.Method == http.MethodDelete:
		delete(f.users, name)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeMsg(w, http.StatusNotFound, "no route")
	}
}

func (f *fakeUsers) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[len(f.seen)-1]
}

// userFixture is a fake leader, a standby redirecting to it as a Mesos
// master does, and a client.yaml with the CA and an admin certificate.
type userFixture struct {
	api              *fakeUsers
	leader, standby  *httptest.Server
	config, adminCrt string
}

func startUserFixture(t *testing.T) *userFixture {
	t.Helper()
	f := &userFixture{api: &fakeUsers{users: map[string]*fakeUser{"root": {secret: "root-secret", created: time.Now()}}}}
	start := func(h http.Handler) *httptest.Server {
		s := httptest.NewUnstartedServer(h)
		s.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	f.leader = start(f.api)
	f.standby = start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "//"+f.leader.Listener.Addr().String()+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("ca.crt", "CERTIFICATE", f.leader.Certificate().Raw) // httptest's certificate is its own CA
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "admin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f.adminCrt = write("admin.crt", "CERTIFICATE", der)
	f.config = filepath.Join(dir, "client.yaml")
	if err := pki.WriteClientConfig(f.config, pki.ClientConfig{Server: f.leader.URL, CA: ca, Cert: f.adminCrt, Key: write("admin.key", "PRIVATE KEY", kder)}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NODECTL_CLIENT_CONFIG", f.config)
	for _, e := range []string{"NODECTL_PRINCIPAL", "NODECTL_SECRET", "NODECTL_MASTER", "NODECTL_WORK_DIR"} {
		t.Setenv(e, "")
	}
	return f
}

// cli runs nodectl with stdin (not a terminal unless term) and returns
// stdout, stderr and the exit code.
func (f *userFixture) cli(t *testing.T, stdin string, term bool, args ...string) (string, string, int) {
	t.Helper()
	defer node.SetTerminal(term)()
	var out, errOut bytes.Buffer
	code := node.RunCLIInput(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestUserCommands(t *testing.T) {
	f := startUserFixture(t)

	// add with the admin certificate, the secret from stdin, through a
	// standby: the POST and its body reach the leader.
	out, errOut, code := f.cli(t, "alice-secret\n", false, "user", "add", "alice", "--apps", "/team-a, /team-b", "--master", f.standby.URL)
	if code != 0 || out != "" || !strings.Contains(errOut, "user alice added") {
		t.Fatalf("add alice: exit %d %q %q", code, out, errOut)
	}
	if got := f.api.last(); got != "POST /auth/users certificate:admin" {
		t.Errorf("add alice seen as %q", got)
	}
	if u := f.api.users["alice"]; u.secret != "alice-secret" || !slices.Equal(u.apps, []string{"/team-a", "/team-b"}) {
		t.Errorf("alice stored as %+v", u)
	}

	// On a terminal a secret is generated and printed once.
	out, _, code = f.cli(t, "", true, "user", "add", "bob")
	secret, ok := strings.CutPrefix(strings.TrimSpace(out), "secret for bob: ")
	if code != 0 || !ok || len(secret) < 32 || f.api.users["bob"].secret != secret {
		t.Fatalf("add bob: exit %d %q", code, out)
	}

	// list: a table, and JSON.
	out, _, code = f.cli(t, "", false, "user", "list")
	if code != 0 || !strings.Contains(out, "PRINCIPAL") || !strings.Contains(out, "/team-a,/team-b") || strings.Count(out, "\n") != 4 {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	out, _, code = f.cli(t, "", false, "user", "ls", "-o", "json")
	var users []map[string]any
	if err := json.Unmarshal([]byte(out), &users); code != 0 || err != nil || len(users) != 3 || users[0]["principal"] != "alice" {
		t.Fatalf("list -o json: exit %d %v\n%s", code, err, out)
	}

	// A principal given explicitly is who asks, not the admin certificate
	// the client config names.
	out, _, code = f.cli(t, "", false, "whoami", "--principal", "bob", "--secret", secret)
	if code != 0 || out != "bob (basic)\n" {
		t.Fatalf("whoami as bob: exit %d %q", code, out)
	}
	if out, _, code = f.cli(t, "", false, "whoami"); code != 0 || out != "admin (certificate, superuser)\n" {
		t.Fatalf("whoami as admin: exit %d %q", code, out)
	}
	t.Setenv("NODECTL_PRINCIPAL", "root")
	t.Setenv("NODECTL_SECRET", "root-secret")
	if out, _, code = f.cli(t, "", false, "whoami", "-o", "json"); code != 0 || !strings.Contains(out, `"superuser": true`) || !strings.Contains(out, `"kind": "basic"`) {
		t.Fatalf("whoami from the environment: exit %d %q", code, out)
	}
	t.Setenv("NODECTL_PRINCIPAL", "")
	t.Setenv("NODECTL_SECRET", "")

	// passwd from a file; the old secret is then refused with a hint.
	sf := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(sf, []byte("new-alice-secret\nignored\n"), 0o600)
	if _, errOut, code = f.cli(t, "", false, "user", "passwd", "alice", "--new-secret-file", sf); code != 0 || !strings.Contains(errOut, "changed") {
		t.Fatalf("passwd: exit %d %q", code, errOut)
	}
	if out, _, code = f.cli(t, "", false, "whoami", "--principal", "alice", "--secret-file", sf); code != 0 || out != "alice (basic)\n" {
		t.Fatalf("whoami with the new secret: exit %d %q", code, out)
	}
	_, errOut, code = f.cli(t, "", false, "whoami", "--principal", "alice", "--secret", "alice-secret")
	if code != 1 || !strings.Contains(errOut, "authentication required: wrong principal or secret") || !strings.Contains(errOut, "--principal") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("old secret: exit %d %q", code, errOut)
	}

	// alice may not manage users: 403, said as such.
	_, errOut, code = f.cli(t, "", false, "user", "list", "--principal", "alice", "--secret-file", sf)
	if code != 1 || errOut != "nodectl: permission denied: alice may not manage users\n" {
		t.Fatalf("list as alice: exit %d %q", code, errOut)
	}

	// apps: replace, and "" for none (sent as [], not left out).
	if _, errOut, code = f.cli(t, "", false, "user", "apps", "alice", "--apps", "/ops"); code != 0 || !slices.Equal(f.api.users["alice"].apps, []string{"/ops"}) {
		t.Fatalf("apps: exit %d %q", code, errOut)
	}
	if _, errOut, code = f.cli(t, "", false, "user", "apps", "alice", "--apps", ""); code != 0 || f.api.users["alice"].apps == nil || len(f.api.users["alice"].apps) != 0 {
		t.Fatalf("apps none: exit %d %q %v", code, errOut, f.api.users["alice"].apps)
	}

	// The master's refusals: one line, exit 1.
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"whatever1\n", []string{"user", "add", "alice"}, "add user alice: user alice exists"},
		{"short\n", []string{"user", "add", "carol"}, "add user carol: secret: at least 8 characters"},
		{"", []string{"user", "remove", "nobody"}, "remove user nobody: unknown user nobody"},
		{"long-enough\n", []string{"user", "passwd", "nobody"}, "set secret of nobody: unknown user nobody"},
	} {
		_, errOut, code := f.cli(t, tc.stdin, false, tc.args...)
		if code != 1 || errOut != "nodectl: "+tc.want+"\n" {
			t.Errorf("%v: exit %d %q", tc.args, code, errOut)
		}
	}
	if _, errOut, code = f.cli(t, "", false, "user", "remove", "bob"); code != 0 || f.api.users["bob"] != nil {
		t.Fatalf("remove bob: exit %d %q", code, errOut)
	}
}

// Usage errors: exit 2, one line, nothing sent.
func TestUserCommandUsage(t *testing.T) {
	f := startUserFixture(t)
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"user", "add"}, "usage: nodectl user add NAME"},
		{"", []string{"user", "add", "a", "b"}, "usage: nodectl user add NAME"},
		{"x-secret-1\n", []string{"user", "add", "a:b"}, "must not contain ':'"},
		{"x-secret-1\n", []string{"user", "add", "dave", "--apps", "team-a"}, `--apps: "team-a" is not an app id`},
		{"", []string{"user", "add", "dave"}, "no secret on stdin"},
		{"", []string{"user", "add", "dave", "--secret-file", "/nonexistent"}, "--secret-file is your own secret and needs --principal"},
		{"", []string{"user", "add", "dave", "--new-secret-file", "/nonexistent"}, "--new-secret-file: open /nonexistent"},
		{"", []string{"user", "apps", "dave"}, "user apps needs --apps"},
		{"", []string{"user", "list", "-o", "xml"}, `-o "xml": want table, wide, json or yaml`},
		{"", []string{"user", "list", "--secret", "x"}, "--secret (or NODECTL_SECRET) needs --principal"},
		{"", []string{"user", "list", "--principal", "root"}, "--principal root needs --secret-file, --secret or NODECTL_SECRET"},
		{"", []string{"user", "list", "--principal", "root", "--secret", "a", "--secret-file", "/x"}, "give --secret or --secret-file, not both"},
		{"", []string{"whoami", "extra"}, "whoami takes no arguments"},
		{"", []string{"user", "list", "--bogus"}, "unknown flag --bogus"},
	} {
		_, errOut, code := f.cli(t, tc.stdin, false, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	// Input is checked before the client config is looked for.
	t.Setenv("NODECTL_CLIENT_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	if _, errOut, code := f.cli(t, "", false, "user", "add", "dave", "--apps", "team-a"); code != 2 || !strings.Contains(errOut, "not an app id") {
		t.Errorf("bad --apps without a client config: exit %d %q", code, errOut)
	}
	if _, errOut, code := f.cli(t, "s3cret-dave\n", false, "user", "add", "dave"); code != 1 || !strings.Contains(errOut, "no client config") {
		t.Errorf("no client config: exit %d %q", code, errOut)
	}
	f.api.mu.Lock()
	defer f.api.mu.Unlock()
	if len(f.api.seen) != 0 {
		t.Errorf("usage errors reached the master: %v", f.api.seen)
	}
}
