package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
	"nodectl/embed"
)

// snapshotCommand is `nodectl snapshot save FILE`: a snapshot of the
// cluster state (etcd) through a master's API, verified after writing.
func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "save and verify snapshots of the cluster state (restore: nodectl up --cluster-reset --restore FILE)",
		Subcommands: []*cli.Command{
			{
				Name: "save", Usage: "save a snapshot to FILE", ArgsUsage: "FILE", OnUsageError: usageError,
				Flags: clientFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return exitErr(2, "usage: nodectl snapshot save FILE")
					}
					m, err := adminAPI(c)
					if err != nil {
						return err
					}
					info, err := saveSnapshotFromMaster(c.Context, m, c.Args().First())
					if err != nil {
						return cliErr(err)
					}
					fmt.Fprintf(c.App.Writer, "saved %s: %d keys, revision %d, %d bytes (verified)\n", c.Args().First(), info.Keys, info.Revision, info.Size)
					return nil
				},
			},
			{
				Name: "verify", Usage: "check a snapshot file", ArgsUsage: "FILE", OnUsageError: usageError,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return exitErr(2, "usage: nodectl snapshot verify FILE")
					}
					info, err := embed.VerifySnapshot(c.Args().First())
					if err != nil {
						return cliErr(err)
					}
					fmt.Fprintf(c.App.Writer, "%s: %d keys, revision %d, %d bytes: ok\n", c.Args().First(), info.Keys, info.Revision, info.Size)
					return nil
				},
			},
		},
	}
}

func saveSnapshotFromMaster(ctx context.Context, m *appsAPI, path string) (embed.SnapshotInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	resp, err := m.Client().Stream(ctx, client.Request{Method: http.MethodGet, Path: api.PathSnapshot}) // the context bounds a large download
	if err != nil {
		return embed.SnapshotInfo{}, fmt.Errorf("GET %s: %w", api.PathSnapshot, err)
	}
	defer resp.Body.Close()
	return writeSnapshot(resp.Body, path)
}

// writeSnapshot writes r to path through a temporary file, syncs it and
// verifies it; a snapshot that does not verify is not left at path.
func writeSnapshot(r io.Reader, path string) (embed.SnapshotInfo, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return embed.SnapshotInfo{}, fmt.Errorf("snapshot dir: %w", err)
	}
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return embed.SnapshotInfo{}, fmt.Errorf("write snapshot: %w", err)
	}
	defer os.Remove(part)
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return embed.SnapshotInfo{}, fmt.Errorf("write snapshot: %w", err)
	}
	info, err := embed.VerifySnapshot(part)
	if err != nil {
		return embed.SnapshotInfo{}, err
	}
	if err := os.Rename(part, path); err != nil {
		return embed.SnapshotInfo{}, fmt.Errorf("write snapshot: %w", err)
	}
	return info, nil
}

func (cfg Config) snapshotDir() string { return filepath.Join(cfg.WorkDir, "snapshots") }

// runSnapshots saves a verified snapshot of this master's etcd member into
// dir every interval and keeps the newest retention of them, until ctx ends.
func runSnapshots(ctx context.Context, cli *clientv3.Client, dir string, interval time.Duration, retention int, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		path := filepath.Join(dir, "snapshot-"+time.Now().UTC().Format("20060102T150405.000")+".db")
		info, err := saveLocalSnapshot(ctx, cli, path)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("scheduled snapshot", "err", err)
			}
			continue
		}
		log.Info("saved scheduled snapshot", "path", path, "keys", info.Keys, "revision", info.Revision, "bytes", info.Size)
		pruneSnapshots(dir, retention, log)
	}
}

func saveLocalSnapshot(ctx context.Context, cli *clientv3.Client, path string) (embed.SnapshotInfo, error) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	rc, err := cli.Snapshot(sctx)
	if err != nil {
		return embed.SnapshotInfo{}, fmt.Errorf("etcd snapshot: %w", err)
	}
	defer rc.Close()
	return writeSnapshot(rc, path)
}

// pruneSnapshots removes all but the newest keep scheduled snapshots.
func pruneSnapshots(dir string, keep int, log *slog.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "snapshot-") && strings.HasSuffix(e.Name(), ".db") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names) // the names sort by time
	for _, n := range names[:max(0, len(names)-keep)] {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			log.Warn("prune snapshot", "path", n, "err", err)
		}
	}
}
