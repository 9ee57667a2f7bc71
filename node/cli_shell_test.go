package node

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
)

// cliRun runs the command line in-process: stdout, stderr, exit code.
func cliRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cliMu.Lock() // urfave/cli's shared flags: one in-process command line at a time
	defer cliMu.Unlock()
	var out, errOut bytes.Buffer
	code := runCLIWith(append([]string{"nodectl"}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// commandPaths lists every command as its path of names.
func commandPaths(cmds []*cli.Command, prefix []string) [][]string {
	var out [][]string
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		p := append(append([]string(nil), prefix...), c.Name)
		out = append(out, p)
		out = append(out, commandPaths(c.Subcommands, p)...)
	}
	return out
}

// Every command has help, through `nodectl help PATH...`, `PATH... --help`
// and, for groups, `GROUP help SUB`; no help line is wider than 80
// columns when the output is not a terminal (but for a single long word).
func TestHelpForEveryCommand(t *testing.T) {
	t.Setenv("COLUMNS", "")
	app := newApp(os.Stdout, os.Stderr, nil)
	paths := commandPaths(app.Commands, nil)
	if len(paths) < 40 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, p := range paths {
		if p[0] == "help" {
			continue // `help --help` is the commands' list
		}
		for _, args := range [][]string{append([]string{"help"}, p...), append(append([]string(nil), p...), "--help")} {
			out, errOut, code := cliRun(t, args...)
			if code != 0 || !strings.Contains(out, "NAME:") || !strings.Contains(out, "nodectl "+strings.Join(p, " ")) || errOut != "" {
				t.Errorf("%v: exit %d, stderr %q\n%s", args, code, errOut, out)
				continue
			}
			for _, line := range strings.Split(out, "\n") {
				if utf8.RuneCountInString(line) > 80 && strings.Contains(strings.TrimSpace(line), " ") {
					t.Errorf("%v: line of %d columns: %q", args, utf8.RuneCountInString(line), line)
				}
			}
		}
	}
	out, _, code := cliRun(t, "task", "help", "kill")
	if code != 0 || !strings.Contains(out, "nodectl task kill") {
		t.Errorf("task help kill: exit %d\n%s", code, out)
	}
	out, _, code = cliRun(t, "help")
	if code != 0 || !strings.Contains(out, "COMMANDS:") || !strings.Contains(out, "logs") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// Usage errors exit 2 with one line on stderr and nothing on stdout.
func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"help", "no-such-command"},
		{"help", "task", "nope"},
		{"task", "logs"},
		{"app", "nope"},
		{"task", "list", "--bogus"},
		{"execute", "--", "echo"}, // --name missing
		{"execute", "--name", "x"},
		{"execute", "--name", "x", "-o", "json", "--", "true"}, // -o needs --detach
		{"logs"},
		{"logs", "a", "b"},
		{"logs", "x", "--tail"}, // a flag after the argument is moved before it, and lacks its value
		{"logs", "--tail", "-2", "x"},
		{"app", "logs"},
		{"app", "kill"},
		{"app", "kill", "--task", "t", "--host", "h", "a"},
		{"app", "edit"},
		{"app", "exec", "a"},
		{"app", "list", "-o", "xml"},
		{"app", "list", "-q", "-o", "json"},
		{"task", "list", "-o", "xml"},
		{"agent", "list", "extra"},
		{"completion"},
		{"completion", "powershell"},
		{"man", "x"},
		{"up", "--role"},
	} {
		out, errOut, code := cliRun(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "nodectl: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, one line", args, code, out, errOut)
		}
	}
}

// The completion scripts and the man page come from the definitions.
func TestCompletionAndMan(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "complete -o default -o bashdefault -F _nodectl_complete nodectl",
		"zsh":  "#compdef nodectl",
		"fish": "complete -r -c nodectl -n '__fish_nodectl_no_subcommand' -a 'logs'",
	} {
		out, errOut, code := cliRun(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) || errOut != "" {
			t.Errorf("completion %s: exit %d, stderr %q, lacks %q", shell, code, errOut, want)
		}
	}
	// What bash and zsh ask the binary is checked by the e2e test: urfave
	// reads os.Args for it.
	out, _, code := cliRun(t, "man")
	for _, want := range []string{".TH nodectl 1", ".SH COMMANDS", "\n.SH logs\n", "\n.SS edit\n", "completion"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("man: exit %d, lacks %q", code, want)
		}
	}
}

// TestManPageCurrent: docs/nodectl.1 is the man page of this binary's
// commands (NODECTL_UPDATE_DOCS=1 rewrites it, as `make man` does).
func TestManPageCurrent(t *testing.T) {
	out, _, code := cliRun(t, "man")
	if code != 0 {
		t.Fatalf("man: exit %d", code)
	}
	const doc = "../docs/nodectl.1"
	raw, _ := os.ReadFile(doc)
	if string(raw) == out {
		return
	}
	if os.Getenv("NODECTL_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(doc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is not this binary's man page: run make man (or NODECTL_UPDATE_DOCS=1 go test ./node -run TestManPageCurrent)", doc)
}
