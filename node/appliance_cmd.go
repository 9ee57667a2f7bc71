package node

import (
	"context"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster"
	"nodectl/cluster/api"
	"nodectl/cluster/client"
	"nodectl/cluster/pki"
	"nodectl/node/appliance"
)

// applianceNode is what the appliance's PID 1 (node/appliance) needs from
// this package.
func applianceNode() appliance.Node {
	return appliance.Node{
		IsUpFlag:         isUpFlag,
		ShownArgs:        shownArgs,
		CreateAgentToken: createAgentToken,
		ShutdownBudget:   shutdownBudget,
		Version:          api.Version,
	}
}

// initCommand is `nodectl init`: run as the machine's PID 1 (the ISO's
// /init). nodectl also enters it by itself when started as PID 1.
func initCommand() *cli.Command {
	return &cli.Command{
		Name:   "init",
		Usage:  "run as PID 1 of the nodectl appliance (the ISO's /init)",
		Hidden: true,
		Action: func(c *cli.Context) error {
			if os.Getpid() != 1 {
				return exitErr(2, "init must run as PID 1 (the appliance's /init)")
			}
			appliance.Run(applianceNode())
			return nil
		},
	}
}

// poweroffCommand is `nodectl poweroff`: ask the appliance's PID 1 to stop
// the node cleanly and power the machine off (or reboot it).
func poweroffCommand() *cli.Command {
	return &cli.Command{
		Name:  "poweroff",
		Usage: "stop the appliance cleanly and power it off (--reboot: restart it)",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "reboot", Usage: "reboot instead of powering off"}},
		Action: func(c *cli.Context) error {
			if err := appliance.PowerOff(c.Bool("reboot")); err != nil {
				return exitErr(1, err.Error())
			}
			return nil
		},
	}
}

// isUpFlag tells whether name is a spelling of an `up` flag.
func isUpFlag(name string) bool {
	for _, f := range upFlags() {
		for _, n := range f.Names() {
			if n == name && n != "config" {
				return true
			}
		}
	}
	return false
}

// createAgentToken makes an agent join token with the admin credential
// `up` wrote into workDir (the appliance prints it on its console).
func createAgentToken(ctx context.Context, workDir string) (url, token, joinCommand string, err error) {
	base, tlsCfg, err := cliTLS("", workDir, "")
	if err != nil {
		return "", "", "", err
	}
	cc, err := client.New(client.Config{Server: base, TLS: tlsCfg, Timeout: 10 * time.Second})
	if err != nil {
		return "", "", "", err
	}
	defer cc.CloseIdleConnections()
	req := cluster.TokenCreateRequest{Role: pki.RoleAgent, TTL: (24 * time.Hour).String(), Description: "printed on the appliance console"}
	var resp cluster.TokenCreateResponse
	if err := cc.Post(ctx, pki.PathTokens, req, &resp); err != nil {
		return "", "", "", err
	}
	return resp.URL, resp.Token, resp.JoinCommand, nil
}
