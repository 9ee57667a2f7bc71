package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// announceJoin waits for the node's master to answer, creates an agent
// join token with the admin credential up wrote into the work dir, and
// prints how to join an agent: as kernel parameters for this ISO, and as
// the up command. It gives up when ctx ends.
func announceJoin(ctx context.Context, log *slog.Logger, workDir string) error {
	for {
		url, token, joinCommand, err := node.CreateAgentToken(ctx, workDir)
		if err == nil {
			fmt.Fprintf(os.Stderr, "\n==== join an agent (token valid 24h) ====\n"+
				"boot this ISO with:  nodectl.role=agent nodectl.join=%s nodectl.token=%s\n"+
				"or run:  %s\n==========================================\n", url, token, joinCommand)
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
