package node

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// RunCLI runs the command line in-process as Main does (exit code and the
// one-line error on stderr), for the external tests of this package.
func RunCLI(args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr, Run).Run(append([]string{"nodectl"}, args...))
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	var ce cli.ExitCoder
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.As(err, &ce):
		code = ce.ExitCode()
	case errors.Is(err, ErrConfig):
		code = 2
	}
	fmt.Fprintln(stderr, "nodectl: "+oneLine(err.Error()))
	return code
}
