package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/pki"
)

// Every port of a cluster is TLS only and checks certificates against the
// cluster CA (docs/security.md): plain HTTP is refused on the master,
// agent, etcd client and etcd peer ports; a certificate from another CA is
// refused on node endpoints, the agent port and etcd; an agent's
// certificate cannot drive another agent or reach etcd; the CLI finds the
// CA and address from NODECTL_WORK_DIR alone. These tests verify the
// servers' certificates against the cluster CA read from the work dir,
// not through the harness transport.
func TestTLSEverywhere(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m, a := newNode(t), newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	start(t, a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms")...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })

	caPEM, err := os.ReadFile(filepath.Join(m.dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate in the master's work dir")
	}
	masterID, err := pki.LoadIdentity(pki.Paths{Dir: filepath.Join(m.dir, "pki")})
	if err != nil {
		t.Fatal(err)
	}
	agentID, err := pki.LoadIdentity(pki.Paths{Dir: filepath.Join(a.dir, "pki")})
	if err != nil {
		t.Fatal(err)
	}
	_, foreignID, _, err := pki.InitMaster(pki.Paths{Dir: t.TempDir()}, pki.SignRequest{Name: "intruder", IPs: pki.NodeIPs("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	client := func(id *pki.Identity) *http.Client {
		c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if id != nil {
			c.GetClientCertificate = id.GetClientCertificate
		}
		return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: c, DisableKeepAlives: true}}
	}
	get := func(c *http.Client, url string) (int, string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, string(b), nil
	}
	hostPort := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }

	// Plain HTTP: refused everywhere.
	plain := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, p := range []struct {
		what string
		port int
	}{{"master", m.port}, {"agent", a.agentPort}, {"etcd client", m.etcd}, {"etcd peer", m.etcdPr}} {
		code, body, err := get(plain, "http://"+hostPort(p.port)+"/health")
		switch {
		case err == nil && code/100 == 2:
			t.Errorf("%s port answered plain HTTP with %d %q", p.what, code, body)
		case (p.what == "master" || p.what == "agent") && (code != http.StatusBadRequest || !strings.Contains(body, "HTTPS server")):
			t.Errorf("%s port, plain HTTP: %d %q %v, want 400 'Client sent an HTTP request to an HTTPS server'", p.what, code, body, err)
		}
	}

	// The user-facing API: HTTPS without a client certificate reaches the
	// master, which then wants credentials (docs/security.md).
	if code, _, err := get(client(nil), m.url()+"/v2/apps"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("GET /v2/apps without credentials: %d %v, want 401", code, err)
	}
	// Node endpoints: no certificate → 401; the agent protocol wants an
	// agent certificate; a foreign CA's certificate fails the handshake.
	if code, _, err := get(client(nil), m.url()+pki.PathTokens); err != nil || code != http.StatusUnauthorized {
		t.Errorf("GET %s without a certificate: %d %v, want 401", pki.PathTokens, code, err)
	}
	if code, _, err := get(client(masterID), m.url()+pki.PathTokens); err != nil || code != 200 {
		t.Errorf("GET %s with the master's certificate: %d %v, want 200", pki.PathTokens, code, err)
	}
	resp, err := client(nil).Post(m.url()+"/api/agent/v1/register", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Errorf("POST register without a certificate: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST register without a certificate: %d, want 401", resp.StatusCode)
	}
	if code, _, err := get(client(foreignID), m.url()+pki.PathTokens); err == nil {
		t.Errorf("master port accepted a foreign CA's certificate: %d", code)
	}

	// The agent port: masters and admins only; any node of the cluster
	// may probe /health; a foreign certificate or none fails the handshake.
	if code, _, err := get(client(masterID), a.agentURL()+"/state"); err != nil || code != 200 {
		t.Errorf("agent /state with the master's certificate: %d %v, want 200", code, err)
	}
	if code, _, err := get(client(agentID), a.agentURL()+"/state"); err != nil || code != http.StatusForbidden {
		t.Errorf("agent /state with an agent's certificate: %d %v, want 403", code, err)
	}
	if code, _, err := get(client(agentID), a.agentURL()+"/health"); err != nil || code != 200 {
		t.Errorf("agent /health with its own certificate: %d %v, want 200", code, err)
	}
	for _, id := range []*pki.Identity{nil, foreignID} {
		if code, _, err := get(client(id), a.agentURL()+"/health"); err == nil {
			t.Errorf("agent port accepted certificate %v: %d", id != nil, code)
		}
	}

	// etcd: the master's certificate works; a foreign one, an agent's, or
	// none is refused on the client port; a foreign one on the peer port.
	if code, _, err := get(client(masterID), "https://"+hostPort(m.etcd)+"/version"); err != nil || code != 200 {
		t.Errorf("etcd /version with the master's certificate: %d %v, want 200", code, err)
	}
	for _, c := range []struct {
		what string
		id   *pki.Identity
		port int
	}{{"client/foreign", foreignID, m.etcd}, {"client/agent", agentID, m.etcd}, {"client/none", nil, m.etcd}, {"peer/foreign", foreignID, m.etcdPr}} {
		if code, body, err := get(client(c.id), "https://"+hostPort(c.port)+"/version"); err == nil && code/100 == 2 {
			t.Errorf("etcd %s: answered %d %q", c.what, code, body)
		}
	}

	// The CLI with only NODECTL_WORK_DIR: CA, address and admin
	// certificate come from the work dir's client.yaml.
	cmd := exec.Command(bin, "app", "list")
	cmd.Env = append(tlsEnvWithout("NODECTL_"), "NODECTL_WORK_DIR="+m.dir, "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "ID") {
		t.Errorf("nodectl app list with NODECTL_WORK_DIR: %v\n%s", err, out)
	}
	// health on the agent's own work dir: its CA and certificate.
	if out, err := exec.Command(bin, "health", "--work-dir", a.dir, "--addr", hostPort(a.agentPort)).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "imok" {
		t.Errorf("nodectl health of the agent with its work dir: %v %q", err, out)
	}
}

// An agent-only node without a certificate and without a token cannot
// start: exit 2, one line saying how to get a token.
func TestTLSAgentNeedsToken(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m, a := newNode(t), newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	out, err := exec.Command(bin, a.args("agent", "--master", "127.0.0.1:"+strconv.Itoa(m.port))...).CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if !ok || ee.ExitCode() != 2 || !strings.Contains(last, "--token") || !strings.Contains(last, "nodectl token create") {
		t.Errorf("agent without a token: %v, last line %q", err, last)
	}
}

// tlsEnvWithout is the environment minus variables starting with prefix.
func tlsEnvWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}
