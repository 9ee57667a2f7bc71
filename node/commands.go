package node

import (
	"github.com/urfave/cli/v2"

	"nodectl/node/cmdline"
)

// extraCommands are the subcommands beyond up/health/version: the node's
// own (images, snapshots, etcd, the appliance) and the client commands of
// node/cmdline, in the order help lists them.
func extraCommands() []*cli.Command {
	out := []*cli.Command{imageCommand()}
	for _, c := range cmdline.Commands() {
		out = append(out, c)
		if c.Name == "master" {
			out = append(out, snapshotCommand(), etcdCommand())
		}
	}
	return append(out, initCommand(), poweroffCommand(), installCommand(), upgradeCommand())
}
