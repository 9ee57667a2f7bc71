package node

import (
	"io"
	"sync"

	"nodectl/node/cmdline"
)

// RunCLI runs the command line in-process as Main does (exit code and the
// one-line error on stderr), for the external tests of this package.
func RunCLI(args []string, stdout, stderr io.Writer) int {
	cliMu.Lock()
	defer cliMu.Unlock()
	return runCLI(append([]string{"nodectl"}, args...), stdout, stderr)
}

// cliMu runs one in-process command line at a time: urfave/cli's shared
// flags (help, version) are written while a command line is parsed, so
// parallel tests (t.Parallel) must not parse two at once (a data race).
var cliMu sync.Mutex

// RunCLIInput is RunCLI with stdin.
func RunCLIInput(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cliMu.Lock()
	defer cliMu.Unlock()
	return runCLIWith(append([]string{"nodectl"}, args...), stdin, stdout, stderr)
}

// SetTerminal makes the CLI take stdin for a terminal (term) or not, and
// returns the undo.
func SetTerminal(term bool) func() { return cmdline.SetTerminal(term) }

// SecretStore is secretStore, for the store's tests.
var SecretStore = secretStore
