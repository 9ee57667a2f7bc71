package cmdline

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// ExitError ends a command with an exit code and a one-line message
// (2: a usage error; 1: anything else, unless a command says otherwise).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

type exitError = ExitError

// OneLine is s on one line, runs of white space made one space.
func OneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func oneLine(s string) string { return OneLine(s) }

// UsageError turns urfave/flag parse errors into one line naming the
// flag, exit 2 (a command's OnUsageError).
func UsageError(_ *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return &exitError{2, "unknown flag " + Dashes(rest) + " (see --help)"}
	}
	// "invalid value "x" for flag -port: parse error"
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		if val, tail, ok := strings.Cut(rest, " for flag "); ok {
			flag, why, _ := strings.Cut(tail, ": ")
			return &exitError{2, fmt.Sprintf("%s: invalid value %s: %s", Dashes(flag), val, why)}
		}
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return &exitError{2, Dashes(rest) + ": missing value"}
	}
	return &exitError{2, msg}
}

func usageError(c *cli.Context, err error, sub bool) error { return UsageError(c, err, sub) }

// Dashes renders a flag name as --name whatever the parser printed.
func Dashes(s string) string { return "--" + strings.TrimLeft(s, "-") }

// EnvName is the NODECTL_ variable of a flag (--work-dir → NODECTL_WORK_DIR).
func EnvName(flag string) string {
	return "NODECTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func envName(flag string) string { return EnvName(flag) }
