package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestParseCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		err      string
	}{
		{"json", `{"credentials":[{"principal":"a","secret":"s1"},{"principal":"b","secret":"s2"}]}`, 2, ""},
		{"empty", ``, 0, ""},
		{"text", "a s1\n# comment\n\nb s2\n", 2, ""},
		{"dup", `{"credentials":[{"principal":"a","secret":"s"},{"principal":"a","secret":"t"}]}`, 0, "listed twice"},
		{"unknown field", `{"credentials":[{"principal":"a","secret":"s","x":1}]}`, 0, "unknown field"},
		{"no secret", `{"credentials":[{"principal":"a"}]}`, 0, "needs a principal and a secret"},
		{"bad text", "a b c\n", 0, "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "creds")
			if err := os.WriteFile(path, []byte(tc.in), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, flag := range []string{path, "file://" + path} {
				c, err := ParseCredentials(flag)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("%s: err %v, want %q", flag, err, tc.err)
					}
					if strings.Contains(err.Error(), "s1") || strings.Contains(err.Error(), `"t"`) {
						t.Fatalf("error quotes a secret: %v", err)
					}
					continue
				}
				if err != nil || c.Len() != tc.n {
					t.Fatalf("%s: %v, %d credentials, want %d", flag, err, c.Len(), tc.n)
				}
			}
		})
	}
	c, _ := ParseCredentials(`{"credentials":[{"principal":"a","secret":"s1"}]}`)
	if known, ok := c.check("a", "s1"); !known || !ok {
		t.Fatal("right secret refused")
	}
	if known, ok := c.check("a", "s2"); !known || ok {
		t.Fatal("wrong secret accepted")
	}
	if known, _ := c.check("z", "s1"); known {
		t.Fatal("unknown principal known")
	}
}

func TestACLs(t *testing.T) {
	a, err := ParseACLs(`{
	  "permissive": false,
	  "register_frameworks": [
	    {"principals": {"values": ["ops"]}, "roles": {"values": ["x"]}},
	    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
	  ],
	  "view_apps": [{"principals": {"values": ["alice"]}, "apps": {"values": ["/team-a/*"]}}],
	  "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}]
	}`)
	if err != nil {
		t.Fatal(err)
	}
	g := New(Config{ACLs: a, RootSubmissions: true, Logger: quiet()})
	user := func(n string) Principal { return Principal{Name: n, Kind: KindBasic} }
	for _, tc := range []struct {
		p      Principal
		perm   Perm
		object string
		want   bool
	}{
		{user("ops"), RegisterFrameworks, "x", true},
		{user("ops"), RegisterFrameworks, "y", false}, // NONE rule for everyone else
		{user("bob"), RegisterFrameworks, "x", false},
		{user("alice"), ViewApps, "/team-a/web", true},
		{user("alice"), ViewApps, "/team-a", true},
		{user("alice"), ViewApps, "/team-ab", false},
		{user("alice"), ViewApps, "/team-b/web", false}, // permissive false
		{user("ops"), TeardownFrameworks, "anyone", true},
		{user("bob"), TeardownFrameworks, "anyone", false},
		{user("bob"), ManageCluster, "", false},
		{Principal{Name: "admin", Superuser: true}, ManageCluster, "", true},
		{Principal{Name: "agent1", Kind: KindCertificate, Node: true}, AgentProtocol, "", true},
		{Principal{Name: "agent1", Kind: KindCertificate, Node: true}, GetEndpoints, "", false},
		{Principal{Name: "admin", Superuser: true}, AgentProtocol, "", false},
		{Principal{Kind: KindAnonymous}, GetEndpoints, "", false},
	} {
		if got := g.Allowed(tc.p, tc.perm, tc.object); got != tc.want {
			t.Errorf("%s %s %q: %v, want %v", tc.p.Name, tc.perm, tc.object, got, tc.want)
		}
	}
	for _, bad := range []string{
		`{"view_flagz": []}`,
		`{"register_frameworks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}]}`,
		`{"register_frameworks": [{"roles": {"type": "ANY"}}]}`,
		`{"register_frameworks": [{"principals": {"type": "SOMETIMES"}}]}`,
		`not json`,
	} {
		if _, err := ParseACLs(bad); err == nil {
			t.Errorf("ParseACLs(%s) accepted", bad)
		}
	}
}

func TestAppScopedUser(t *testing.T) {
	g := New(Config{RootSubmissions: false, Logger: quiet()})
	p := Principal{Name: "alice", Kind: KindBasic, Apps: []string{"/team-a"}}
	for _, tc := range []struct {
		perm   Perm
		object string
		want   bool
	}{
		{CreateApps, "/team-a/web", true},
		{CreateApps, "/team-b/web", false},
		{DeleteApps, "/team-a", true},
		{UpdateApps, "", true}, // route level: it has some app
		{GetEndpoints, "", true},
		{TeardownFrameworks, "x", false},
		{ReserveResources, "x", false},
		{ManageCluster, "", false},
		{RunTasks, "nobody", true},
		{RunTasks, "root", false}, // --root_submissions=false
	} {
		if got := g.Allowed(p, tc.perm, tc.object); got != tc.want {
			t.Errorf("%s %q: %v, want %v", tc.perm, tc.object, got, tc.want)
		}
	}
	if g.Allowed(Principal{Name: "admin", Superuser: true}, RunTasks, "root") {
		t.Error("--root_submissions=false let a superuser run as root")
	}
}

