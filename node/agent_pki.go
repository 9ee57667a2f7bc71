package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"nodectl/cluster/pki"
)

// agentTLS is what an agent that joined with a token uses to reach the
// masters: its certificate, HTTPS, and the master set the join answered.
type agentTLS struct {
	setup   *pki.Setup
	client  *http.Client
	masters []string
}

// prepareAgentTLS sets up the PKI of an agent-only node that joins with
// --join/--token or joined before (certificate in <work-dir>/pki). Others
// (no certificate, no token) get nil and keep talking plain HTTP to the
// masters, as before the cluster had a CA.
func prepareAgentTLS(ctx context.Context, cfg Config) (*agentTLS, error) {
	if cfg.Role != "agent" || cfg.Join == "" && !pki.HasIdentity(cfg.pkiPaths()) {
		return nil, nil
	}
	setup, err := pki.Prepare(ctx, pki.PrepareConfig{
		Paths: cfg.pkiPaths(), Role: cfg.Role, Hostname: cfg.Hostname,
		IPs: pki.NodeIPs(cfg.IP, cfg.AdvertiseIP), JoinURL: cfg.joinURL(), Token: cfg.Token,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster PKI: %w", err)
	}
	masters := slices.Clone(cfg.Masters)
	if u, err := url.Parse(cfg.joinURL()); err == nil && u.Host != "" && !slices.Contains(masters, u.Host) {
		masters = append(masters, u.Host)
	}
	for _, m := range setup.Masters {
		if !slices.Contains(masters, m) {
			masters = append(masters, m)
		}
	}
	return &agentTLS{
		setup:   setup,
		client:  &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(setup.Identity, pki.RoleMaster)}},
		masters: masters,
	}, nil
}

// renew keeps the agent's certificate fresh until ctx ends.
func (t *agentTLS) renew(ctx context.Context, log *slog.Logger) error {
	r, err := pki.NewRenewer(pki.RenewerConfig{
		Identity: t.setup.Identity, Logger: log,
		Renew: pki.HTTPRenew(t.setup.Identity, func() []string { return t.masters }),
	})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}
