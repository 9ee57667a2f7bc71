package node_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
	"nodectl/cluster/pki"
	"nodectl/node"
	"nodectl/node/nodetest"
)

// outsider is an HTTPS client that trusts the cluster CA and presents no
// certificate: someone on the network with no credentials.
func outsider(t *testing.T, c *nodetest.Cluster) *http.Client {
	t.Helper()
	cc, err := pki.LoadClientConfig(nodetest.ClientConfigOf(c.Master.Config.WorkDir))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(cc.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type call struct {
	method, path, user, secret, ctype, origin string
	body                                      string
}

func send(t *testing.T, hc *http.Client, base string, c call) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if c.body != "" {
		rd = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.secret)
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, b
}

// concretePath turns a route pattern's path into one it matches.
func concretePath(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	path = regexp.MustCompile(`\{\$\}`).ReplaceAllString(path, "")
	path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
	if strings.HasSuffix(path, "/") && path != "/" {
		path += "x"
	}
	return method, path
}

// TestAnonymousRefusedEverywhere walks the master's route table (from the
// router, GET /auth/routes) and calls every route as an outsider: 401
// with WWW-Authenticate everywhere but the public routes.
func TestAnonymousRefusedEverywhere(t *testing.T) {
	t.Parallel()
	c := nodetest.Start(t, nodetest.Options{All: true})
	base := c.Master.URL()
	var table struct{ Routes []auth.RouteInfo }
	if err := nodetest.GetJSON(base+auth.PathRoutes, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Routes) < 60 {
		t.Fatalf("route table has %d routes", len(table.Routes))
	}
	checkRouteDoc(t, table.Routes)
	out := outsider(t, c)
	public := map[string]bool{}
	for _, r := range table.Routes {
		method, path := concretePath(r.Pattern)
		code, h, body := send(t, out, base, call{method: method, path: path, ctype: "application/json", body: "{}"})
		if r.Permission == auth.Public {
			public[r.Pattern] = true
			if code == http.StatusUnauthorized && !(r.Pattern == "POST "+auth.PathLogin && strings.Contains(string(body), "invalid principal or secret")) {
				t.Errorf("public route %s answered 401: %s", r.Pattern, body)
			}
			continue
		}
		if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("anonymous %s %s (%s): %d %q %s, want 401 with WWW-Authenticate", method, path, r.Pattern, code, h.Get("WWW-Authenticate"), body)
		}
	}
	// Exactly these are public: liveness, the UI's static page, the CA,
	// the join (its token is the credential) and the login form.
	want := []string{"GET /health", "GET /master/health", "GET /ping", "GET /{$}", "GET /ui/", "GET " + pki.PathCACerts, "POST " + pki.PathJoin, "POST " + auth.PathLogin}
	for _, p := range want {
		if !public[p] {
			t.Errorf("%s is not public", p)
		}
		delete(public, p)
	}
	if len(public) > 0 {
		t.Errorf("unexpected public routes: %v", public)
	}
	// Unknown paths need a principal too.
	if code, _, _ := send(t, out, base, call{method: "GET", path: "/no/such/thing"}); code != http.StatusUnauthorized {
		t.Errorf("anonymous unknown path: %d", code)
	}
}

const aclsForTest = `{
  "register_frameworks": [
    {"principals": {"values": ["fw-a"]}, "roles": {"values": ["a"]}},
    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
  ],
  "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}, {"principals": {"type": "ANY"}, "framework_principals": {"type": "NONE"}}],
  "reserve_resources": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}, {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}],
  "create_volumes": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}, {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}],
  "mark_agents_gone": [{"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}}, {"principals": {"type": "ANY"}, "agents": {"type": "NONE"}}]
}`

const credsForTest = `{"credentials":[{"principal":"fw-a","secret":"fw-a-secret-0001"},{"principal":"bob","secret":"bob-secret-00001"},{"principal":"ops","secret":"ops-secret-00001"}]}`

