package nodetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"nodectl/cluster"
	"nodectl/cluster/pki"
)

// Every node port speaks TLS with certificates of its cluster's CA, and
// agent ports want a master or admin certificate. Test clients get both
// from the client config (client.yaml: CA and admin certificate) that
// `nodectl up` writes into a master's work dir. Trust maps a node's ports
// to that file; Transport picks the file by the port it dials, so one
// transport verifies every cluster a test binary runs, though all their
// CAs share one subject name.
var trusted = struct {
	mu     sync.Mutex
	byPort map[string]string      // port → client.yaml; guarded by mu
	loaded map[string]*tls.Config // client.yaml → its TLS; guarded by mu
}{byPort: map[string]string{}, loaded: map[string]*tls.Config{}}

// ClientConfigOf is the client config a master (or all) node writes into
// its work dir.
func ClientConfigOf(masterWorkDir string) string {
	return filepath.Join(masterWorkDir, pki.ClientConfigName)
}

// Trust makes Transport reach ports on 127.0.0.1 with the CA and admin
// certificate of clientConfig (ClientConfigOf a master of the cluster).
// The file may appear later: it is read on the first dial.
func Trust(clientConfig string, ports ...int) {
	trusted.mu.Lock()
	defer trusted.mu.Unlock()
	for _, p := range ports {
		trusted.byPort[strconv.Itoa(p)] = clientConfig
	}
}

func tlsFor(addr string) (*tls.Config, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	trusted.mu.Lock()
	defer trusted.mu.Unlock()
	path, ok := trusted.byPort[port]
	if !ok {
		return nil, fmt.Errorf("nodetest: no cluster trusted for %s (nodetest.Trust)", addr)
	}
	if c, ok := trusted.loaded[path]; ok {
		return c, nil
	}
	cc, err := pki.LoadClientConfig(path)
	if err != nil {
		return nil, err
	}
	c, err := cc.TLS()
	if err != nil {
		return nil, err
	}
	trusted.loaded[path] = c
	return c, nil
}

// Transport is an HTTP transport for tests: plain for http:// URLs, and
// for https:// the verified mutual TLS of the cluster the port was
// registered to with Trust.
func Transport() *http.Transport {
	return &http.Transport{
		MaxIdleConnsPerHost: 16,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := tlsFor(addr)
			if err != nil {
				return nil, err
			}
			d := &tls.Dialer{Config: c}
			return d.DialContext(ctx, network, addr)
		},
	}
}

// transport is the package's shared Transport.
var transport = Transport()

// Client is an HTTP client on the shared Transport.
func Client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: transport}
}

// AgentToken asks the master at base (https://host:port, trusted) for
// an agent join token, the way `nodectl token create --role agent` does.
func AgentToken(base string) (string, error) {
	b, _ := json.Marshal(cluster.TokenCreateRequest{Role: pki.RoleAgent, TTL: "1h"})
	resp, err := Client(10*time.Second).Post(base+pki.PathTokens, "application/json", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out cluster.TokenCreateResponse
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("create token: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return out.Token, nil
}

// ClientConfigFor is the client config Trust mapped port to ("" if none):
// what a test gives the CLI (NODECTL_CLIENT_CONFIG) to reach that node.
func ClientConfigFor(port int) string {
	trusted.mu.Lock()
	defer trusted.mu.Unlock()
	return trusted.byPort[strconv.Itoa(port)]
}