func TestRouter(t *testing.T) {
	creds, _ := ParseCredentials(`{"credentials":[{"principal":"alice","secret":"alice-secret-1"}]}`)
	fw, _ := ParseFirewall(`{"disabled_endpoints":{"paths":["/off"]}}`)
	rl, _ := ParseRateLimits(`{"limits":[{"principal":"alice","qps":0.001,"capacity":2}]}`)
	g := New(Config{Credentials: creds, Firewall: fw, RateLimits: rl, RootSubmissions: true, Logger: quiet()})
	rt := g.NewRouter()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	rt.Handle("GET /health", Public, ok)
	rt.Handle("GET /state", GetEndpoints, ok)
	rt.Handle("GET /off", GetEndpoints, ok)
	rt.Handle("POST /tokens", ManageCluster, ok)
	srv := httptest.NewServer(rt)
	defer srv.Close()
	do := func(method, path, user, secret string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if user != "" {
			req.SetBasicAuth(user, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := do("GET", "/health", "", ""); r.StatusCode != 200 {
		t.Fatalf("/health: %s", r.Status)
	}
	for _, p := range []string{"/state", "/nowhere"} {
		r := do("GET", p, "", "")
		if r.StatusCode != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("anonymous %s: %s %q", p, r.Status, r.Header.Get("WWW-Authenticate"))
		}
	}
	if r := do("GET", "/state", "alice", "wrong"); r.StatusCode != 401 {
		t.Fatalf("wrong secret: %s", r.Status)
	}
	if r := do("GET", "/state", "mallory", "alice-secret-1"); r.StatusCode != 401 {
		t.Fatalf("unknown principal: %s", r.Status)
	}
	if r := do("GET", "/off", "alice", "alice-secret-1"); r.StatusCode != 403 {
		t.Fatalf("firewalled: %s", r.Status)
	}
	if r := do("POST", "/tokens", "alice", "alice-secret-1"); r.StatusCode != 403 {
		t.Fatalf("manage_cluster as a plain user: %s", r.Status)
	}
	// Rate limit: capacity 2, refilled once in 1000 s; the requests above used 1 (the
	// firewall answers before authentication).
	r := do("GET", "/state", "alice", "alice-secret-1")
	if r.StatusCode != 200 {
		t.Fatalf("within the rate limit: %s", r.Status)
	}
	r = do("GET", "/state", "alice", "alice-secret-1")
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("over the rate limit: %s, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	// Failed attempts are limited per client: after the burst even the
	// right secret is refused with 429.
	for range failureBurst + 1 {
		do("GET", "/health", "x", "y") // public: not counted
		do("GET", "/state", "x", "y")
	}
	if r := do("GET", "/state", "alice", "alice-secret-1"); r.StatusCode != 429 {
		t.Fatalf("after many failures: %s, want 429", r.Status)
	}
}

func TestCSRF(t *testing.T) {
	p := Principal{Name: "alice", Kind: KindSession, session: "tok"}
	mk := func(ct, origin, token string, body bool) *http.Request {
		var rd io.Reader
		if body {
			rd = strings.NewReader(`{"id":"/x"}`)
		}
		r := httptest.NewRequest("POST", "https://master:5050/v2/apps", rd)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if token != "" {
			r.Header.Set(CSRFHeader, token)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{"json same origin", mk("application/json", "https://master:5050", "", true), true},
		{"text/plain", mk("text/plain", "https://master:5050", "", true), false},
		{"form", mk("application/x-www-form-urlencoded", "https://master:5050", "", true), false},
		{"foreign origin", mk("application/json", "https://evil.example", "", true), false},
		{"no origin no token", mk("application/json", "", "", true), false},
		{"no origin, token", mk("application/json", "", csrfToken("tok"), true), true},
		{"no origin, wrong token", mk("application/json", "", "abc", true), false},
		{"no body same origin", mk("", "https://master:5050", "", false), true},
	} {
		if got := csrfRefusal(tc.r, p) == ""; got != tc.ok {
			t.Errorf("%s: allowed %v, want %v (%s)", tc.name, got, tc.ok, csrfRefusal(tc.r, p))
		}
	}
}

func TestHash(t *testing.T) {
	h, err := HashSecret("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	if !checkHash(h, "correct horse battery") || checkHash(h, "correct horse battery!") || checkHash("garbage", "x") {
		t.Fatal("checkHash")
	}
}

// AddHashed takes only what HashSecret makes: a user with a clear or an
// empty "hash" would be one whose secret is its stored value.
func TestAddHashedRefusesWhatIsNoHash(t *testing.T) {
	u := NewUsers(nil) // refused before etcd is asked
	for _, h := range []string{"", "correct horse battery", "$2a$10$bcrypt"} {
		if err := u.AddHashed(context.Background(), User{Principal: "ops", Hash: h}); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("hash %q: %v, want ErrInvalidUser", h, err)
		}
	}
	h, err := HashSecret("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.AddHashed(context.Background(), User{Principal: "no/slash", Hash: h}); err == nil {
		t.Error("an invalid principal was accepted")
	}
}

func TestRoutesNeedKnownPerm(t *testing.T) {
	rt := New(Config{Logger: quiet()}).NewRouter()
	defer func() {
		if recover() == nil {
			t.Fatal("a route with an unknown permission was registered")
		}
	}()
	rt.Handle("GET /x", Perm("nonsense"), http.NotFoundHandler())
}

// The constant dummy hash has today's argon2id parameters, so an unknown
// principal costs what a known one with a wrong secret does.
func TestDummyHashParameters(t *testing.T) {
	want := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, argonMemory, argonTime, argonThreads)
	if !strings.HasPrefix(dummyHash, want) {
		t.Fatalf("dummyHash %q does not start with %q: make it again with HashSecret", dummyHash, want)
	}
	if !checkHash(dummyHash, "nodectl-no-such-user") {
		t.Fatal("dummyHash is not a well-formed argon2id hash")
	}
}
