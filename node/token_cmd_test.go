package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster"
	"nodectl/cluster/pki"
	"nodectl/embed"
	"nodectl/node"
	"nodectl/node/nodetest"
)

// tokMaster is the PKI half of a master: real etcd, the CA, the join
// service on a TLS port. up.go wires the same pieces.
type tokMaster struct {
	url, work  string
	auth       *pki.Authority
	id         *pki.Identity
	tokens     *pki.Tokens
	etcd       *clientv3.Client
	masterJoin atomic.Int32 // AddMaster hook calls
	log        lockedBuffer // the join handler's log
}

// lockedBuffer is a log destination written by server goroutines and read
// by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tokStartEtcd(t testing.TB) *clientv3.Client {
	t.Helper()
	srv, err := embed.New(embed.Config{
		Dir:       filepath.Join(t.TempDir(), "etcd"),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", nodetest.FreePort(t)),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", nodetest.FreePort(t)),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
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
	t.Cleanup(func() { cli.Close() })
	return cli
}

func tokStartMaster(t testing.TB, ip string) *tokMaster {
	t.Helper()
	m := &tokMaster{work: t.TempDir(), etcd: tokStartEtcd(t)}
	p := pki.Paths{Dir: filepath.Join(m.work, "pki")}
	var err error
	m.auth, m.id, _, err = pki.InitMaster(p, pki.SignRequest{Name: "m1", IPs: pki.NodeIPs(ip)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.auth.Publish(t.Context(), m.etcd); err != nil {
		t.Fatal(err)
	}
	m.tokens = pki.NewTokens(m.etcd, m.auth.Hash())
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	m.url = "https://" + ln.Addr().String()
	join, err := cluster.NewJoin(cluster.JoinConfig{
		Authority: m.auth, Tokens: m.tokens, URL: m.url,
		AddMaster: func(ctx context.Context, req pki.JoinRequest, cert *x509.Certificate) (json.RawMessage, error) {
			m.masterJoin.Add(1)
			return json.RawMessage(`{"initial_cluster":"x"}`), nil
		},
		Logger: slog.New(slog.NewTextHandler(&m.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range join.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	// A node-only endpoint, as the agent protocol will be.
	mux.Handle("POST /api/agent/v1/ping", pki.RequireNode(pki.RoleAgent)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := pki.PeerOf(r)
		io.WriteString(w, p.Name)
	})))
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(ln, pki.ServerTLS(m.id)))
	t.Cleanup(func() { srv.Close() })
	if _, err := pki.SetupAdmin(m.work, m.url, m.auth, p); err != nil {
		t.Fatal(err)
	}
	return m
}

// tokCLI runs nodectl in-process with the master's work dir in the
// environment, as an operator on the master would.
func tokCLI(t *testing.T, m *tokMaster, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("NODECTL_WORK_DIR", m.work)
	var out, errb bytes.Buffer
	code := node.RunCLI(args, &out, &errb)
	return code, out.String(), errb.String()
}

func tokCreate(t *testing.T, m *tokMaster, args ...string) string {
	t.Helper()
	code, out, errOut := tokCLI(t, m, append([]string{"token", "create"}, args...)...)
	if code != 0 {
		t.Fatalf("token create %v: exit %d: %s", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("token create printed %q", out)
	}
	if _, err := pki.ParseToken(lines[0]); err != nil {
		t.Fatalf("first line %q: %v", lines[0], err)
	}
	return lines[0]
}

func tokJoin(t *testing.T, m *tokMaster, role, token string) (*pki.JoinResult, error) {
	t.Helper()
	return pki.Join(t.Context(), pki.JoinConfig{
		URL: m.url, Token: token, Paths: pki.Paths{Dir: t.TempDir()}, Role: role,
		Hostname: "node-" + role, IPs: pki.NodeIPs("127.0.0.1"), Timeout: 10 * time.Second,
	})
}

// Join tokens end to end against real etcd: the CLI creates them on a
// master, nodes join with them, and expired, used-up, revoked, unknown,
// wrong-role and other-CA tokens are refused, each saying which.
func TestTokenJoinAndRefusals(t *testing.T) {
	m := tokStartMaster(t, "127.0.0.1")

	// token create: the token alone, then a ready-to-paste join command.
	code, out, errOut := tokCLI(t, m, "token", "create", "--role", "agent", "--uses", "1")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	once := lines[0]
	if want := "nodectl up --role=agent --join " + m.url + " --token " + once; len(lines) != 2 || lines[1] != want {
		t.Fatalf("token create output:\n%s\nwant second line %q", out, want)
	}

	res, err := tokJoin(t, m, "agent", once)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if got := res.Identity.Roles(); len(got) != 1 || got[0] != pki.RoleAgent || res.Authority != nil {
		t.Fatalf("agent joined with roles %v, authority %v", got, res.Authority != nil)
	}
	if len(res.Masters) != 1 || "https://"+res.Masters[0] != m.url {
		t.Errorf("masters %v", res.Masters)
	}
	// The new certificate opens node-only endpoints.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(res.Identity, pki.RoleMaster)}}
	resp, err := c.Post(m.url+"/api/agent/v1/ping", "application/json", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("agent ping with its certificate: %v %v", resp, err)
	}
	resp.Body.Close()

	// Renewal over HTTPS with the current certificate: same name and roles, new serial.
	before := res.Identity.Cert()
	csr, _ := res.Identity.CSR()
	certPEM, err := pki.HTTPRenew(res.Identity, func() []string { return res.Masters })(t.Context(), csr)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if err := res.Identity.Install(certPEM); err != nil {
		t.Fatal(err)
	}
	after := res.Identity.Cert()
	if after.SerialNumber.Cmp(before.SerialNumber) == 0 || pki.CertName(after) != "node-agent" || !slices.Equal(pki.CertRoles(after), []string{pki.RoleAgent}) {
		t.Errorf("renewed: serial same=%v name %s roles %v", after.SerialNumber.Cmp(before.SerialNumber) == 0, pki.CertName(after), pki.CertRoles(after))
	}

	// First-master bootstrap commands.
	agentCmd, masterCmd, err := cluster.CreateJoinCommands(t.Context(), m.tokens, m.url, time.Hour)
	if err != nil || !strings.HasPrefix(agentCmd, "nodectl up --role=agent --join "+m.url+" --token NDCTL1-") || !strings.HasPrefix(masterCmd, "nodectl up --role=master") {
		t.Errorf("bootstrap commands: %q %q %v", agentCmd, masterCmd, err)
	}

	msgs := map[string]string{}
	var presented []string // the secrets of every token presented
	refused := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
			return
		}
		msgs[name] = err.Error()
	}
	join := func(role, token string) error {
		t.Helper()
		if tk, err := pki.ParseToken(token); err == nil {
			presented = append(presented, tk.Secret)
		}
		_, err := tokJoin(t, m, role, token)
		return err
	}
	presented = append(presented, strings.Split(once, ".")[1])
	err = join("agent", once)
	refused("used twice", err, pki.ErrTokenUsedUp)

	wrong, _ := pki.ParseToken(tokCreate(t, m, "--role", "agent"))
	presented = append(presented, wrong.Secret)
	wrong.Secret = strings.Repeat("0", 32)
	refused("wrong secret", join("agent", wrong.String()), pki.ErrTokenSecret)

	short := tokCreate(t, m, "--role", "agent", "--ttl", "1ms")
	nodetest.WaitFor(t, 5*time.Second, "token expiry", func() bool {
		err = join("agent", short)
		return err != nil
	})
	refused("expired", err, pki.ErrTokenExpired)

	revoked := tokCreate(t, m, "--role", "agent")
	tk, _ := pki.ParseToken(revoked)
	if code, out, errOut := tokCLI(t, m, "token", "revoke", tk.ID); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %d %s %s", code, out, errOut)
	}
	refused("revoked", join("agent", revoked), pki.ErrTokenRevoked)

	other := tokStartMaster(t, "127.0.0.1")
	foreign := tokCreate(t, other, "--role", "agent")
	refused("other CA", join("agent", foreign), pki.ErrWrongCA)

	tk.ID = "0123456789abcdef"
	refused("unknown", join("agent", tk.String()), pki.ErrTokenUnknown)

	agentTok := tokCreate(t, m, "--role", "agent")
	refused("wrong role", join("master", agentTok), pki.ErrTokenRole)

	// No refusal and no line of the master's log repeats a secret.
	for name, msg := range msgs {
		for _, s := range presented {
			if strings.Contains(msg, s) {
				t.Errorf("%s: the message %q shows a token secret", name, msg)
			}
		}
	}
	for _, s := range presented {
		if strings.Contains(m.log.String(), s) {
			t.Errorf("the join handler logged a token secret:\n%s", m.log.String())
		}
	}

	for name, msg := range msgs {
		t.Logf("%s: %s", name, msg)
	}
	seen := map[string]string{}
	for name, msg := range msgs {
		if prev, dup := seen[msg]; dup {
			t.Errorf("%s and %s refused with the same message %q", name, prev, msg)
		}
		seen[msg] = name
	}
	for name, word := range map[string]string{"used twice": "used up", "expired": "expired", "revoked": "revoked", "other CA": "another cluster CA", "unknown": "unknown"} {
		if !strings.Contains(msgs[name], word) {
			t.Errorf("%s: message %q does not say %q", name, msgs[name], word)
		}
	}

	// A master join gets the CA key (sealed, with its secret) and runs the hook.
	mres, err := tokJoin(t, m, "master", tokCreate(t, m, "--role", "master"))
	if err != nil {
		t.Fatalf("master join: %v", err)
	}
	if mres.Authority == nil || mres.Authority.Hash() != m.auth.Hash() || m.masterJoin.Load() != 1 || !strings.Contains(string(mres.Member), "initial_cluster") {
		t.Fatalf("master join: authority %v hook calls %d member %s", mres.Authority != nil, m.masterJoin.Load(), mres.Member)
	}

	// Prune keeps what ended recently, drops what ended long enough ago.
	if n, err := m.tokens.Prune(t.Context(), time.Hour); err != nil || n != 0 {
		t.Errorf("prune (keep 1h): %d %v", n, err)
	}
	defer func() {
		if n, err := m.tokens.Prune(t.Context(), 0); err != nil || n != 2 {
			t.Errorf("prune (everything ended): %d %v, want the expired and the revoked token", n, err)
		}
	}()

	// token list shows every state, and no secrets.
	code, out, errOut = tokCLI(t, m, "token", "list")
	if code != 0 {
		t.Fatalf("token list: %d %s", code, errOut)
	}
	for _, want := range []string{"used up", "expired", "revoked", "valid", "1/1", "master"} {
		if !strings.Contains(out, want) {
			t.Errorf("token list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, strings.SplitN(once, ".", 2)[1]) {
		t.Error("token list shows a secret")
	}
}

// A token with --uses 1 admits one node even when many present it at once
// to different masters (two etcd clients): the use is counted with a
// compare-and-swap in etcd.
func TestTokenSingleUseConcurrent(t *testing.T) {
	t.Parallel()
	cli := tokStartEtcd(t)
	a, _, err := pki.InitAuthority(pki.Paths{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cli2, err := clientv3.New(clientv3.Config{Endpoints: cli.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli2.Close()
	stores := []*pki.Tokens{pki.NewTokens(cli, a.Hash()), pki.NewTokens(cli2, a.Hash())}
	for round := range 3 {
		tok, _, err := stores[0].Create(t.Context(), pki.TokenSpec{Role: pki.RoleAgent, Uses: 1})
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		var ok, usedUp atomic.Int32
		for i := range n {
			wg.Go(func() {
				_, err := stores[i%2].Use(context.Background(), tok.String(), pki.RoleAgent)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, pki.ErrTokenUsedUp):
					usedUp.Add(1)
				default:
					t.Errorf("use: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || usedUp.Load() != n-1 {
			t.Fatalf("round %d: %d admitted, %d used up; want 1 and %d", round, ok.Load(), usedUp.Load(), n-1)
		}
	}
}

// The token endpoints want an admin or master certificate; the CLI
// without a client config says where it looked.
func TestTokenAdminAuth(t *testing.T) {
	m := tokStartMaster(t, "127.0.0.1")
	caPEM, _ := os.ReadFile(filepath.Join(m.work, "pki", "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := anon.Get(m.url + pki.PathTokens)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous token list: %v %v", resp, err)
	}
	resp.Body.Close()
	res, err := tokJoin(t, m, "agent", tokCreate(t, m, "--role", "agent"))
	if err != nil {
		t.Fatal(err)
	}
	ac := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(res.Identity)}}
	resp, err = ac.Get(m.url + pki.PathTokens)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("agent token list: %v %v", resp, err)
	}
	resp.Body.Close()
	// An admin certificate of another cluster fails the handshake.
	other := tokStartMaster(t, "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(filepath.Join(other.work, "admin.crt"), filepath.Join(other.work, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	fc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	if resp, err := fc.Get(m.url + pki.PathTokens); err == nil {
		resp.Body.Close()
		t.Fatalf("foreign admin certificate accepted: %d", resp.StatusCode)
	}

	var out, errb bytes.Buffer
	t.Setenv("NODECTL_CLIENT_CONFIG", filepath.Join(t.TempDir(), "client.yaml"))
	code := node.RunCLI([]string{"token", "list"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "no client config") || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
		t.Fatalf("token list without config: %d %q", code, errb.String())
	}
	code = node.RunCLI([]string{"token", "create", "--role", "root"}, &out, &errb)
	if code != 2 {
		t.Fatalf("bad role: exit %d", code)
	}
}

// pki.Prepare, as nodectl up calls it: an agent joins with a token, and on
// restart loads its certificate without one.
func TestTokenPrepareJoin(t *testing.T) {
	m := tokStartMaster(t, "127.0.0.1")
	cfg := pki.PrepareConfig{Paths: pki.Paths{Dir: filepath.Join(t.TempDir(), "pki")}, Role: "agent", Hostname: "a1", IPs: pki.NodeIPs("127.0.0.1"),
		JoinURL: m.url, Token: tokCreate(t, m, "--role", "agent", "--uses", "1")}
	s, err := pki.Prepare(t.Context(), cfg)
	if err != nil || !s.Joined || s.Authority != nil || len(s.Masters) != 1 {
		t.Fatalf("join: %+v %v", s, err)
	}
	s2, err := pki.Prepare(t.Context(), cfg) // the used-up token is not presented again
	if err != nil || s2.Joined || !s2.Identity.Cert().Equal(s.Identity.Cert()) {
		t.Fatalf("restart: %+v %v", s2, err)
	}
	mcfg := pki.PrepareConfig{Paths: pki.Paths{Dir: filepath.Join(t.TempDir(), "pki")}, Role: "master", Hostname: "m2", IPs: pki.NodeIPs("127.0.0.1"),
		JoinURL: m.url, Token: tokCreate(t, m, "--role", "master")}
	ms, err := pki.Prepare(t.Context(), mcfg)
	if err != nil || !ms.Joined || ms.Authority == nil || ms.Authority.Hash() != m.auth.Hash() {
		t.Fatalf("master join: %v", err)
	}
	ms2, err := pki.Prepare(t.Context(), mcfg)
	if err != nil || ms2.Joined || ms2.Authority == nil {
		t.Fatalf("master restart: %v", err)
	}
}

// BenchmarkTokenJoin is the PKI part of an agent joining with a token:
// fetch and pin the CA, make a key and CSR, count the use in etcd, sign,
// store. Reported as ms/join.
func BenchmarkTokenJoin(b *testing.B) {
	m := tokStartMaster(b, "127.0.0.1")
	tok, _, err := m.tokens.Create(b.Context(), pki.TokenSpec{Role: pki.RoleAgent})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, err := pki.Join(b.Context(), pki.JoinConfig{URL: m.url, Token: tok.String(), Paths: pki.Paths{Dir: b.TempDir()}, Role: "agent", Hostname: "a", IPs: pki.NodeIPs()})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/join")
}

// Concurrent joins over HTTPS with a --uses 1 token: one node gets a
// certificate, the others are told the token is used up.
func TestTokenSingleUseConcurrentJoins(t *testing.T) {
	m := tokStartMaster(t, "127.0.0.1")
	tok := tokCreate(t, m, "--role", "agent", "--uses", "1")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = pki.Join(context.Background(), pki.JoinConfig{URL: m.url, Token: tok, Paths: pki.Paths{Dir: t.TempDir()}, Role: "agent", Hostname: fmt.Sprintf("a%d", i)})
		})
	}
	wg.Wait()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, pki.ErrTokenUsedUp):
			t.Errorf("join: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent joins with a --uses 1 token succeeded", ok, n)
	}
}
