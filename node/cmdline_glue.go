package node

import "nodectl/node/cmdline"

// The command-line pieces the node's own commands share with the client
// commands (node/cmdline), under the names this package has always used.
type (
	exitError    = cmdline.ExitError
	durationFlag = cmdline.DurationFlag
	appsAPI      = cmdline.AppsAPI
)

// exitErr ends a command with code and a one-line message.
func exitErr(code int, msg string) error { return &exitError{Code: code, Msg: msg} }

var (
	defaultWorkDir   = cmdline.DefaultWorkDir
	cliTLS           = cmdline.TLS
	cliErr           = cmdline.Err
	clientFlags      = cmdline.ClientFlags
	workDirFlag      = cmdline.WorkDirFlag
	clientConfigFlag = cmdline.ClientConfigFlag
	listFlags        = cmdline.ListFlags
	listFormat       = cmdline.ListFormat
	structured       = cmdline.Structured
	writeFormatted   = cmdline.WriteFormatted
	adminAPI         = cmdline.AdminAPI
	oneLine          = cmdline.OneLine
	dashes           = cmdline.Dashes
)
