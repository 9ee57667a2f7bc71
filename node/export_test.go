package node

import "io"

// RunCLI runs the command line in-process as Main does (exit code and the
// one-line error on stderr), for the external tests of this package.
func RunCLI(args []string, stdout, stderr io.Writer) int {
	return runCLI(append([]string{"nodectl"}, args...), stdout, stderr)
}
