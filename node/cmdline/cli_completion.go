package cmdline

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// Shell completion and the man page, both from the command definitions.
//
// bash and zsh ask the binary itself: urfave/cli answers a command line
// ending in --generate-bash-completion with the subcommands (or, after a
// "-" word, the flags) that may come next, so completion always matches
// the installed binary. fish gets a static script generated from the same
// definitions (urfave/cli's ToFishCompletion).

const bashCompletion = `# bash completion for nodectl; install with:
#   nodectl completion bash > /etc/bash_completion.d/nodectl
# or add to ~/.bashrc:  source <(nodectl completion bash)
_nodectl_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}" IFS=$'\n' out
    local -a line=("${COMP_WORDS[@]:0:COMP_CWORD}")
    if [[ "$cur" == -* ]]; then
        out=$("${line[@]}" "$cur" --generate-bash-completion 2>/dev/null)
    else
        out=$("${line[@]}" --generate-bash-completion 2>/dev/null)
    fi
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
}
complete -o default -o bashdefault -F _nodectl_complete nodectl
`

const zshCompletion = `#compdef nodectl
# zsh completion for nodectl; install with:
#   nodectl completion zsh > "${fpath[1]}/_nodectl"
# or add to ~/.zshrc (after compinit):  source <(nodectl completion zsh)
_nodectl() {
    local cur=${words[CURRENT]} out
    local -a line opts
    line=(${words[1,CURRENT-1]})
    if [[ $cur == -* ]]; then
        out=$(${line[@]} $cur --generate-bash-completion 2>/dev/null)
    else
        out=$(${line[@]} --generate-bash-completion 2>/dev/null)
    fi
    opts=(${(f)out})
    if (( ${#opts} )); then
        compadd -- ${opts[@]}
    else
        _files
    fi
}
if [[ "$funcstack[1]" == "_nodectl" ]]; then
    _nodectl "$@"
else
    compdef _nodectl nodectl
fi
`

// completionCommand is `nodectl completion bash|zsh|fish`.
func completionCommand(app *cli.App) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash: source <(nodectl completion bash), or save it in /etc/bash_completion.d/nodectl\n" +
			"zsh:  nodectl completion zsh > \"${fpath[1]}/_nodectl\"\n" +
			"fish: nodectl completion fish > ~/.config/fish/completions/nodectl.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return &exitError{2, "usage: nodectl completion bash|zsh|fish"}
			}
			return writeCompletion(c.App.Writer, app, c.Args().First())
		},
	}
}

func writeCompletion(w io.Writer, app *cli.App, shell string) error {
	switch shell {
	case "bash":
		_, err := io.WriteString(w, bashCompletion)
		return err
	case "zsh":
		_, err := io.WriteString(w, zshCompletion)
		return err
	case "fish":
		s, err := app.ToFishCompletion()
		if err != nil {
			return &exitError{1, "fish completion: " + err.Error()}
		}
		_, err = io.WriteString(w, s)
		return err
	}
	return &exitError{2, fmt.Sprintf("completion %q: want bash, zsh or fish", shell)}
}

// manCommand is `nodectl man`: the man page (roff, section 1) of every
// command, from the same definitions as --help. `make man` writes it to
// docs/nodectl.1.
func manCommand(app *cli.App) *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print the nodectl(1) man page (roff); view it with: nodectl man | man -l -",
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return &exitError{2, "man takes no arguments"}
			}
			s, err := app.ToManWithSection(1)
			if err != nil {
				return &exitError{1, "man page: " + err.Error()}
			}
			_, err = io.WriteString(c.App.Writer, strings.TrimLeft(s, "\n"))
			return err
		},
	}
}
