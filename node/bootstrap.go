package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"nodectl/cluster"
	"nodectl/cluster/pki"
)

// bootstrapTokenTTL is how long the tokens made at cluster creation last.
const bootstrapTokenTTL = 24 * time.Hour

// joinCommandsFile is where the first master writes the bootstrap join
// commands (0600, like the admin credential next to it).
func (cfg Config) joinCommandsFile() string { return filepath.Join(cfg.WorkDir, "join-commands.txt") }

// announceBootstrap makes the bootstrap agent and master tokens, writes
// the commands that join with them to cfg.joinCommandsFile(), prints them
// once on the console (not through the logger: the log files are served
// by the files API) and logs only where they are.
func announceBootstrap(ctx context.Context, cfg Config, tokens *pki.Tokens, url string, logs *logging, log *slog.Logger) error {
	agentCmd, masterCmd, err := cluster.CreateJoinCommands(ctx, tokens, url, bootstrapTokenTTL)
	if err != nil {
		return fmt.Errorf("bootstrap tokens: %w", err)
	}
	expires := time.Now().Add(bootstrapTokenTTL).UTC().Format(time.RFC3339)
	text := fmt.Sprintf("# written by nodectl up when it created the cluster; the tokens expire at %s\n"+
		"# (nodectl token create --role agent|master makes more; nodectl token revoke ID ends one)\n"+
		"# join agents with:\n%s\n# join masters with:\n%s\n", expires, agentCmd, masterCmd)
	path := cfg.joinCommandsFile()
	if err := writeSecretFile(path, []byte(text)); err != nil {
		return fmt.Errorf("bootstrap join commands: %w", err)
	}
	if logs.console != nil {
		fmt.Fprintf(logs.console, "\n==== cluster created (join tokens valid %s) ====\njoin agents with:  %s\njoin masters with: %s\n(also in %s)\n\n",
			bootstrapTokenTTL, agentCmd, masterCmd, path)
	}
	log.Info("cluster created; join commands written to "+path, "path", path)
	return nil
}

// writeSecretFile writes data to path with mode 0600 whatever was there
// before: a temporary file (created 0600) renamed over it.
func writeSecretFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename: gone already
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
