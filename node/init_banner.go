package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"nodectl/cluster"
	"nodectl/cluster/client"
	"nodectl/cluster/pki"
)

// announceJoin waits for the node's master to answer, creates an agent
// join token with the admin credential up wrote into the work dir, and
// prints how to join an agent: as kernel parameters for this ISO, and as
// the up command. It gives up when ctx ends.
func announceJoin(ctx context.Context, log *slog.Logger, workDir string) error {
	for {
		resp, err := createAgentToken(ctx, workDir)
		if err == nil {
			fmt.Fprintf(os.Stderr, "\n==== join an agent (token valid 24h) ====\n"+
				"boot this ISO with:  nodectl.role=agent nodectl.join=%s nodectl.token=%s\n"+
				"or run:  %s\n==========================================\n", resp.URL, resp.Token, resp.JoinCommand)
			return nil
		}
		log.Debug("join token not yet available", "err", err)
		t := time.NewTimer(2 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func createAgentToken(ctx context.Context, workDir string) (cluster.TokenCreateResponse, error) {
	var resp cluster.TokenCreateResponse
	base, tlsCfg, err := cliTLS("", workDir, "")
	if err != nil {
		return resp, err
	}
	cc, err := client.New(client.Config{Server: base, TLS: tlsCfg, Timeout: 10 * time.Second})
	if err != nil {
		return resp, err
	}
	defer cc.CloseIdleConnections()
	req := cluster.TokenCreateRequest{Role: pki.RoleAgent, TTL: (24 * time.Hour).String(), Description: "printed on the appliance console"}
	return resp, cc.Post(ctx, pki.PathTokens, req, &resp)
}
