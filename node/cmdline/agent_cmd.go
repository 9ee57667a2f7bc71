package cmdline

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// agentCommand is `nodectl agent`: the agents the leading master knows
// (its Mesos /slaves).
func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "list the cluster's agents; drain, deactivate and reactivate them",
		Subcommands: append([]*cli.Command{{
			Name:    "list",
			Aliases: []string{"ls"},
			Usage:   "list agents: id, host, active, drain state, resources (wide: used and reserved too), from the leader's /slaves",
			Flags:   append(clientFlags(), listFlags()...),
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return &exitError{2, "agent list takes no arguments"}
				}
				format, err := listFormat(c)
				if err != nil {
					return err
				}
				m, err := newMasterAPI(c)
				if err != nil {
					return err
				}
				var resp struct {
					Slaves []json.RawMessage `json:"slaves"`
				}
				if err := m.getJSON(c.Context, "/slaves", &resp); err != nil {
					return cliErr(err)
				}
				if resp.Slaves == nil {
					resp.Slaves = []json.RawMessage{}
				}
				if structured(format) {
					b, _ := json.Marshal(resp.Slaves)
					return writeFormatted(c.App.Writer, format, b)
				}
				type agent struct {
					slaveSummary
					Used        map[string]any `json:"used_resources"`
					Deactivated bool           `json:"deactivated"`
					DrainInfo   *struct {
						State string `json:"state"`
					} `json:"drain_info"`
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				if format != "quiet" {
					head := "ID\tHOST\tACTIVE\tDRAIN\tCPUS\tMEM\tDISK"
					if format == "wide" {
						head += "\tUSED CPUS\tUSED MEM\tADDRESS"
					}
					fmt.Fprintln(tw, head)
				}
				for _, raw := range resp.Slaves {
					var a agent
					if err := json.Unmarshal(raw, &a); err != nil {
						return &exitError{1, "decode /slaves: " + err.Error()}
					}
					if format == "quiet" {
						fmt.Fprintln(tw, a.ID)
						continue
					}
					drain := "-" // DRAIN_AGENT, DEACTIVATE_AGENT (agent_drain_cmd.go)
					switch {
					case a.DrainInfo != nil:
						drain = a.DrainInfo.State
					case a.Deactivated:
						drain = "DEACTIVATED"
					}
					line := fmt.Sprintf("%s\t%s\t%v\t%s\t%v\t%v\t%v", a.ID, a.Hostname, a.Active, drain, a.Resources["cpus"], a.Resources["mem"], a.Resources["disk"])
					if format == "wide" {
						line += fmt.Sprintf("\t%v\t%v\t%s", orZero(a.Used["cpus"]), orZero(a.Used["mem"]), a.PID)
					}
					fmt.Fprintln(tw, line)
				}
				return tw.Flush()
			},
		}}, agentDrainCommands()...), // agent_drain_cmd.go
	}
}

func orZero(v any) any {
	if v == nil {
		return 0
	}
	return v
}
