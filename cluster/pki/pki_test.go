package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func newCA(t *testing.T) (*Authority, Paths) {
	t.Helper()
	p := Paths{Dir: filepath.Join(t.TempDir(), "pki")}
	a, created, err := InitAuthority(p)
	if err != nil || !created {
		t.Fatalf("InitAuthority: created=%v %v", created, err)
	}
	return a, p
}

func TestAuthorityCreateReopen(t *testing.T) {
	a, p := newCA(t)
	c := a.Cert()
	if !c.IsCA || c.PublicKeyAlgorithm != x509.ECDSA || c.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Fatalf("CA: IsCA=%v alg=%v", c.IsCA, c.PublicKeyAlgorithm)
	}
	if life := c.NotAfter.Sub(c.NotBefore); life < 9*365*24*time.Hour {
		t.Errorf("CA lifetime %s, want long-lived", life)
	}
	for f, want := range map[string]os.FileMode{p.Secret(): 0o600, p.CAKey(): 0o600, p.CACert(): 0o644} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v err %v, want %v", f, st.Mode().Perm(), err, want)
		}
	}
	// At rest the key is sealed: no PEM private key, no raw key bytes.
	sealedFile, _ := os.ReadFile(p.CAKey())
	der, _ := x509.MarshalECPrivateKey(a.key)
	if bytes.Contains(sealedFile, []byte("PRIVATE KEY")) || bytes.Contains(sealedFile, der) || bytes.Contains(sealedFile, a.key.D.Bytes()) {
		t.Fatal("CA key stored in the clear")
	}
	b, created, err := InitAuthority(p)
	if err != nil || created {
		t.Fatalf("reopen: created=%v %v", created, err)
	}
	if b.Hash() != a.Hash() || !b.key.Equal(a.key) {
		t.Fatal("reopened CA differs")
	}
	// Another cluster's secret does not unseal it.
	if err := os.WriteFile(p.Secret(), encodeSecret(newSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenAuthority(p); !errors.Is(err, ErrSealed) {
		t.Fatalf("wrong secret: %v, want ErrSealed", err)
	}
	if _, err := OpenAuthority(Paths{Dir: t.TempDir()}); !errors.Is(err, ErrNoCA) {
		t.Fatalf("empty dir: %v, want ErrNoCA", err)
	}
}

func TestSealBindsCertificate(t *testing.T) {
	secret := newSecret()
	sealed, err := seal(secret, []byte("key"), []byte("cert A"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := unseal(secret, sealed, []byte("cert A")); err != nil || string(got) != "key" {
		t.Fatalf("unseal: %q %v", got, err)
	}
	if _, err := unseal(secret, sealed, []byte("cert B")); !errors.Is(err, ErrSealed) {
		t.Fatalf("other cert: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := unseal(secret, sealed, []byte("cert A")); !errors.Is(err, ErrSealed) {
		t.Fatalf("tampered: %v", err)
	}
}

func TestImportAuthority(t *testing.T) {
	a, _ := newCA(t)
	p := Paths{Dir: t.TempDir()}
	b, err := ImportAuthority(p, a.CertPEM(), a.Bundle())
	if err != nil || b.Hash() != a.Hash() {
		t.Fatalf("import: %v", err)
	}
	if c, err := OpenAuthority(p); err != nil || !c.key.Equal(a.key) {
		t.Fatalf("open imported: %v", err)
	}
	bad := a.Bundle()
	bad.Secret = newSecret()
	if _, err := ImportAuthority(Paths{Dir: t.TempDir()}, a.CertPEM(), bad); !errors.Is(err, ErrSealed) {
		t.Fatalf("import with wrong secret: %v", err)
	}
}

func TestSign(t *testing.T) {
	a, _ := newCA(t)
	key, _ := NewKey()
	csr, _ := NewCSR(key, "ignored")
	ips := []net.IP{net.ParseIP("127.0.0.3"), net.ParseIP("10.1.2.3"), net.ParseIP("127.0.0.3")}
	certPEM, err := a.Sign(csr, SignRequest{Name: "node-a", Roles: []string{RoleMaster, RoleAgent}, IPs: ips, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != MasterCN || !slices.Equal(CertRoles(c), []string{RoleMaster, RoleAgent}) || CertName(c) != "node-a" {
		t.Errorf("subject %v roles %v name %s", c.Subject, CertRoles(c), CertName(c))
	}
	if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(ips[0]) {
		t.Errorf("IP SANs %v", c.IPAddresses)
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("ext key usage %v", c.ExtKeyUsage)
	}
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Error("certificate is not for the CSR's key")
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: poolOf(a.Cert()), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := c.VerifyHostname("127.0.0.3"); err != nil {
		t.Errorf("hostname: %v", err)
	}
	if life := c.NotAfter.Sub(c.NotBefore); life != time.Hour+clockSkew {
		t.Errorf("lifetime %s", life)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaCSR, _ := NewCSR(rsaKey, "x")
	for name, c := range map[string]struct {
		csr []byte
		req SignRequest
	}{
		"garbage":  {[]byte("nope"), SignRequest{Roles: []string{RoleAgent}}},
		"rsa":      {rsaCSR, SignRequest{Roles: []string{RoleAgent}}},
		"no role":  {csr, SignRequest{}},
		"bad role": {csr, SignRequest{Roles: []string{"root"}}},
	} {
		if _, err := a.Sign(c.csr, c.req); !errors.Is(err, ErrBadCSR) {
			t.Errorf("%s: %v, want ErrBadCSR", name, err)
		}
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func TestInitMasterAndIdentity(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	req := SignRequest{Name: "m1", IPs: NodeIPs("127.0.0.2")}
	a, id, created, err := InitMaster(p, req)
	if err != nil || !created {
		t.Fatalf("InitMaster: %v", err)
	}
	serial := id.Cert().SerialNumber
	if !slices.Equal(id.Roles(), []string{RoleMaster}) {
		t.Errorf("roles %v", id.Roles())
	}
	if st, _ := os.Stat(p.NodeKey()); st.Mode().Perm() != 0o600 {
		t.Errorf("node key mode %v", st.Mode().Perm())
	}
	// Restart: same CA and certificate.
	_, id2, created, err := InitMaster(p, req)
	if err != nil || created || id2.Cert().SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("restart: created=%v err=%v reissued=%v", created, err, id2.Cert().SerialNumber.Cmp(serial) != 0)
	}
	// A new address: reissued.
	req.IPs = NodeIPs("127.0.0.9")
	_, id3, _, err := InitMaster(p, req)
	if err != nil || !slices.ContainsFunc(id3.Cert().IPAddresses, net.ParseIP("127.0.0.9").Equal) {
		t.Fatalf("new IP: %v %v", err, id3.Cert().IPAddresses)
	}
	// Install refuses a certificate for another key or from another CA.
	other, _ := NewKey()
	csr, _ := NewCSR(other, "x")
	cert, _ := a.Sign(csr, SignRequest{Name: "x", Roles: []string{RoleAgent}})
	if err := id3.Install(cert); err == nil {
		t.Error("installed a certificate for another key")
	}
	foreign, _ := newCA(t)
	own, _ := id3.CSR()
	cert, _ = foreign.Sign(own, SignRequest{Name: "x", Roles: []string{RoleAgent}})
	if err := id3.Install(cert); err == nil {
		t.Error("installed a certificate of another CA")
	}
	if id3.Cert().SerialNumber.Cmp(serial) == 0 {
		t.Error("refused installs changed the certificate")
	}
	// Admin credential: issued once, kept while young.
	crt, key := filepath.Join(p.Dir, "admin.crt"), filepath.Join(p.Dir, "admin.key")
	if err := a.EnsureAdmin(crt, key); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(crt)
	if err := a.EnsureAdmin(crt, key); err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(crt)
	ac, _ := ParseCert(b2)
	if !bytes.Equal(b1, b2) || !slices.Equal(CertRoles(ac), []string{RoleAdmin}) {
		t.Errorf("admin cert reissued or wrong roles %v", CertRoles(ac))
	}
}

func TestTokenFormat(t *testing.T) {
	tok := Token{CAHash: strings.Repeat("ab", 32), ID: "0123456789abcdef", Secret: strings.Repeat("f", 32)}
	s := tok.String()
	if !strings.HasPrefix(s, "NDCTL1-") {
		t.Fatalf("token %s", s)
	}
	got, err := ParseToken(" " + s + "\n")
	if err != nil || got != tok {
		t.Fatalf("parse %s: %v %v", s, got, err)
	}
	for _, bad := range []string{"", "NDCTL1-abc", strings.Replace(s, "NDCTL1", "NDCTL2", 1), s + "0", strings.ToUpper(s)} {
		if _, err := ParseToken(bad); !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("ParseToken(%q): %v", bad, err)
		}
	}
}

func TestTokenUsable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := TokenInfo{ID: "x", Role: RoleAgent, Uses: 2, Used: 1, Expires: now.Add(time.Hour)}
	for _, c := range []struct {
		name string
		mod  func(*TokenInfo)
		role string
		want error
	}{
		{"valid", func(*TokenInfo) {}, RoleAgent, nil},
		{"expired", func(ti *TokenInfo) { ti.Expires = now }, RoleAgent, ErrTokenExpired},
		{"used up", func(ti *TokenInfo) { ti.Used = 2 }, RoleAgent, ErrTokenUsedUp},
		{"unlimited", func(ti *TokenInfo) { ti.Uses, ti.Used = 0, 99 }, RoleAgent, nil},
		{"never expires", func(ti *TokenInfo) { ti.Expires = time.Time{} }, RoleAgent, nil},
		{"revoked beats expired", func(ti *TokenInfo) { ti.Revoked, ti.Expires = now, now }, RoleAgent, ErrTokenRevoked},
		{"role", func(*TokenInfo) {}, RoleMaster, ErrTokenRole},
	} {
		ti := base
		c.mod(&ti)
		err := ti.usable(now, c.role)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if c.want != nil && Reason(err) == "" {
			t.Errorf("%s: no reason for %v", c.name, err)
		}
	}
}

// serveTLS runs h on 127.0.0.1 with cfg; it returns the https base URL.
func serveTLS(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = tls.NewListener(srv.Listener, cfg)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "http://", "https://", 1)
}

func nodeIdentity(t *testing.T, a *Authority, name string, roles ...string) *Identity {
	t.Helper()
	p := Paths{Dir: t.TempDir()}
	if err := os.WriteFile(p.CACert(), a.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.IssueFiles(p.NodeCert(), p.NodeKey(), SignRequest{Name: name, Roles: roles, IPs: NodeIPs()}); err != nil {
		t.Fatal(err)
	}
	id, err := LoadIdentity(p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The master port: anyone may connect (API, UI), node endpoints want a
// node certificate of the right role, and a certificate from another CA
// fails the handshake.
func TestServerTLSAndRequireNode(t *testing.T) {
	a, _ := newCA(t)
	master := nodeIdentity(t, a, "m1", RoleMaster)
	agent := nodeIdentity(t, a, "a1", RoleAgent)
	foreignCA, _ := newCA(t)
	foreign := nodeIdentity(t, foreignCA, "evil", RoleMaster)

	mux := http.NewServeMux()
	mux.HandleFunc("/public", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.Handle("/agent-only", RequireNode(RoleAgent)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PeerOf(r)
		io.WriteString(w, p.Name)
	})))
	base := serveTLS(t, ServerTLS(master), mux)

	get := func(cfg *tls.Config, path string) (int, string, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	anon := &tls.Config{RootCAs: master.Pool()}
	if code, body, err := get(anon, "/public"); err != nil || code != 200 || body != "ok" {
		t.Errorf("anonymous /public: %d %q %v", code, body, err)
	}
	if code, body, _ := get(anon, "/agent-only"); code != 401 || !strings.Contains(body, `"message"`) {
		t.Errorf("anonymous /agent-only: %d %s", code, body)
	}
	if code, body, _ := get(ClientTLS(master), "/agent-only"); code != 403 {
		t.Errorf("master on /agent-only: %d %s", code, body)
	}
	if code, body, err := get(ClientTLS(agent, RoleMaster), "/agent-only"); code != 200 || body != "a1" {
		t.Errorf("agent on /agent-only: %d %q %v", code, body, err)
	}
	// A client holding another CA's certificate is refused at the handshake.
	cfg := ClientTLS(foreign)
	cfg.RootCAs = master.Pool()
	if _, _, err := get(cfg, "/public"); err == nil {
		t.Error("a foreign-CA client certificate was accepted")
	}
	// A client that trusts only another CA does not trust the master.
	if _, _, err := get(ClientTLS(foreign), "/public"); err == nil {
		t.Error("client trusting another CA accepted the master")
	}
	// Plain HTTP to the TLS port is refused.
	plain := &http.Client{}
	resp, err := plain.Get(strings.Replace(base, "https://", "http://", 1) + "/public")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served")
		}
	}
	// A server with an agent certificate cannot pass for a master.
	fake := serveTLS(t, ServerTLS(agent), mux)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ClientTLS(master, RoleMaster)}}
	if _, err := c.Get(fake + "/public"); err == nil || !strings.Contains(err.Error(), "want master") {
		t.Errorf("agent posing as master: %v", err)
	}
	// Node-only port: mutual TLS required.
	nodePort := serveTLS(t, NodeServerTLS(agent), mux)
	anonC := &http.Client{Transport: &http.Transport{TLSClientConfig: anon}}
	if _, err := anonC.Get(nodePort + "/public"); err == nil {
		t.Error("node port served a client without certificate")
	}
	mc := &http.Client{Transport: &http.Transport{TLSClientConfig: ClientTLS(master)}}
	if resp, err := mc.Get(nodePort + "/public"); err != nil || resp.StatusCode != 200 {
		t.Errorf("master → agent port: %v", err)
	} else {
		resp.Body.Close()
	}
	// The agent port takes masters only: another agent is refused.
	agentPort := serveTLS(t, NodeServerTLS(agent, RoleMaster, RoleAdmin), mux)
	other := nodeIdentity(t, a, "a2", RoleAgent)
	oc := &http.Client{Transport: &http.Transport{TLSClientConfig: ClientTLS(other)}}
	if resp, err := oc.Get(agentPort + "/public"); err == nil {
		resp.Body.Close()
		t.Error("agent port served another agent")
	}
	if resp, err := mc.Get(agentPort + "/public"); err != nil || resp.StatusCode != 200 {
		t.Errorf("master → agent port (masters only): %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestFetchCARefusesOtherCA(t *testing.T) {
	a, _ := newCA(t)
	other, _ := newCA(t)
	master := nodeIdentity(t, a, "m1", RoleMaster)
	secretSeen := false
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathCACerts, func(w http.ResponseWriter, r *http.Request) { w.Write(a.CertPEM()) })
	mux.HandleFunc("POST "+PathJoin, func(w http.ResponseWriter, r *http.Request) { secretSeen = true })
	base := serveTLS(t, ServerTLS(master), mux)

	if c, err := FetchCA(context.Background(), base, a.Hash(), time.Second*5); err != nil || c.Equal(a.Cert()) == false {
		t.Fatalf("FetchCA: %v", err)
	}
	tok := Token{CAHash: other.Hash(), ID: strings.Repeat("1", 16), Secret: strings.Repeat("2", 32)}
	_, err := Join(context.Background(), JoinConfig{URL: base, Token: tok.String(), Paths: Paths{Dir: t.TempDir()}, Role: RoleAgent, Hostname: "a"})
	if !errors.Is(err, ErrWrongCA) || !strings.Contains(err.Error(), "another cluster CA") {
		t.Fatalf("join with another CA's token: %v", err)
	}
	if secretSeen {
		t.Fatal("the token was sent to a master of another CA")
	}
}

func TestPrepareFirstMaster(t *testing.T) {
	ctx := context.Background()
	p := Paths{Dir: filepath.Join(t.TempDir(), "pki")}
	cfg := PrepareConfig{Paths: p, Role: "all", Hostname: "m1", IPs: NodeIPs("127.0.0.2")}
	s, err := Prepare(ctx, cfg)
	if err != nil || !s.Created || s.Authority == nil || !slices.Equal(s.Identity.Roles(), []string{RoleMaster, RoleAgent}) {
		t.Fatalf("first start: %+v %v", s, err)
	}
	s2, err := Prepare(ctx, cfg)
	if err != nil || s2.Created || s2.Authority.Hash() != s.Authority.Hash() || !s2.Identity.Cert().Equal(s.Identity.Cert()) {
		t.Fatalf("restart: %v", err)
	}
	cfg.Role = RoleAgent
	if _, err := Prepare(ctx, cfg); err == nil || !strings.Contains(err.Error(), "wipe") {
		t.Errorf("role change: %v", err)
	}
	if _, err := Prepare(ctx, PrepareConfig{Paths: Paths{Dir: t.TempDir()}, Role: RoleAgent, Hostname: "a"}); !errors.Is(err, ErrNeedToken) {
		t.Errorf("agent without token: %v", err)
	}
	if _, err := Prepare(ctx, PrepareConfig{Paths: Paths{Dir: t.TempDir()}, Role: RoleAgent, Hostname: "a", Token: "x"}); err == nil {
		t.Error("token without --join accepted")
	}
}

// Disaster recovery: the CA record from etcd plus the kept cluster secret
// give back the same CA; another secret does not.
func TestRestoreAuthority(t *testing.T) {
	a, _ := newCA(t)
	rec, _ := json.Marshal(caRecord{Cert: string(a.CertPEM()), SealedKey: a.sealed})
	p := Paths{Dir: t.TempDir()}
	if _, err := RestoreAuthority(p, rec); err == nil {
		t.Fatal("restored without the secret")
	}
	os.WriteFile(p.Secret(), encodeSecret(a.secret), 0o600)
	b, err := RestoreAuthority(p, rec)
	if err != nil || !b.key.Equal(a.key) {
		t.Fatalf("restore: %v", err)
	}
	if c, err := OpenAuthority(p); err != nil || c.Hash() != a.Hash() {
		t.Fatalf("open restored: %v", err)
	}
	q := Paths{Dir: t.TempDir()}
	os.WriteFile(q.Secret(), encodeSecret(newSecret()), 0o600)
	if _, err := RestoreAuthority(q, rec); !errors.Is(err, ErrSealed) {
		t.Fatalf("other secret: %v", err)
	}
}

// TestNodeHTTP2: the master port speaks HTTP/2 to a node that offers
// NodeProto (its certificate still checked), HTTP/1.1 to a client that
// offers h2 without it (a browser, curl); a node reaches a master without
// WithNodeHTTP2 in HTTP/1.1.
func TestNodeHTTP2(t *testing.T) {
	a, _ := newCA(t)
	master := nodeIdentity(t, a, "m1", RoleMaster)
	agent := nodeIdentity(t, a, "a1", RoleAgent)
	mux := http.NewServeMux()
	mux.Handle("/agent-only", RequireNode(RoleAgent)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PeerOf(r)
		io.WriteString(w, p.Name)
	})))
	get := func(base string, cfg *tls.Config) (proto, body string) {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(base + "/agent-only")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Proto, string(b)
	}
	node := NodeClientTLS(ClientTLS(agent, RoleMaster))
	port := serveTLS(t, WithNodeHTTP2(ServerTLS(master)), mux)
	if proto, body := get(port, node); proto != "HTTP/2.0" || body != "a1" {
		t.Errorf("node: %s %q, want HTTP/2.0 a1", proto, body)
	}
	if proto, body := get(port, ClientTLS(agent, RoleMaster)); proto != "HTTP/1.1" || body != "a1" {
		t.Errorf("a client offering h2 and http/1.1: %s %q, want HTTP/1.1 a1", proto, body)
	}
	old := serveTLS(t, ServerTLS(master), mux)
	if proto, body := get(old, node); proto != "HTTP/1.1" || body != "a1" {
		t.Errorf("node to a master without HTTP/2: %s %q", proto, body)
	}
}
