package node_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"nodectl/cluster/pki"
	"nodectl/node/nodetest"
)

// agentTLSTransport joins the cluster as an agent with a token (as
// `nodectl up --role=agent --join` does) and returns a transport that
// presents that agent certificate and wants a master's: what fake agents
// need, since masters take the agent protocol only from agent
// certificates. tr, when given, is completed with the TLS.
func agentTLSTransport(t testing.TB, c *nodetest.Cluster, tr *http.Transport) *http.Transport {
	t.Helper()
	tok, err := nodetest.AgentToken(c.Master.URL())
	if err != nil {
		t.Fatalf("agent token: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := pki.Join(ctx, pki.JoinConfig{
		URL: c.Master.URL(), Token: tok, Paths: pki.Paths{Dir: t.TempDir()}, Role: pki.RoleAgent,
		Hostname: "fake-agents", IPs: []net.IP{net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		t.Fatalf("join as an agent: %v", err)
	}
	if tr == nil {
		tr = &http.Transport{}
	}
	tr.TLSClientConfig = pki.ClientTLS(res.Identity, pki.RoleMaster)
	return tr
}
