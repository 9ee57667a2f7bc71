package cmdline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
)

// volumeCommand is `nodectl volume ls`: the persistent volumes of every
// agent, from the leading master's /state (reserved_resources_full), with
// each volume's usage from its agent's /state.
func volumeCommand() *cli.Command {
	return &cli.Command{
		Name:  "volume",
		Usage: "persistent volumes on the agents",
		Subcommands: []*cli.Command{{
			Name:         "list",
			Aliases:      []string{"ls"},
			Usage:        "list persistent volumes: agent, role, persistence id, size, used, app instance",
			OnUsageError: usageError,
			Flags: append(clientFlags(),
				listFlags()...,
			),
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return &exitError{2, "volume ls takes no arguments"}
				}
				format, err := listFormat(c)
				if err != nil {
					return err
				}
				m, err := newMasterAPI(c)
				if err != nil {
					return err
				}
				vs, err := listVolumes(c.Context, m)
				if err != nil {
					return cliErr(err)
				}
				return printVolumes(c.App.Writer, format, vs)
			},
		}},
	}
}

// volumeRow is one persistent volume as `volume ls` shows it.
type volumeRow struct {
	AgentID       string  `json:"agent_id"`
	Hostname      string  `json:"hostname"`
	Role          string  `json:"role"`
	PersistenceID string  `json:"persistence_id"`
	ContainerPath string  `json:"container_path"`
	SizeMB        float64 `json:"size_mb"`
	UsedBytes     *int64  `json:"used_bytes"` // nil: the agent did not answer
	Instance      string  `json:"instance,omitempty"`
}

func listVolumes(ctx context.Context, m *masterAPI) ([]volumeRow, error) {
	var st struct {
		Slaves []struct {
			ID       string                   `json:"id"`
			PID      string                   `json:"pid"`
			Hostname string                   `json:"hostname"`
			Full     map[string]api.Resources `json:"reserved_resources_full"`
		} `json:"slaves"`
	}
	if err := m.getJSON(ctx, "/state", &st); err != nil {
		return nil, err
	}
	var rows []volumeRow
	for _, s := range st.Slaves {
		var vols api.Resources
		for _, rs := range s.Full {
			vols = append(vols, rs.Volumes()...)
		}
		if len(vols) == 0 {
			continue
		}
		used := agentVolumeUsage(ctx, m, s.PID)
		for _, v := range vols {
			r := volumeRow{AgentID: s.ID, Hostname: s.Hostname, Role: v.Role, PersistenceID: v.PersistenceID(),
				SizeMB: v.Scalar.Value, Instance: v.Label("marathon_task_id")}
			if v.Disk.Volume != nil {
				r.ContainerPath = v.Disk.Volume.ContainerPath
			}
			if u, ok := used[v.PersistenceID()]; ok {
				r.UsedBytes = &u
			}
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].AgentID != rows[j].AgentID {
			return rows[i].AgentID < rows[j].AgentID
		}
		return rows[i].PersistenceID < rows[j].PersistenceID
	})
	return rows, nil
}

// agentVolumeUsage asks an agent (pid "slave(1)@ip:port") for its
// volumes' usage; an agent that does not answer gives none.
func agentVolumeUsage(ctx context.Context, m *masterAPI, pid string) map[string]int64 {
	_, addr, ok := strings.Cut(pid, "@")
	if !ok {
		return nil
	}
	agent, err := m.c.At(addr)
	if err != nil {
		return nil
	}
	var st struct {
		Volumes []struct {
			PersistenceID string `json:"persistence_id"`
			UsedBytes     int64  `json:"used_bytes"`
		} `json:"persistent_volumes"`
	}
	if agent.Get(ctx, "/state", &st) != nil {
		return nil
	}
	out := map[string]int64{}
	for _, v := range st.Volumes {
		out[v.PersistenceID] = v.UsedBytes
	}
	return out
}

func printVolumes(w io.Writer, format string, rows []volumeRow) error {
	if structured(format) {
		if rows == nil {
			rows = []volumeRow{}
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		return writeFormatted(w, format, b)
	}
	if format == "quiet" {
		for _, r := range rows {
			fmt.Fprintln(w, r.PersistenceID)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tROLE\tPERSISTENCE ID\tSIZE\tUSED\tINSTANCE")
	for _, r := range rows {
		used := "?"
		if r.UsedBytes != nil {
			used = humanBytes(*r.UsedBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%gMB\t%s\t%s\n", r.AgentID, r.Role, r.PersistenceID, r.SizeMB, used, dash(r.Instance))
	}
	return tw.Flush()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
