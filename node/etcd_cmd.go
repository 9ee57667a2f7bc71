package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster"
	"nodectl/cluster/apps"
	"nodectl/cluster/pki"
	"nodectl/embed"
)

// recoverSpace brings a full etcd database back (docs/ha.md "A full etcd
// database"): app versions beyond maxVersions are deleted (deletes pass
// the NOSPACE alarm), then cluster.ReclaimSpace compacts, defragments
// every member and disarms the alarm.
func recoverSpace(ctx context.Context, cli *clientv3.Client, maxVersions int, log *slog.Logger) (cluster.SpaceReport, error) {
	if maxVersions <= 0 {
		maxVersions = apps.DefaultMaxVersions
	}
	n, err := apps.PruneVersions(ctx, cli, maxVersions)
	if err != nil {
		return cluster.SpaceReport{}, fmt.Errorf("prune app versions: %w", err)
	}
	if n > 0 {
		log.Info("deleted old app versions", "deleted", n, "max_versions", maxVersions)
	}
	return cluster.ReclaimSpace(ctx, cli, log)
}

// reclaimOnStart runs the recovery before a master's first write when the
// database is full: without it the start-up writes (the CA, the election)
// fail with "database space exceeded". The member's own view of the
// alarms is used: it needs no quorum.
func reclaimOnStart(ctx context.Context, sp embed.Space, cli *clientv3.Client, maxVersions int, log *slog.Logger) error {
	if !sp.NoSpace() {
		return nil
	}
	log.Warn("etcd database is full (NOSPACE alarm): reclaiming space before starting", "db_size", sp.Size, "in_use", sp.InUse, "quota", sp.Quota)
	if _, err := recoverSpace(ctx, cli, maxVersions, log); err != nil {
		return fmt.Errorf("etcd database full and not recovered (docs/ha.md, \"A full etcd database\"): %w", err)
	}
	return nil
}

// etcdCommand is `nodectl etcd`: maintenance of the masters' etcd.
func etcdCommand() *cli.Command {
	return &cli.Command{
		Name:  "etcd",
		Usage: "maintenance of the masters' etcd (docs/ha.md)",
		Subcommands: []*cli.Command{{
			Name:  "recover",
			Usage: "bring a full etcd database back: delete app versions beyond --max-versions, compact, defragment every member, disarm the NOSPACE alarm (run on a master's host, as the user owning its work dir)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "work-dir", Value: defaultWorkDir, Usage: "the master's work dir (its certificate reaches etcd)", EnvVars: []string{envName("work-dir")}},
				&cli.StringFlag{Name: "endpoint", Value: "https://127.0.0.1:2379", Usage: "the master's etcd client URL (https://HOST:--etcd-port)"},
				&cli.IntFlag{Name: "max-versions", Value: apps.DefaultMaxVersions, Usage: "app versions kept per app", Aliases: []string{"zk_max_versions"}},
			},
			OnUsageError: usageError,
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return exitErr(2, "usage: nodectl etcd recover [--work-dir DIR] [--endpoint URL]")
				}
				return cliErr(etcdRecover(c))
			},
		}},
	}
}

func etcdRecover(c *cli.Context) error {
	if c.Int("max-versions") < 1 {
		return exitErr(2, "--max-versions: must be at least 1")
	}
	id, err := pki.LoadIdentity(pki.Paths{Dir: filepath.Join(c.String("work-dir"), "pki")})
	if err != nil {
		if errors.Is(err, pki.ErrNoIdentity) {
			return exitErr(1, fmt.Sprintf("%v: run on a master with --work-dir set to its work dir", err))
		}
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.String("endpoint")}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), TLS: pki.ClientTLS(id, pki.RoleMaster)})
	if err != nil {
		return fmt.Errorf("connect to etcd: %w", err)
	}
	defer cli.Close()
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Minute)
	defer cancel()
	rep, err := recoverSpace(ctx, cli, c.Int("max-versions"), log)
	if err != nil {
		return err
	}
	state := "no NOSPACE alarm was raised"
	if rep.Disarmed {
		state = "NOSPACE alarm disarmed: writes work again"
	}
	fmt.Fprintf(c.App.Writer, "compacted to revision %d, defragmented %d member(s) (sizes %v → %v of quota %d bytes) in %s; %s\n",
		rep.Revision, len(rep.After), rep.Before, rep.After, rep.Quota, rep.Took.Round(time.Millisecond), state)
	return nil
}
