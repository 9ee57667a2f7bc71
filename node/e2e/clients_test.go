package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Real third-party clients, unchanged, against a real node with HTTP Basic
// principals from --credentials (issue 14): go-marathon for /v2 and
// mesos-go's v1 scheduler library for /api/v1/scheduler. Their sources are
// in testdata/thirdparty (README.md there names the upstream commits), wired
// in by the replace directives of go.mod.

// clientPrincipal and clientSecret are the --credentials entry the clients
// authenticate with; it is neither a superuser nor a certificate.
const (
	clientPrincipal = "marathon-user"
	clientSecret    = "marathon-user-secret-0001"
)

// clientsStartNode starts a --role=all node whose --credentials file (Mesos'
// JSON form) holds clientPrincipal, waits for its agent, and returns it with
// an HTTP client that trusts only the cluster CA (<work-dir>/pki/ca.crt)
// and presents no certificate: Basic is the only credential the clients
// have.
func clientsStartNode(t *testing.T) (node, *http.Client) {
	t.Helper()
	n := newNode(t)
	creds := filepath.Join(t.TempDir(), "credentials.json")
	b, _ := json.Marshal(map[string]any{"credentials": []map[string]string{{"principal": clientPrincipal, "secret": clientSecret}}})
	if err := os.WriteFile(creds, b, 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, n.args("all", "--credentials", creds, "--resources", "cpus:4;mem:4096;disk:1024;"+hostPorts())...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	return n, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: clientsTLS(t, n)}}
}

// clientsTLS trusts the cluster CA of n and nothing else.
func clientsTLS(t testing.TB, n node) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(n.dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate in the node's work dir")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
