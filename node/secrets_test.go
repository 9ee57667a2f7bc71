package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
	"nodectl/cluster/pki"
	"nodectl/cluster/secrets"
	"nodectl/embed"
	"nodectl/node"
	"nodectl/node/nodetest"
)

// oneMemberEtcd starts a one-member etcd (stopped at the end of the test)
// and returns a client of it.
func oneMemberEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cport, pport := nodetest.FreePort(t), nodetest.FreePort(t)
	srv, err := embed.New(embed.Config{
		Name: "secrets-test", Dir: t.TempDir(),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cport), PeerURL: fmt.Sprintf("http://127.0.0.1:%d", pport),
		ListenClientURL: fmt.Sprintf("http://127.0.0.1:%d", cport), ListenPeerURL: fmt.Sprintf("http://127.0.0.1:%d", pport),
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func secretsCA(t *testing.T) *pki.Authority {
	t.Helper()
	ca, _, err := pki.InitAuthority(pki.Paths{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestSecretStore: values round-trip, are sealed at rest (etcd holds no
// plaintext), are bound to their path, open only under the same cluster
// secret, and list without values.
func TestSecretStore(t *testing.T) {
	t.Parallel()
	cli := oneMemberEtcd(t)
	ca := secretsCA(t)
	_, resolve, err := node.SecretStore(cli, ca, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := ca.AEAD(secrets.Info)
	store, _ := secrets.NewStore(cli, aead)
	ctx := t.Context()
	const v1, v2 = "hunter2-plain-value", "second-value-xyz"

	if created, err := store.Put(ctx, "db/password", []byte(v1)); err != nil || !created {
		t.Fatalf("put: created=%v %v", created, err)
	}
	if created, err := store.Put(ctx, "/db/password", []byte(v2)); err != nil || created {
		t.Fatalf("replace: created=%v %v", created, err)
	}
	if got, err := resolve(ctx, "/db/password"); err != nil || string(got) != v2 {
		t.Fatalf("get: %q %v", got, err)
	}
	if _, err := store.Put(ctx, "/team-a/x", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	// At rest: no plaintext under the prefix.
	raw, err := cli.Get(ctx, secrets.Prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range raw.Kvs {
		if bytes.Contains(kv.Value, []byte(v2)) || bytes.Contains(kv.Value, []byte(v1)) {
			t.Errorf("etcd key %s holds the value in clear", kv.Key)
		}
	}
	// Bound to its path: a record copied to another path does not open.
	if _, err := cli.Put(ctx, secrets.Prefix+"moved", string(raw.Kvs[0].Value)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, "/moved"); !errors.Is(err, secrets.ErrCorrupt) {
		t.Errorf("moved record: %v, want ErrCorrupt", err)
	}
	_, _ = cli.Delete(ctx, secrets.Prefix+"moved")
	// Another cluster's secret cannot open it.
	otherAEAD, _ := secretsCA(t).AEAD(secrets.Info)
	other, _ := secrets.NewStore(cli, otherAEAD)
	if _, err := other.Get(ctx, "/db/password"); !errors.Is(err, secrets.ErrCorrupt) {
		t.Errorf("other cluster key: %v, want ErrCorrupt", err)
	}
	// The CA key's seal label is not available for secrets.
	if _, err := ca.AEAD("nodectl ca key seal v1"); err == nil {
		t.Error("AEAD with the CA seal label was allowed")
	}
	list, err := store.List(ctx)
	if err != nil || len(list) != 2 || list[0].Path != "/db/password" || list[1].Path != "/team-a/x" {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, bad := range []string{"", "/", "a//b", "../x", "a/./b", "a/.hidden", "a b", strings.Repeat("a", 300)} {
		if _, err := store.Put(ctx, bad, []byte("v")); !errors.Is(err, secrets.ErrBadPath) {
			t.Errorf("put %q: %v, want ErrBadPath", bad, err)
		}
	}
	if _, err := store.Put(ctx, "/e", nil); !errors.Is(err, secrets.ErrBadValue) {
		t.Errorf("empty value: %v", err)
	}
	if err := store.Delete(ctx, "/db/password"); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(ctx, "/db/password"); !errors.Is(err, api.ErrSecretMissing) {
		t.Errorf("after delete: %v, want missing", err)
	}
	if err := store.Delete(ctx, "/db/password"); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
}

// TestSecretsAPIAuthz: the API authorizes by path with the principal's app
// prefixes; a list shows paths the caller may view and never a value.
func TestSecretsAPIAuthz(t *testing.T) {
	t.Parallel()
	cli := oneMemberEtcd(t)
	guard := auth.New(auth.Config{RootSubmissions: true})
	var logBuf bytes.Buffer
	var redacted []string
	api, _, err := node.SecretStore(cli, secretsCA(t), guard, func(v ...string) { redacted = append(redacted, v...) },
		slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// Every route has one known permission.
	for _, r := range api.Routes() {
		if _, ok := auth.Info(r.Perm); !ok {
			t.Errorf("route %s: unknown permission %q", r.Pattern, r.Perm)
		}
	}
	mux := auth.Mux(api.Routes())
	principals := map[string]auth.Principal{
		"admin": {Name: "admin", Kind: auth.KindCertificate, Superuser: true},
		"alice": {Name: "alice", Kind: auth.KindBasic, Apps: []string{"/team-a"}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principals[r.Header.Get("X-Test-Principal")]
		mux.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	}))
	t.Cleanup(srv.Close)
	do := func(who, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-Test-Principal", who)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	const aVal, bVal = "team-a-value-123", "team-b-value-456"
	for _, c := range []struct {
		who, method, path, body string
		want                    int
	}{
		{"admin", "PUT", "/v1/secrets/team-b/db", `{"value":"` + bVal + `"}`, 201},
		{"alice", "PUT", "/v1/secrets/team-a/db", `{"value":"` + aVal + `"}`, 201},
		{"alice", "PUT", "/v1/secrets/team-a/db", `{"value":"` + aVal + `"}`, 200},
		{"alice", "PUT", "/v1/secrets/team-b/db", `{"value":"stolen"}`, 403},
		{"alice", "PUT", "/v1/secrets/team-ab/db", `{"value":"stolen"}`, 403}, // a prefix is a path prefix
		{"alice", "DELETE", "/v1/secrets/team-b/db", "", 403},
		{"alice", "PUT", "/v1/secrets/team-a/x", `{"value":"v","extra":1}`, 400},
		{"alice", "PUT", "/v1/secrets/team-a/x", `{"value":""}`, 422},
		{"alice", "PUT", "/v1/secrets/team-a/.x", `{"value":"v"}`, 422},
		{"admin", "DELETE", "/v1/secrets/nope", "", 404},
	} {
		if code, b := do(c.who, c.method, c.path, c.body); code != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.who, c.method, c.path, code, b, c.want)
		}
	}
	code, body := do("alice", "GET", "/v1/secrets", "")
	var list secrets.ListResponse
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Secrets) != 1 || list.Secrets[0].Path != "/team-a/db" {
		t.Errorf("alice's list: %d %s, want /team-a/db only", code, body)
	}
	code, body = do("admin", "GET", "/v1/secrets", "")
	if code != 200 || !strings.Contains(body, "/team-b/db") || !strings.Contains(body, "/team-a/db") {
		t.Errorf("admin's list: %d %s", code, body)
	}
	if strings.Contains(body, aVal) || strings.Contains(body, bVal) {
		t.Errorf("a list shows a value: %s", body)
	}
	if strings.Contains(logBuf.String(), aVal) || strings.Contains(logBuf.String(), bVal) {
		t.Errorf("a value was logged: %s", logBuf.String())
	}
	if len(redacted) == 0 {
		t.Error("written values were not registered with the redactor")
	}
	if code, _ := do("admin", "DELETE", "/v1/secrets/team-b/db", ""); code != 204 {
		t.Errorf("admin delete: %d", code)
	}
	// Context is unused by the handlers beyond the principal; a call
	// without one is refused (no principal, no permission).
	if code, _ := do("nobody", "PUT", "/v1/secrets/team-a/db", `{"value":"x"}`); code != 403 {
		t.Errorf("no principal: %d, want 403", code)
	}
	_ = context.Background
}

// TestSecretsThroughTheMasterRouter: on a real node, a user limited to
// /team-a manages /team-a's secrets only, and cannot define an app that
// references another team's secret.
func TestSecretsThroughTheMasterRouter(t *testing.T) {
	t.Parallel()
	c := nodetest.Start(t, nodetest.Options{All: true})
	base := c.Master.URL()
	admin := nodetest.Client(30 * time.Second)
	out := outsider(t, c)
	if code, _, body := send(t, admin, base, call{method: "POST", path: auth.PathUsers, ctype: "application/json", body: `{"principal":"alice","secret":"alice-secret-0001","apps":["/team-a"]}`}); code != 201 {
		t.Fatalf("add user: %d %s", code, body)
	}
	alice := call{user: "alice", secret: "alice-secret-0001", ctype: "application/json"}
	as := func(c call, method, path, body string) call { c.method, c.path, c.body = method, path, body; return c }
	if code, _, b := send(t, admin, base, call{method: "PUT", path: "/v1/secrets/team-b/db", ctype: "application/json", body: `{"value":"team-b-value"}`}); code != 201 {
		t.Fatalf("admin put: %d %s", code, b)
	}
	if code, _, b := send(t, out, base, as(alice, "PUT", "/v1/secrets/team-a/db", `{"value":"team-a-value"}`)); code != 201 {
		t.Fatalf("alice put /team-a/db: %d %s", code, b)
	}
	if code, _, b := send(t, out, base, as(alice, "PUT", "/v1/secrets/team-b/db", `{"value":"x"}`)); code != 403 {
		t.Errorf("alice put /team-b/db: %d %s, want 403", code, b)
	}
	code, _, b := send(t, out, base, as(alice, "GET", "/v1/secrets", ""))
	if code != 200 || !strings.Contains(string(b), "/team-a/db") || strings.Contains(string(b), "/team-b") || strings.Contains(string(b), "value") {
		t.Errorf("alice's list: %d %s", code, b)
	}
	app := func(source string) string {
		return `{"id":"/team-a/web","cmd":"sleep 600","cpus":0.01,"mem":16,"instances":0,
			"env":{"P":{"secret":"s"}},"secrets":{"s":{"source":"` + source + `"}}}`
	}
	if code, _, b := send(t, out, base, as(alice, "POST", "/v2/apps", app("/team-b/db"))); code != 403 || !strings.Contains(string(b), "/team-b/db") {
		t.Errorf("alice's app with /team-b/db: %d %s, want 403 naming it", code, b)
	}
	if code, _, b := send(t, out, base, as(alice, "POST", "/v2/apps", app("/team-a/db"))); code != 201 {
		t.Errorf("alice's app with /team-a/db: %d %s", code, b)
	}
	if code, _, b := send(t, out, base, as(alice, "GET", "/v2/apps/team-a/web", "")); code != 200 || strings.Contains(string(b), "team-a-value") {
		t.Errorf("app answer: %d %s", code, b)
	}
}

// TestSecretCLIUsage: bad input is exit 2 with one line, before any dial.
func TestSecretCLIUsage(t *testing.T) {
	defer node.SetTerminal(true)()
	f := t.TempDir() + "/v"
	for _, c := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"secret", "create", "/a/b"}, "", "no value"},
		{[]string{"secret", "create", "/a/b", "--value", "x", "--from-file", f}, "", "one of"},
		{[]string{"secret", "create", "/a/../b", "--value", "x"}, "", "invalid secret path"},
		{[]string{"secret", "create", "/a/b", "--value", ""}, "", "empty"},
		{[]string{"secret", "create", "/a/b", "--from-file", f + "-missing"}, "", "--from-file"},
		{[]string{"secret", "create"}, "", "usage"},
		{[]string{"secret", "rm", "/a/b", "extra"}, "", "usage"},
		{[]string{"secret", "ls", "-o", "xml"}, "", "want table, wide, json or yaml"},
	} {
		var stdout, stderr bytes.Buffer
		code := node.RunCLIInput(c.args, strings.NewReader(c.stdin), &stdout, &stderr)
		msg := strings.TrimSpace(stderr.String())
		if code != 2 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d %q, want 2 and one line with %q", c.args, code, msg, c.want)
		}
	}
}
