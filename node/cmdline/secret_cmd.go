package cmdline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/client"
	"nodectl/cluster/secrets"
)

// secretCommand is `nodectl secret`: the cluster secret store (values
// sealed in etcd; apps reference them by path through Marathon's
// "secrets"). No command ever prints a value: the store gives none back.
func secretCommand() *cli.Command {
	sub := func(name, usage, argsUsage string, nargs int, flags []cli.Flag, run func(c *cli.Context, args []string, dial func() (*client.Client, error)) error) *cli.Command {
		return &cli.Command{
			Name: name, Usage: usage, ArgsUsage: argsUsage, OnUsageError: usageError,
			Flags: append(clientFlags(), flags...),
			Action: func(c *cli.Context) error {
				args, err := lateFlags(c, nargs)
				if err != nil {
					return err
				}
				if len(args) != nargs {
					return &exitError{2, strings.TrimSpace("usage: nodectl secret " + name + " " + argsUsage)}
				}
				if nargs > 0 {
					p, err := secrets.CleanPath(args[0])
					if err != nil {
						return &exitError{2, err.Error()}
					}
					args[0] = p
				}
				if _, _, err := credentials(c); err != nil {
					return err
				}
				return cliErr(run(c, args, func() (*client.Client, error) { return newClient(c, callTimeout) }))
			},
		}
	}
	return &cli.Command{
		Name:  "secret",
		Usage: "manage the cluster's secrets (sealed in etcd; apps use them through Marathon's \"secrets\")",
		Subcommands: []*cli.Command{
			sub("create", "create or replace a secret; the value comes from --value, --from-file, or stdin (one trailing newline removed)", "PATH", 1,
				[]cli.Flag{
					&cli.StringFlag{Name: "value", Usage: "the value (visible in the process list and shell history: prefer --from-file or stdin)"},
					&cli.StringFlag{Name: "from-file", Usage: "file whose contents (exact bytes, UTF-8) are the value"},
				}, secretCreate),
			withAlias(sub("list", "list secret paths (never values)", "", 0,
				listFlags(), secretList), "ls"),
			withAlias(sub("remove", "remove a secret", "PATH", 1, nil, secretRemove), "rm"),
		},
	}
}

// secretValue reads the value of `secret create` from exactly one source.
func secretValue(c *cli.Context) (string, error) {
	n := 0
	for _, f := range []string{"value", "from-file"} {
		if c.IsSet(f) {
			n++
		}
	}
	if n > 1 {
		return "", &exitError{2, "give one of --value and --from-file (or the value on stdin)"}
	}
	var v string
	switch {
	case c.IsSet("value"):
		v = c.String("value")
	case c.IsSet("from-file"):
		b, err := os.ReadFile(c.String("from-file"))
		if err != nil {
			return "", &exitError{2, "--from-file: " + err.Error()}
		}
		v = string(b)
	default:
		if isTerminal(c.App.Reader) {
			return "", &exitError{2, "no value: give --value or --from-file, or pipe the value on stdin"}
		}
		b, err := io.ReadAll(io.LimitReader(c.App.Reader, secrets.MaxValue+2))
		if err != nil {
			return "", &exitError{2, "read value from stdin: " + err.Error()}
		}
		v = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	switch {
	case v == "":
		return "", &exitError{2, "the value is empty"}
	case len(v) > secrets.MaxValue:
		return "", &exitError{2, fmt.Sprintf("the value is longer than %d bytes", secrets.MaxValue)}
	case !utf8.ValidString(v):
		return "", &exitError{2, "the value is not UTF-8 text (encode binary values, e.g. base64)"}
	}
	return v, nil
}

func secretCreate(c *cli.Context, args []string, dial func() (*client.Client, error)) error {
	v, err := secretValue(c)
	if err != nil {
		return err
	}
	cl, err := dial()
	if err != nil {
		return err
	}
	var resp secrets.PutResponse
	if err := cl.Put(c.Context, secrets.PathSecrets+args[0], secrets.PutRequest{Value: v}, &resp); err != nil {
		return fmt.Errorf("create secret %s: %w", args[0], err)
	}
	verb := "replaced"
	if resp.Created {
		verb = "created"
	}
	fmt.Fprintf(c.App.ErrWriter, "secret %s %s\n", args[0], verb)
	return nil
}

func secretList(c *cli.Context, _ []string, dial func() (*client.Client, error)) error {
	o, err := listFormat(c)
	if err != nil {
		return err
	}
	cl, err := dial()
	if err != nil {
		return err
	}
	var resp secrets.ListResponse
	if err := cl.Get(c.Context, secrets.PathSecrets, &resp); err != nil {
		return err
	}
	if structured(o) {
		if resp.Secrets == nil {
			resp.Secrets = []secrets.Entry{}
		}
		b, _ := json.Marshal(resp.Secrets)
		return writeFormatted(c.App.Writer, o, b)
	}
	if o == "quiet" {
		for _, e := range resp.Secrets {
			fmt.Fprintln(c.App.Writer, e.Path)
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tUPDATED")
	for _, e := range resp.Secrets {
		fmt.Fprintf(tw, "%s\t%s\n", e.Path, e.Updated.Format(time.RFC3339))
	}
	return tw.Flush()
}

func secretRemove(c *cli.Context, args []string, dial func() (*client.Client, error)) error {
	cl, err := dial()
	if err != nil {
		return err
	}
	if err := cl.Delete(c.Context, secrets.PathSecrets+args[0], nil); err != nil {
		return fmt.Errorf("remove secret %s: %w", args[0], err)
	}
	fmt.Fprintf(c.App.ErrWriter, "secret %s removed\n", args[0])
	return nil
}
