package node

import "github.com/urfave/cli/v2"

// extraCommands are the subcommands beyond up/health/version.
func extraCommands() []*cli.Command {
	return []*cli.Command{
		imageCommand(),
		executeCommand(),
		logsCommand(),
		taskCommand(),
		execCommand(),
		agentCommand(),
		appCommand(),
		volumeCommand(),
		masterCommand(),
		snapshotCommand(),
		etcdCommand(),
		tokenCommand(),
		userCommand(),
		secretCommand(),
		whoamiCommand(),
		checkCommand(), // check_cmd.go
		initCommand(),
		poweroffCommand(),
		maintenanceCommand(), // maint_cmd.go
	}
}
