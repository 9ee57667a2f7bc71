package cmdline

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster"
	"nodectl/cluster/pki"
)

// tokenCommand is `nodectl token`: join tokens on the master's
// /master/tokens, authenticated with the admin certificate of the client
// config.
func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "create, list and revoke join tokens",
		Subcommands: []*cli.Command{
			{
				Name:         "create",
				Usage:        "create a join token; prints the token, then the command that joins a node with it",
				OnUsageError: usageError,
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "role", Value: pki.RoleAgent, Usage: "agent or master"},
					&cli.GenericFlag{Name: "ttl", Value: &durationFlag{24 * time.Hour}, Usage: "lifetime (0: never expires)"},
					&cli.IntFlag{Name: "uses", Usage: "how many nodes may join with it (0: unlimited)"},
					&cli.StringFlag{Name: "description", Usage: "a note shown in token list"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return &exitError{2, "token create takes no arguments"}
					}
					role := c.String("role")
					if role != pki.RoleAgent && role != pki.RoleMaster {
						return &exitError{2, fmt.Sprintf("--role %q: want agent or master", role)}
					}
					if c.Int("uses") < 0 {
						return &exitError{2, "--uses must not be negative (0: unlimited)"}
					}
					cc, err := newClient(c, callTimeout)
					if err != nil {
						return err
					}
					req := cluster.TokenCreateRequest{Role: role, TTL: c.Generic("ttl").(*durationFlag).D.String(), Uses: c.Int("uses"), Description: c.String("description")}
					var resp cluster.TokenCreateResponse
					if err := cc.Post(c.Context, pki.PathTokens, req, &resp); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, resp.Token)
					fmt.Fprintln(c.App.Writer, resp.JoinCommand)
					return nil
				},
			},
			{
				Name:         "list",
				Aliases:      []string{"ls"},
				Usage:        "list join tokens (secrets are not shown)",
				OnUsageError: usageError,
				Flags:        append(clientFlags(), listFlags()...),
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return &exitError{2, "token list takes no arguments"}
					}
					o, err := listFormat(c)
					if err != nil {
						return err
					}
					cc, err := newClient(c, callTimeout)
					if err != nil {
						return err
					}
					var resp struct {
						Tokens []pki.TokenInfo `json:"tokens"`
					}
					if err := cc.Get(c.Context, pki.PathTokens, &resp); err != nil {
						return err
					}
					return printTokens(c.App.Writer, resp.Tokens, o, time.Now())
				},
			},
			{
				Name:         "revoke",
				Usage:        "revoke a join token; nodes that joined with it stay",
				ArgsUsage:    "ID",
				OnUsageError: usageError,
				Flags:        clientFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return &exitError{2, "usage: nodectl token revoke ID"}
					}
					id := c.Args().First()
					if t, err := pki.ParseToken(id); err == nil {
						id = t.ID // a whole token names its id too
					}
					cc, err := newClient(c, callTimeout)
					if err != nil {
						return err
					}
					var info pki.TokenInfo
					if err := cc.Delete(c.Context, pki.PathTokens+"/"+url.PathEscape(id), &info); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "token %s revoked\n", info.ID)
					return nil
				},
			},
		},
	}
}

func printTokens(w io.Writer, tokens []pki.TokenInfo, output string, now time.Time) error {
	if structured(output) {
		if tokens == nil {
			tokens = []pki.TokenInfo{}
		}
		b, err := json.Marshal(tokens)
		if err != nil {
			return err
		}
		return writeFormatted(w, output, b)
	}
	if output == "quiet" {
		for _, t := range tokens {
			fmt.Fprintln(w, t.ID)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSTATE\tUSED\tEXPIRES\tCREATED\tDESCRIPTION")
	for _, t := range tokens {
		uses := fmt.Sprintf("%d/%d", t.Used, t.Uses)
		if t.Uses == 0 {
			uses = fmt.Sprintf("%d/unlimited", t.Used)
		}
		exp := "never"
		if !t.Expires.IsZero() {
			exp = t.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.State(now), uses, exp, t.Created.UTC().Format(time.RFC3339), t.Description)
	}
	return tw.Flush()
}
