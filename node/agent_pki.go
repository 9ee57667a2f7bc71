package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"nodectl/cluster/pki"
)

// agentTLS is what an agent uses to reach the masters and to serve its
// own port: its certificate, HTTPS, and the master set it knows.
type agentTLS struct {
	setup   *pki.Setup
	client  *http.Client
	masters []string
	// local: the agent of a --role=all node shares the in-process
	// master's certificate (it carries the agent role too), which the
	// master renews; the agent renews nothing itself.
	local bool
}

// prepareAgentTLS sets up the PKI of the agent part of a node. A
// --role=all node uses its master's certificate, issued by its own
// authority (roles master and agent). An agent-only node joins with
// --join/--token on its first start, or loads the certificate it got then
// from <work-dir>/pki; without either it cannot start: exit 2.
func prepareAgentTLS(ctx context.Context, cfg Config, masterPKI *pki.Setup) (*agentTLS, error) {
	masters := slices.Clone(cfg.Masters)
	if masterPKI != nil {
		if len(masters) == 0 {
			masters = []string{cfg.advertised(cfg.Port)}
		}
		return &agentTLS{setup: masterPKI, client: agentClient(masterPKI.Identity), masters: masters, local: true}, nil
	}
	if cfg.Join == "" && !pki.HasIdentity(cfg.pkiPaths()) {
		return nil, exitErr(2, fmt.Sprintf("this agent has no certificate of the cluster in %s: start it with --join https://MASTER:5050 --token TOKEN (get one on a master: nodectl token create --role agent)", cfg.pkiPaths().Dir))
	}
	setup, err := pki.Prepare(ctx, pki.PrepareConfig{
		Paths: cfg.pkiPaths(), Role: cfg.Role, Hostname: cfg.Hostname,
		IPs: pki.NodeIPs(cfg.IP, cfg.AdvertiseIP), JoinURL: cfg.joinURL(), Token: cfg.Token,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster PKI: %w", err)
	}
	if u, err := url.Parse(cfg.joinURL()); err == nil && u.Host != "" && !slices.Contains(masters, u.Host) {
		masters = append(masters, u.Host)
	}
	for _, m := range setup.Masters {
		if !slices.Contains(masters, m) {
			masters = append(masters, m)
		}
	}
	if len(masters) == 0 {
		return nil, exitErr(2, "this agent knows no master: give --master HOST:PORT (or --join URL --token TOKEN)")
	}
	return &agentTLS{setup: setup, client: agentClient(setup.Identity), masters: masters}, nil
}

// agentClient reaches masters over HTTPS with the node's certificate; a
// server must show a master certificate. A master of this release speaks
// HTTP/2 to it (pki.NodeProto): its stream and requests share one
// connection, which a ping every 15 s of silence checks (a master gone
// without closing it is noticed in 25 s); an older one HTTP/1.1.
func agentClient(id *pki.Identity) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: pki.NodeClientTLS(pki.ClientTLS(id, pki.RoleMaster)), MaxIdleConnsPerHost: nodeIdleConns,
		ForceAttemptHTTP2: true, HTTP2: &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second}}}
}

// nodeIdleConns is how many idle connections a node keeps to each other
// node. Go's default, 2, is too few for a burst: an agent has one status
// update in flight per task (50 in a 50-instance burst), and every
// connection beyond the idle ones was closed after its request, so the
// next update paid a new TLS handshake, with certificate checks, at both
// ends. A master's limit on open connections still evicts idle ones first.
const nodeIdleConns = 32

// serverTLS is the agent port's TLS: mutual, with any certificate of the
// cluster; agentPortAuth then lets only masters and admins past /health.
func (t *agentTLS) serverTLS() *tls.Config { return pki.NodeServerTLS(t.setup.Identity) }

// agentPortAuth guards the agent port: /health answers any node of the
// cluster (an agent probing itself with its own certificate); everything
// else needs a master or admin certificate, so one agent cannot drive
// another.
func agentPortAuth(next http.Handler) http.Handler {
	guarded := pki.RequireNode(pki.RoleMaster, pki.RoleAdmin)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			next.ServeHTTP(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// renew keeps the agent's certificate fresh until ctx ends.
func (t *agentTLS) renew(ctx context.Context, log *slog.Logger) error {
	if t.local {
		return nil
	}
	r, err := pki.NewRenewer(pki.RenewerConfig{
		Identity: t.setup.Identity, Logger: log,
		Renew: pki.HTTPRenew(t.setup.Identity, func() []string { return t.masters }),
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}