func TestPrincipalsAndPermissions(t *testing.T) {
	t.Parallel()
	c := nodetest.Start(t, nodetest.Options{All: true, Configure: func(cfg *node.Config) {
		cfg.Credentials, cfg.ACLs = credsForTest, aclsForTest
	}})
	base := c.Master.URL()
	admin := nodetest.Client(30 * time.Second)
	out := outsider(t, c)

	// The first master created the admin principal; its secret is in the
	// work dir, 0600.
	secretFile := c.Master.Config.WorkDir + "/" + node.AdminSecretName
	st, err := os.Stat(secretFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin secret file: %v %v", err, st)
	}
	adminSecret, _ := os.ReadFile(secretFile)
	if code, _, body := send(t, out, base, call{method: "GET", path: "/auth/whoami", user: "admin", secret: strings.TrimSpace(string(adminSecret))}); code != 200 || !strings.Contains(string(body), `"superuser":true`) {
		t.Fatalf("admin by Basic: %d %s", code, body)
	}

	// A user limited to /team-a.
	if code, _, body := send(t, admin, base, call{method: "POST", path: auth.PathUsers, ctype: "application/json", body: `{"principal":"alice","secret":"alice-secret-0001","apps":["/team-a"]}`}); code != 201 {
		t.Fatalf("add user: %d %s", code, body)
	}
	if code, _, body := send(t, admin, base, call{method: "GET", path: auth.PathUsers}); code != 200 || strings.Contains(string(body), "argon2") || strings.Contains(string(body), "alice-secret") {
		t.Fatalf("list users: %d %s", code, body)
	}
	alice := call{user: "alice", secret: "alice-secret-0001", ctype: "application/json"}
	as := func(c call, method, path, body string) call { c.method, c.path, c.body = method, path, body; return c }
	app := func(id string) string {
		return `{"id":"` + id + `","cmd":"sleep 600","cpus":0.01,"mem":16,"instances":0}`
	}
	if code, _, body := send(t, out, base, as(alice, "POST", "/v2/apps", app("/team-a/web"))); code != 201 {
		t.Fatalf("alice creates /team-a/web: %d %s", code, body)
	}
	if code, _, body := send(t, out, base, as(alice, "POST", "/v2/apps", app("/team-b/web"))); code != 403 {
		t.Fatalf("alice creates /team-b/web: %d %s, want 403", code, body)
	}
	if code, _, body := send(t, admin, base, call{method: "POST", path: "/v2/apps", ctype: "application/json", body: app("/team-b/db")}); code != 201 {
		t.Fatalf("admin creates /team-b/db: %d %s", code, body)
	}
	for _, p := range []string{"/v2/apps/team-b/db", "/v2/apps/team-b/db/versions"} {
		if code, _, _ := send(t, out, base, as(alice, "GET", p, "")); code != 403 {
			t.Errorf("alice GET %s: %d, want 403", p, code)
		}
	}
	if code, _, _ := send(t, out, base, as(alice, "DELETE", "/v2/apps/team-b/db", "")); code != 403 {
		t.Errorf("alice DELETE team-b: %d, want 403", code)
	}
	if code, _, _ := send(t, out, base, as(alice, "PUT", "/v2/apps/team-b/db", app("/team-b/db"))); code != 403 {
		t.Errorf("alice PUT team-b: %d, want 403", code)
	}
	code, _, body := send(t, out, base, as(alice, "GET", "/v2/apps", ""))
	if code != 200 || !strings.Contains(string(body), "/team-a/web") || strings.Contains(string(body), "/team-b") {
		t.Fatalf("alice's /v2/apps: %d %s", code, body)
	}
	code, _, body = send(t, out, base, as(alice, "GET", "/v2/deployments", ""))
	if code != 200 || strings.Contains(string(body), "/team-b") {
		t.Fatalf("alice's /v2/deployments: %d %s", code, body)
	}
	for _, p := range []string{auth.PathUsers, pki.PathTokens, api.PathSnapshot} {
		if code, _, _ := send(t, out, base, as(alice, "GET", p, "")); code != 403 {
			t.Errorf("alice GET %s: %d, want 403", p, code)
		}
	}

	// Operator endpoints need their ACL: bob may not, ops may (past
	// authorization: it then fails on the made-up ids).
	form := func(principal string) string {
		res := url.QueryEscape(`[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"r","principal":"` + principal + `"}]}]`)
		return "frameworkId=x&slaveId=x&resources=" + res + "&volumes=" + res
	}
	for _, p := range []string{"/master/teardown", "/master/reserve", "/master/create-volumes", "/master/agents/x/gone"} {
		c := call{method: "POST", path: p, ctype: "application/x-www-form-urlencoded", body: form("bob")}
		c.user, c.secret = "bob", "bob-secret-00001"
		if code, _, b := send(t, out, base, c); code != 403 {
			t.Errorf("bob POST %s: %d %s, want 403", p, code, b)
		}
		c.user, c.secret, c.body = "ops", "ops-secret-00001", form("ops")
		if code, _, b := send(t, out, base, c); code == 403 || code == 401 {
			t.Errorf("ops POST %s: %d %s, want past authorization", p, code, b)
		}
	}

	// A framework principal subscribes only in its roles.
	sub := func(user, secret, role string) int {
		c := call{method: "POST", path: "/api/v1/scheduler", user: user, secret: secret, ctype: "application/json",
			body: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"nobody","name":"t","roles":["` + role + `"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`}
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.SetBasicAuth(user, secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := out.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			_, _ = bufio.NewReader(resp.Body).ReadString('\n') // the SUBSCRIBED record's length
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := sub("fw-a", "fw-a-secret-0001", "x"); code != 403 {
		t.Errorf("fw-a SUBSCRIBE in role x: %d, want 403", code)
	}
	if code := sub("fw-a", "fw-a-secret-0001", "a"); code != 200 {
		t.Errorf("fw-a SUBSCRIBE in role a: %d, want 200", code)
	}

	// Web UI session: login, use, CSRF, logout.
	jar, _ := cookiejar.New(nil)
	browser := outsider(t, c)
	browser.Jar = jar
	code, h, body := send(t, browser, base, call{method: "POST", path: auth.PathLogin, ctype: "application/json", body: `{"principal":"alice","secret":"alice-secret-0001"}`})
	ck := h.Get("Set-Cookie")
	if code != 200 || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "SameSite=Strict") {
		t.Fatalf("login: %d %q %s", code, ck, body)
	}
	if code, _, _ := send(t, browser, base, call{method: "GET", path: "/v2/apps"}); code != 200 {
		t.Fatalf("session GET: %d", code)
	}
	origin := base
	if code, _, b := send(t, browser, base, call{method: "POST", path: "/v2/apps", ctype: "text/plain", origin: origin, body: app("/team-a/csrf1")}); code != 403 {
		t.Errorf("text/plain POST with a session: %d %s, want 403", code, b)
	}
	if code, _, b := send(t, browser, base, call{method: "POST", path: "/v2/apps", ctype: "application/json", origin: "https://evil.example", body: app("/team-a/csrf2")}); code != 403 {
		t.Errorf("foreign-Origin POST with a session: %d %s, want 403", code, b)
	}
	if code, _, b := send(t, browser, base, call{method: "POST", path: "/v2/apps", ctype: "application/json", origin: origin, body: app("/team-a/ok")}); code != 201 {
		t.Errorf("same-origin JSON POST with a session: %d %s, want 201", code, b)
	}
	if code, _, _ := send(t, browser, base, call{method: "POST", path: auth.PathLogout, origin: origin}); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := send(t, browser, base, call{method: "GET", path: "/v2/apps"}); code != 401 {
		t.Errorf("after logout: %d, want 401", code)
	}
	// A wrong secret and an unknown principal are refused alike.
	_, _, b1 := send(t, out, base, call{method: "POST", path: auth.PathLogin, ctype: "application/json", body: `{"principal":"alice","secret":"nope-nope-nope"}`})
	_, _, b2 := send(t, out, base, call{method: "POST", path: auth.PathLogin, ctype: "application/json", body: `{"principal":"nobody","secret":"nope-nope-nope"}`})
	if !bytes.Equal(b1, b2) {
		t.Errorf("refusals differ: %s vs %s", b1, b2)
	}
	var who auth.WhoamiResponse
	_, _, wb := send(t, admin, base, call{method: "GET", path: auth.PathWhoami})
	if err := json.Unmarshal(wb, &who); err != nil || !who.Superuser || who.Kind != auth.KindCertificate {
		t.Errorf("whoami with the admin certificate: %s", wb)
	}
}

// checkRouteDoc compares docs/security.md's route table with the router's
// (NODECTL_UPDATE_DOCS=1 rewrites it).
func checkRouteDoc(t *testing.T, routes []auth.RouteInfo) {
	t.Helper()
	var b strings.Builder
	b.WriteString("<!-- routes -->\n| Route | Permission | Realm |\n|---|---|---|\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", r.Pattern, r.Permission, r.Realm)
	}
	b.WriteString("<!-- /routes -->")
	const doc = "../docs/security.md"
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)<!-- routes -->.*<!-- /routes -->`)
	if !re.Match(raw) {
		t.Fatalf("%s has no <!-- routes --> section", doc)
	}
	updated := re.ReplaceAllLiteral(raw, []byte(b.String()))
	if bytes.Equal(updated, raw) {
		return
	}
	if os.Getenv("NODECTL_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(doc, updated, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's route table differs from the router's: run NODECTL_UPDATE_DOCS=1 go test ./node -run TestAnonymousRefusedEverywhere", doc)
}
