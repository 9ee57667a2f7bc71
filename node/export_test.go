package node

import (
	"io"

	"nodectl/node/cmdline"
)

// RunCLI runs the command line in-process as Main does (exit code and the
// one-line error on stderr), for the external tests of this package.
func RunCLI(args []string, stdout, stderr io.Writer) int {
	return runCLI(append([]string{"nodectl"}, args...), stdout, stderr)
}

// RunCLIInput is RunCLI with stdin.
func RunCLIInput(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runCLIWith(append([]string{"nodectl"}, args...), stdin, stdout, stderr)
}

// SetTerminal makes the CLI take stdin for a terminal (term) or not, and
// returns the undo.
func SetTerminal(term bool) func() { return cmdline.SetTerminal(term) }

// SecretStore is secretStore, for the store's tests.
var SecretStore = secretStore
