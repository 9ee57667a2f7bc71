package cmdline

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// The command line as a shell sees it: `nodectl help [COMMAND...]` for
// every command, exit 2 on every usage error (unknown command or
// subcommand, unknown flag, missing argument or required flag), help
// wrapped to the terminal, completion scripts and a man page generated
// from the same command definitions.

func init() {
	// Help goes through one printer that wraps it to the terminal's width
	// (80 columns when the output is not a terminal).
	cli.HelpPrinter = func(w io.Writer, templ string, data any) {
		var buf bytes.Buffer
		cli.HelpPrinterCustom(&buf, templ, data, nil)
		_, _ = io.WriteString(w, wrapHelp(buf.String(), helpWidth(w)))
	}
}

// helpWidth is the width help is wrapped at: the terminal's, else
// $COLUMNS, else 80.
func helpWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 20 {
		return n
	}
	return 80
}

// wrapHelp wraps each line longer than width at spaces. A continuation
// is indented to where the line's text column starts (after the first run
// of two or more spaces following the line's first word, as in a flag or
// command listing), or 4 past the line's own indent when that column is
// too far right to leave room.
func wrapHelp(text string, width int) string {
	var out strings.Builder
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if i > 0 {
			out.WriteByte('\n')
		}
		out.WriteString(wrapLine(strings.TrimRight(line, " "), width))
	}
	return out.String()
}

func wrapLine(line string, width int) string {
	if utf8.RuneCountInString(line) <= width {
		return line
	}
	indent := len(line) - len(strings.TrimLeft(line, " "))
	hang := indent + 4
	if i := strings.Index(line[indent:], "  "); i > 0 {
		col := indent + i
		for col < len(line) && line[col] == ' ' {
			col++
		}
		if col < len(line) && utf8.RuneCountInString(line[:col]) <= width/2 {
			hang = utf8.RuneCountInString(line[:col])
		}
	}
	if hang >= width-10 {
		hang = min(indent, width/4)
	}
	var out strings.Builder
	cur := line[:indent]
	curLen := indent
	pad := strings.Repeat(" ", hang)
	rest := line[indent:]
	first := true
	for len(rest) > 0 {
		// the next word with the spaces before it
		sp := len(rest) - len(strings.TrimLeft(rest, " "))
		end := strings.IndexByte(rest[sp:], ' ')
		if end < 0 {
			end = len(rest)
		} else {
			end += sp
		}
		word := rest[sp:end]
		gap := rest[:sp]
		wl := utf8.RuneCountInString(word)
		if !first && curLen+len(gap)+wl > width && curLen > hang {
			out.WriteString(cur)
			out.WriteByte('\n')
			cur, curLen = pad+word, hang+wl
		} else {
			cur += gap + word
			curLen += len(gap) + wl
		}
		first = false
		rest = rest[end:]
	}
	out.WriteString(cur)
	return out.String()
}

// fitShell completes the command tree after it is built: every command
// reports usage errors with exit 2, knows its full help name, and a
// command with subcommands answers an unknown one with exit 2 (urfave
// would show help and exit 0, or "No help topic", exit 3). Required flags
// are checked here, as usage errors, instead of by urfave (which prints the
// whole help to stdout first).
func fitShell(app *cli.App) {
	app.HideHelpCommand = true
	app.EnableBashCompletion = true
	app.Action = func(c *cli.Context) error {
		if c.NArg() == 0 {
			return cli.ShowAppHelp(c)
		}
		return unknownCommand(app.Name, c.Args().First())
	}
	app.Commands = append(app.Commands, helpCommand(app), completionCommand(app), manCommand(app))
	for _, cmd := range app.Commands {
		fitCommand(cmd)
	}
}

func fitCommand(cmd *cli.Command) {
	cmd.HideHelpCommand = true // `CMD help` is `nodectl help CMD`; `execute -- help` stays an argument
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = usageError
	}
	checkRequired(cmd)
	if len(cmd.Subcommands) == 0 {
		return
	}
	if cmd.Action == nil {
		group := cmd
		cmd.Action = func(c *cli.Context) error {
			switch {
			case c.NArg() == 0:
				return cli.ShowSubcommandHelp(c)
			case c.Args().First() == "help":
				return showHelp(c.App.Writer, c.Command.HelpName, group.Subcommands, c.Args().Tail())
			}
			return unknownCommand(c.Command.HelpName, c.Args().First())
		}
	}
	for _, sub := range cmd.Subcommands {
		fitCommand(sub)
	}
}

// checkRequired turns the command's required flags into a check of its
// own that fails with exit 2 and one line.
func checkRequired(cmd *cli.Command) {
	var names []string
	for _, f := range cmd.Flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			if f.Required {
				f.Required = false
				names = append(names, f.Name)
			}
		case *cli.StringSliceFlag:
			if f.Required {
				f.Required = false
				names = append(names, f.Name)
			}
		case *cli.IntFlag:
			if f.Required {
				f.Required = false
				names = append(names, f.Name)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		for _, n := range names {
			if !c.IsSet(n) {
				return &exitError{2, fmt.Sprintf("%s: missing --%s (see --help)", strings.TrimPrefix(c.Command.HelpName, "nodectl "), n)}
			}
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}

// unknownCommand is the usage error for an unknown (sub)command name
// under path ("nodectl task").
func unknownCommand(path, name string) error {
	return &exitError{2, fmt.Sprintf("unknown command %q for %s (see: %s)", name, path, strings.Replace(path, "nodectl", "nodectl help", 1))}
}

// helpCommand is `nodectl help [COMMAND [SUBCOMMAND...]]`.
func helpCommand(app *cli.App) *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or one command's help",
		ArgsUsage: "[COMMAND [SUBCOMMAND...]]",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			return showHelp(c.App.Writer, app.Name, app.Commands, c.Args().Slice())
		},
	}
}

// showHelp prints the help of the command at path under cmds.
func showHelp(w io.Writer, parent string, cmds []*cli.Command, path []string) error {
	var cmd *cli.Command
	for _, name := range path {
		next := findCommand(cmds, name)
		if next == nil {
			return unknownCommand(parent, name)
		}
		next.HelpName = parent + " " + next.Name
		cmd, cmds, parent = next, next.Subcommands, next.HelpName
	}
	if cmd == nil {
		return nil
	}
	templ := cli.CommandHelpTemplate
	if len(cmd.Subcommands) > 0 {
		templ = cli.SubcommandHelpTemplate
	}
	cli.HelpPrinter(w, templ, cmd)
	return nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) && !c.Hidden {
			return c
		}
	}
	return nil
}

// usageErr is the usage error of a command given the wrong arguments; when
// a flag came after them (urfave/cli stops reading flags at the first
// argument) it says so.
func usageErr(c *cli.Context, usage string) error {
	for _, a := range c.Args().Slice() {
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			return &exitError{2, fmt.Sprintf("%s: flags go before the arguments (%s came after them); usage: %s", strings.TrimPrefix(c.Command.HelpName, "nodectl "), a, usage)}
		}
	}
	return &exitError{2, "usage: " + usage}
}
