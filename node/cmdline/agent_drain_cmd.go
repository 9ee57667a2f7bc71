package cmdline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// agentDrainCommands are `nodectl agent drain|undrain|deactivate`: the
// operator calls DRAIN_AGENT, REACTIVATE_AGENT and DEACTIVATE_AGENT
// (https://mesos.apache.org/documentation/latest/maintenance/, "Automatic
// Node Draining"). An AGENT is an agent id or a hostname.
func agentDrainCommands() []*cli.Command {
	call := func(verb, typ string, extra func(c *cli.Context, body map[string]any) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			if c.NArg() != 1 {
				return &exitError{2, "agent " + verb + " needs one AGENT (agent id or hostname)"}
			}
			m, err := newMasterAPI(c)
			if err != nil {
				return err
			}
			id, err := m.resolveAgent(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			inner := map[string]any{"agent_id": map[string]string{"value": id}}
			if extra != nil {
				if err := extra(c, inner); err != nil {
					return err
				}
			}
			body := map[string]any{"type": typ, strings.ToLower(typ): inner}
			if err := m.c.Post(c.Context, "/api/v1", body, nil); err != nil {
				return cliErr(err)
			}
			fmt.Fprintf(c.App.Writer, "agent %s: %s\n", id, map[string]string{
				"DRAIN_AGENT": "draining (no new offers; its tasks are moved or killed)", "REACTIVATE_AGENT": "reactivated",
				"DEACTIVATE_AGENT": "deactivated (no new offers)",
			}[typ])
			return nil
		}
	}
	return []*cli.Command{
		{
			Name:      "drain",
			Usage:     "drain an agent (DRAIN_AGENT): no more offers; the built-in Marathon moves its app tasks elsewhere within each app's upgradeStrategy, other frameworks' tasks are killed; DRAINED once none is left",
			ArgsUsage: "AGENT",
			Flags: append(clientFlags(),
				&cli.GenericFlag{Name: "max-grace-period", Value: &durationFlag{}, Usage: "cap each killed task's kill grace period (\"30s\", \"10mins\"); default: the task's own"},
				&cli.BoolFlag{Name: "mark-gone", Usage: "mark the agent gone once drained (irreversible: it may never rejoin with this id; needs mark_agents_gone)"},
			),
			Action: call("drain", "DRAIN_AGENT", func(c *cli.Context, body map[string]any) error {
				if c.IsSet("max-grace-period") {
					d := c.Generic("max-grace-period").(*durationFlag).D
					if d < 0 {
						return &exitError{2, "agent drain: --max-grace-period must not be negative"}
					}
					body["max_grace_period"] = map[string]any{"seconds": int64(d.Seconds()), "nanos": int32(d.Nanoseconds() % 1e9)}
				}
				if c.Bool("mark-gone") {
					body["mark_gone"] = true
				}
				return nil
			}),
		},
		{
			Name:      "undrain",
			Aliases:   []string{"reactivate"},
			Usage:     "reactivate a drained or deactivated agent (REACTIVATE_AGENT): it is offered again; refused while still DRAINING",
			ArgsUsage: "AGENT",
			Flags:     clientFlags(),
			Action:    call("undrain", "REACTIVATE_AGENT", nil),
		},
		{
			Name:      "deactivate",
			Usage:     "deactivate an agent (DEACTIVATE_AGENT): no more offers from it; the built-in Marathon moves its app tasks elsewhere, nothing else is killed",
			ArgsUsage: "AGENT",
			Flags:     clientFlags(),
			Action:    call("deactivate", "DEACTIVATE_AGENT", nil),
		},
	}
}

// resolveAgent turns an agent id or hostname into the id, from the
// leader's /slaves.
func (m *masterAPI) resolveAgent(ctx context.Context, ref string) (string, error) {
	var resp struct {
		Slaves []struct {
			ID       string `json:"id"`
			Hostname string `json:"hostname"`
		} `json:"slaves"`
	}
	if err := m.getJSON(ctx, "/slaves", &resp); err != nil {
		return "", cliErr(err)
	}
	var byHost []string
	for _, s := range resp.Slaves {
		if s.ID == ref {
			return s.ID, nil
		}
		if strings.EqualFold(s.Hostname, ref) {
			byHost = append(byHost, s.ID)
		}
	}
	switch len(byHost) {
	case 1:
		return byHost[0], nil
	case 0:
		return "", &exitError{2, fmt.Sprintf("no agent with id or hostname %q (see nodectl agent list)", ref)}
	default:
		b, _ := json.Marshal(byHost)
		return "", &exitError{2, fmt.Sprintf("hostname %q names several agents %s: give the agent id", ref, b)}
	}
}
