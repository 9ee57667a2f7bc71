package node

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
)

// cliRun runs the command line in-process: stdout, stderr, exit code.
func cliRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
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

func TestWrapHelp(t *testing.T) {
	in := "   --name value     " + strings.Repeat("word ", 30) + "\nshort line\n"
	got := wrapHelp(in, 40)
	lines := strings.Split(got, "\n")
	if len(lines) < 4 || lines[len(lines)-2] != "short line" {
		t.Fatalf("wrapped:\n%s", got)
	}
	for _, l := range lines[1 : len(lines)-2] {
		if len(l) > 40 || !strings.HasPrefix(l, strings.Repeat(" ", 20)+"word") {
			t.Errorf("continuation %q: want ≤ 40 columns, indented to the text column", l)
		}
	}
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(in), " ") {
		t.Errorf("words changed:\n%s", got)
	}
}

func TestJSONToYAML(t *testing.T) {
	got, err := jsonToYAML([]byte(`[{"id":"/a","n":1,"ok":true,"s":"true","l":[1,2],"m":{}}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := "- id: /a\n  n: 1\n  ok: true\n  s: \"true\"\n  l:\n    - 1\n    - 2\n  m: {}\n"
	if string(got) != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	p := &prefixWriter{prefix: "t1 | ", w: &b}
	_, _ = p.Write([]byte("a\nb"))
	_, _ = p.Write([]byte("c\n\nd"))
	p.flush()
	if b.String() != "t1 | a\nt1 | bc\nt1 | \nt1 | d\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestRawBytes(t *testing.T) {
	for _, c := range []struct {
		in     string
		length int64
		want   string
		n      int64
	}{
		{"abc", 10, "abc", 3},
		{"héllo", 10, "héllo", 6},
		{"ab\uFFFD", 10, "ab\uFFFD", 3},  // an invalid byte, not at a chunk's end
		{"abc\uFFFD\uFFFD", 5, "abc", 3}, // a character cut by the chunk's end
	} {
		b, n := rawBytes(c.in, c.length)
		if string(b) != c.want || n != c.n {
			t.Errorf("rawBytes(%q, %d) = %q, %d; want %q, %d", c.in, c.length, b, n, c.want, c.n)
		}
	}
}

// sandboxFile reads through a real files API (the one agents serve).
func TestSandboxFileTailAndDrain(t *testing.T) {
	dir := t.TempDir()
	var content strings.Builder
	for i := range 5000 {
		content.WriteString("line " + strings.Repeat("x", i%50) + "\n")
	}
	content.WriteString("last-partial")
	if err := os.WriteFile(filepath.Join(dir, "stdout"), []byte(content.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	files := api.FilesHandler(func(virtual string) (api.FileTarget, error) {
		rel, ok := strings.CutPrefix(virtual, "/sb/")
		if !ok {
			return api.FileTarget{}, api.ErrFileNotFound
		}
		return api.FileTarget{Root: dir, Rel: rel}, nil
	})
	srv := httptest.NewServer(http.StripPrefix("/agents/a1", files))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := newSandboxFile(c, "a1", "/sb", "stdout")
	if err := f.seekTail(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := f.drain(ctx, &b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(content.String(), "\n")
	if want := strings.Join(lines[len(lines)-3:], "\n"); b.String() != want {
		t.Errorf("tail 3: %q, want %q", b.String(), want)
	}
	// all of it, across many chunks
	f = newSandboxFile(c, "a1", "/sb", "stdout")
	b.Reset()
	for {
		more, err := f.drain(ctx, &b)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	if b.String() != content.String() {
		t.Errorf("drained %d bytes, want %d", b.Len(), content.Len())
	}
	// a file not there yet copies nothing
	missing := newSandboxFile(c, "a1", "/sb", "stderr")
	if more, err := missing.drain(ctx, &b); more || err != nil {
		t.Errorf("missing file: %v %v", more, err)
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
