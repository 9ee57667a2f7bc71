package node

import (
	"io"
	"slices"
	"testing"

	"nodectl/node/cmdline"
)

func TestInterspersedFlags(t *testing.T) {
	// Not t.Parallel: it parses command lines in-process (see cliMu).
	app := newApp(io.Discard, io.Discard, Run)
	for _, c := range []struct{ in, want []string }{
		{[]string{"nodectl", "logs", "hello", "--tail", "3"}, []string{"nodectl", "logs", "--tail", "3", "hello"}},
		{[]string{"nodectl", "logs", "hello", "-f", "--tail=3"}, []string{"nodectl", "logs", "-f", "--tail=3", "hello"}},
		{[]string{"nodectl", "app", "scale", "hello", "2", "--master", "m:1"}, []string{"nodectl", "app", "scale", "--master", "m:1", "hello", "2"}},
		{[]string{"nodectl", "logs", "--tail", "3", "hello"}, []string{"nodectl", "logs", "--tail", "3", "hello"}},
		// A command line of its own stays as it is.
		{[]string{"nodectl", "exec", "T", "ls", "-t"}, []string{"nodectl", "exec", "T", "ls", "-t"}},
		{[]string{"nodectl", "exec", "-t", "T", "--", "sh"}, []string{"nodectl", "exec", "-t", "T", "--", "sh"}},
		{[]string{"nodectl", "execute", "--name", "x", "--", "echo", "--tail"}, []string{"nodectl", "execute", "--name", "x", "--", "echo", "--tail"}},
		// Not the command's flag: left for urfave to name.
		{[]string{"nodectl", "logs", "hello", "--nope"}, []string{"nodectl", "logs", "hello", "--nope"}},
		{[]string{"nodectl", "help", "logs"}, []string{"nodectl", "help", "logs"}},
	} {
		if got := cmdline.Interspersed(app, c.in); !slices.Equal(got, c.want) {
			t.Errorf("%v: got %v, want %v", c.in, got, c.want)
		}
	}
}
