package cmdline

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

// masterCommand is `nodectl master`: the master quorum (docs/ha.md).
func masterCommand() *cli.Command {
	return &cli.Command{
		Name:  "master",
		Usage: "list and remove masters of the quorum",
		Subcommands: []*cli.Command{
			{
				Name: "list", Aliases: []string{"ls"}, Usage: "list the masters (etcd members) with their health", OnUsageError: usageError,
				Flags: append(clientFlags(), listFlags()...),
				Action: func(c *cli.Context) error {
					if c.NArg() != 0 {
						return &exitError{2, "usage: nodectl master list"}
					}
					if _, err := listFormat(c); err != nil {
						return err
					}
					return cliErr(masterList(c))
				},
			},
			{
				Name: "remove", Usage: "remove a master from the quorum (it stops; it must be wiped to join again)", ArgsUsage: "ID",
				OnUsageError: usageError, Flags: clientFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return &exitError{2, "usage: nodectl master remove ID"}
					}
					if _, err := cluster.ParseMemberID(c.Args().First()); err != nil {
						return &exitError{2, strings.TrimPrefix(err.Error(), cluster.ErrBadRequest.Error()+": ")}
					}
					m, err := adminAPI(c)
					if err != nil {
						return err
					}
					if _, _, err := m.do(c.Context, http.MethodDelete, api.PathMembers+"/"+c.Args().First(), nil, nil); err != nil {
						return cliErr(err)
					}
					fmt.Fprintf(c.App.Writer, "removed %s\n", c.Args().First())
					return nil
				},
			},
		},
	}
}

// adminAPI is a client of a master's HTTPS API with the admin credential
// found by cliTLS (a master's client.yaml).
func adminAPI(c *cli.Context) (*appsAPI, error) {
	return newAppsAPI(c)
}

func masterList(c *cli.Context) error {
	m, err := adminAPI(c)
	if err != nil {
		return err
	}
	var q api.Quorum
	_, raw, err := m.do(context.WithoutCancel(c.Context), http.MethodGet, api.PathMembers, nil, &q)
	if err != nil {
		return err
	}
	if o := c.String("output"); structured(o) {
		return writeFormatted(c.App.Writer, o, raw)
	}
	if c.Bool("quiet") {
		for _, x := range q.Members {
			fmt.Fprintln(c.App.Writer, x.ID)
		}
		return nil
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tROLE\tHEALTHY\tETCD LEADER\tMASTER\tPEER URL")
	for _, x := range q.Members {
		role := "voter"
		if x.Learner {
			role = "learner"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%v\t%s\t%s\n", x.ID, dash(x.Name), role, x.Healthy, x.Leader, dash(x.Master), strings.Join(x.PeerURLs, ","))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	health := "healthy"
	if !q.Healthy {
		health = "NOT healthy (writes are refused)"
	}
	fmt.Fprintf(c.App.Writer, "quorum %d of %d voters, %d healthy: %s; leading master %s\n", q.Quorum, q.Voters, q.HealthyVoters, health, dash(q.Leader))
	return nil
}
