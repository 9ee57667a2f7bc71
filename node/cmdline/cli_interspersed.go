package cmdline

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves the flags a user gave after a command's arguments
// (`nodectl logs hello --tail 3`) in front of them, where urfave/cli v2
// reads flags: it stops at the first argument. Only flags the command
// defines move, with their value when they take one; everything after
// `--` stays. Commands that run a command line of their own (their
// ArgsUsage names a COMMAND: execute, exec, app exec) keep everything
// after their first argument as it is, since `exec TASK ls -t` means ls's
// -t.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmds := app.Commands
	var leaf *cli.Command
	i := 1
	for ; i < len(args); i++ {
		c := findCommand(cmds, args[i])
		if c == nil {
			break
		}
		leaf, cmds = c, c.Subcommands
		if len(cmds) == 0 {
			i++
			break
		}
	}
	if leaf == nil || leaf.SkipFlagParsing || len(leaf.Subcommands) > 0 {
		return args
	}
	takesCommand := strings.Contains(leaf.ArgsUsage, "COMMAND")
	flags := map[string]cli.Flag{}
	for _, f := range leaf.Flags {
		for _, n := range f.Names() {
			flags[n] = f
		}
	}
	var front, positional []string
	rest := args[i:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" || (takesCommand && len(positional) > 0) {
			positional = append(positional, rest[j:]...)
			break
		}
		name, hasValue := strings.CutPrefix(a, "--")
		if !hasValue {
			name, hasValue = strings.CutPrefix(a, "-")
		}
		if !hasValue || name == "" || len(positional) == 0 {
			if hasValue && name != "" {
				front = append(front, a) // before any argument: urfave reads it
				if f, ok := flags[strings.SplitN(name, "=", 2)[0]]; ok && takesValue(f) && !strings.Contains(name, "=") && j+1 < len(rest) {
					j++
					front = append(front, rest[j])
				}
				continue
			}
			positional = append(positional, a)
			continue
		}
		base, _, inline := strings.Cut(name, "=")
		f, ok := flags[base]
		if !ok {
			positional = append(positional, a) // not ours: an argument (or an error urfave names)
			continue
		}
		front = append(front, a)
		if takesValue(f) && !inline && j+1 < len(rest) {
			j++
			front = append(front, rest[j])
		}
	}
	out := append(append(append([]string(nil), args[:i]...), front...), positional...)
	return out
}

// takesValue tells whether a flag reads the next argument as its value.
func takesValue(f cli.Flag) bool {
	if _, ok := f.(*cli.BoolFlag); ok {
		return false
	}
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.TakesValue()
	}
	return true
}
