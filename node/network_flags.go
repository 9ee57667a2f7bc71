package node

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"nodectl/cluster"
)

// The masters' cluster network flags (docs/networking.md): networks every
// agent can put tasks on, an address per task, joined by a VXLAN overlay
// (cluster/ipam.go leases the subnets, runtime/overlay.go builds it).

// networkFlags are the cluster network flags.
func networkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cluster-cidr", EnvVars: []string{envName("cluster-cidr")},
			Usage: "master: the CIDR of the cluster network \"nodectl\" (e.g. 10.42.0.0/16): tasks on it (Marathon networks [{\"mode\": \"container\", \"name\": \"nodectl\"}]) get an address of their own, reachable from every agent; each agent gets a /24 of it (default: no cluster network)"},
		&cli.StringSliceFlag{Name: "cluster-network", EnvVars: []string{envName("cluster-network")},
			Usage: "master: a further cluster network NAME=CIDR[;allow=NET+NET][;host-prefix=N], repeatable; tasks on different networks cannot reach each other unless the target's allow names the source's network"},
	}
}

func loadNetworkFlags(c *cli.Context, cfg *Config) error {
	nets, err := cluster.ParseClusterNetworks(c.String("cluster-cidr"), c.StringSlice("cluster-network"))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.ClusterNetworks = nets
	return nil
}
