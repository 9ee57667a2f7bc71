package cmdline

import (
	"crypto/tls"
	"io"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/client"
)

// Commands are the client commands: they talk to a cluster's masters
// (and agents, through them) over HTTPS with the credentials the client
// config or a work dir gives.
func Commands() []*cli.Command {
	return []*cli.Command{
		executeCommand(),
		logsCommand(),
		taskCommand(),
		execCommand(),
		agentCommand(),
		appCommand(),
		volumeCommand(),
		masterCommand(),
		tokenCommand(),
		userCommand(),
		secretCommand(),
		whoamiCommand(),
		checkCommand(),
		maintenanceCommand(), // maint_cmd.go
		clusterCommand(),     // cluster_upgrade_cmd.go
	}
}

// The pieces of the command line the node's own commands share.
var (
	// DefaultWorkDir is a node's work dir when --work-dir is not given.
	DefaultWorkDir = defaultWorkDir
	// ClientFlags are the flags of a command that talks to a master.
	ClientFlags = clientFlags
	// WorkDirFlag and ClientConfigFlag are two of ClientFlags alone.
	WorkDirFlag      = workDirFlag
	ClientConfigFlag = clientConfigFlag
	// ListFlags are -q and -o of a listing; ListFormat reads them.
	ListFlags  = listFlags
	ListFormat = listFormat
	// Structured tells whether a format is json or yaml.
	Structured = structured
	// Interspersed moves flags given after a command's arguments before them.
	Interspersed = interspersed
	// FitShell adds help, completion and man to app and fits its help to
	// the terminal.
	FitShell = fitShell
	// AdminAPI is the master API client of a command's flags.
	AdminAPI = adminAPI
	// Err is the one-line CLI error of a master's refusal.
	Err = cliErr
)

// AppsAPI is a client of the master API, as a command's flags describe.
type AppsAPI = appsAPI

// Client is the HTTP client of the master API behind m.
func (m *appsAPI) Client() *client.Client { return m.c }

// WriteFormatted writes raw JSON as format (json or yaml).
func WriteFormatted(w io.Writer, format string, raw []byte) error {
	return writeFormatted(w, format, raw)
}

// TLS is the master address and TLS configuration of a client config, a
// work dir or a master address (cliTLS).
func TLS(explicitConfig, workDir, master string) (string, *tls.Config, error) {
	return cliTLS(explicitConfig, workDir, master)
}

// SetTerminal makes the commands take stdin for a terminal (term) or not,
// for tests that drive them with a pipe; it returns the undo.
func SetTerminal(term bool) func() {
	old := isTerminal
	isTerminal = func(io.Reader) bool { return term }
	return func() { isTerminal = old }
}
