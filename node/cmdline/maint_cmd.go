package cmdline

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
)

// maintenanceCommand is `nodectl maintenance`: the Mesos maintenance
// primitives of the leading master (/maintenance/schedule,
// /maintenance/status, /machine/down, /machine/up;
// https://mesos.apache.org/documentation/latest/maintenance/). A MACHINE
// is a hostname, an IP, or HOSTNAME,IP.
func maintenanceCommand() *cli.Command {
	machines := func(c *cli.Context, verb string) ([]api.MachineID, error) {
		if c.NArg() == 0 {
			return nil, &exitError{2, "maintenance " + verb + " needs at least one MACHINE (hostname, IP or HOSTNAME,IP)"}
		}
		out := make([]api.MachineID, 0, c.NArg())
		for _, arg := range c.Args().Slice() {
			id, err := parseMachine(arg)
			if err != nil {
				return nil, &exitError{2, err.Error()}
			}
			out = append(out, id)
		}
		return out, nil
	}
	post := func(path, verb string) cli.ActionFunc {
		return func(c *cli.Context) error {
			ids, err := machines(c, verb)
			if err != nil {
				return err
			}
			m, err := newMasterAPI(c)
			if err != nil {
				return err
			}
			if err := m.c.Post(c.Context, path, ids, nil); err != nil {
				return cliErr(err)
			}
			return nil
		}
	}
	return &cli.Command{
		Name:  "maintenance",
		Usage: "Mesos maintenance: schedule machines, bring them down and up",
		Subcommands: []*cli.Command{
			{
				Name:      "schedule",
				Usage:     "show the maintenance schedule, replace it (-f), add a window (--add) or clear it",
				ArgsUsage: " ",
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "replace the schedule with this JSON (Mesos' form; - for stdin)"},
					&cli.StringSliceFlag{Name: "add", Usage: "add a window of these MACHINEs (hostname, IP or HOSTNAME,IP; repeatable)"},
					&cli.StringFlag{Name: "start", Value: "now", Usage: "with --add: when the unavailability starts (RFC 3339, or now)"},
					&cli.DurationFlag{Name: "duration", Value: time.Hour, Usage: "with --add: how long the machines may be unavailable"},
					&cli.BoolFlag{Name: "clear", Usage: "replace the schedule with an empty one (down machines must be brought up first)"},
				),
				OnUsageError: usageError,
				Action:       maintenanceSchedule,
			},
			{
				Name: "status", Usage: "list the draining and down machines", ArgsUsage: " ",
				Flags:        append(clientFlags(), listFlags()...),
				OnUsageError: usageError,
				Action:       maintenanceStatus,
			},
			{
				Name: "down", Usage: "bring scheduled machines down: their agents are removed and their tasks end", ArgsUsage: "MACHINE...",
				Flags: clientFlags(), OnUsageError: usageError, Action: post("/master/machine/down", "down"),
			},
			{
				Name: "up", Usage: "bring down machines up: they leave the schedule and their agents may register", ArgsUsage: "MACHINE...",
				Flags: clientFlags(), OnUsageError: usageError, Action: post("/master/machine/up", "up"),
			},
		},
	}
}

// parseMachine reads hostname, IP or HOSTNAME,IP.
func parseMachine(arg string) (api.MachineID, error) {
	host, ip, both := strings.Cut(strings.TrimSpace(arg), ",")
	switch {
	case both:
	case net.ParseIP(host) != nil:
		host, ip = "", host
	}
	if host == "" && ip == "" {
		return api.MachineID{}, fmt.Errorf("machine %q: want a hostname, an IP or HOSTNAME,IP", arg)
	}
	if ip != "" && net.ParseIP(ip) == nil {
		return api.MachineID{}, fmt.Errorf("machine %q: %q is not an IP address", arg, ip)
	}
	return api.MachineID{Hostname: host, IP: ip}, nil
}

func maintenanceSchedule(c *cli.Context) error {
	if c.NArg() > 0 {
		return &exitError{2, "maintenance schedule takes no arguments (machines go with --add)"}
	}
	set := 0
	for _, f := range []string{"file", "add", "clear"} {
		if c.IsSet(f) {
			set++
		}
	}
	if set > 1 {
		return &exitError{2, "maintenance schedule: give one of -f, --add and --clear"}
	}
	if (c.IsSet("start") || c.IsSet("duration")) && !c.IsSet("add") {
		return &exitError{2, "maintenance schedule: --start and --duration go with --add"}
	}
	var next *api.MaintenanceSchedule
	switch {
	case c.IsSet("file"):
		var body []byte
		var err error
		if f := c.String("file"); f == "-" {
			body, err = io.ReadAll(c.App.Reader)
		} else {
			body, err = os.ReadFile(f)
		}
		if err != nil {
			return &exitError{2, fmt.Sprintf("read schedule: %v", err)}
		}
		next = &api.MaintenanceSchedule{}
		if err := json.Unmarshal(body, next); err != nil {
			return &exitError{2, fmt.Sprintf("schedule %s: invalid JSON: %v", c.String("file"), err)}
		}
	case c.IsSet("clear"):
		next = &api.MaintenanceSchedule{Windows: []api.MaintenanceWindow{}}
	}
	var w *api.MaintenanceWindow
	if c.IsSet("add") {
		start := time.Now()
		if s := c.String("start"); s != "now" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return &exitError{2, fmt.Sprintf("--start %q: want RFC 3339 (2026-01-02T15:04:05Z) or now", s)}
			}
			start = t
		}
		if c.Duration("duration") < 0 {
			return &exitError{2, "--duration is negative"}
		}
		w = &api.MaintenanceWindow{Unavailability: api.Unavailability{
			Start: &api.TimeInfo{Nanoseconds: start.UnixNano()}, Duration: &api.DurationInfo{Nanoseconds: int64(c.Duration("duration"))},
		}}
		for _, arg := range c.StringSlice("add") {
			id, err := parseMachine(arg)
			if err != nil {
				return &exitError{2, err.Error()}
			}
			w.MachineIDs = append(w.MachineIDs, id)
		}
	}
	m, err := newMasterAPI(c)
	if err != nil {
		return err
	}
	if w != nil {
		var cur api.MaintenanceSchedule
		if err := m.getJSON(c.Context, "/master/maintenance/schedule", &cur); err != nil {
			return cliErr(err)
		}
		cur.Windows = append(cur.Windows, *w)
		next = &cur
	}
	if next != nil {
		if err := m.c.Post(c.Context, "/master/maintenance/schedule", next, nil); err != nil {
			return cliErr(err)
		}
		return nil
	}
	var cur api.MaintenanceSchedule
	if err := m.getJSON(c.Context, "/master/maintenance/schedule", &cur); err != nil {
		return cliErr(err)
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(cur)
}

func maintenanceStatus(c *cli.Context) error {
	if c.NArg() > 0 {
		return &exitError{2, "maintenance status takes no arguments"}
	}
	format, err := listFormat(c)
	if err != nil {
		return err
	}
	m, err := newMasterAPI(c)
	if err != nil {
		return err
	}
	var st api.MaintenanceStatus
	if err := m.getJSON(c.Context, "/master/maintenance/status", &st); err != nil {
		return cliErr(err)
	}
	if structured(format) {
		raw, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return writeFormatted(c.App.Writer, format, raw)
	}
	if format == "quiet" {
		for _, d := range st.DrainingMachines {
			fmt.Fprintln(c.App.Writer, d.ID.String())
		}
		for _, id := range st.DownMachines {
			fmt.Fprintln(c.App.Writer, id.String())
		}
		return nil
	}
	var sched api.MaintenanceSchedule
	if err := m.getJSON(c.Context, "/master/maintenance/schedule", &sched); err != nil {
		return cliErr(err)
	}
	window := func(id api.MachineID) (start, end string) {
		for _, w := range sched.Windows {
			for _, x := range w.MachineIDs {
				if x == id && w.Unavailability.Start != nil {
					s := time.Unix(0, w.Unavailability.Start.Nanoseconds).UTC()
					end = "-"
					if d := w.Unavailability.Duration; d != nil {
						end = s.Add(time.Duration(d.Nanoseconds)).Format(time.RFC3339)
					}
					return s.Format(time.RFC3339), end
				}
			}
		}
		return "-", "-"
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	head := "HOSTNAME\tIP\tMODE\tUNAVAILABLE FROM\tUNTIL"
	if format == "wide" {
		head += "\tINVERSE OFFERS"
	}
	fmt.Fprintln(tw, head)
	row := func(id api.MachineID, mode string, statuses []api.InverseOfferStatus) {
		s, e := window(id)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", orDash(id.Hostname), orDash(id.IP), mode, s, e)
		if format == "wide" {
			var answers []string
			for _, st := range statuses {
				answers = append(answers, st.FrameworkID.Value+"="+st.Status)
			}
			fmt.Fprintf(tw, "\t%s", orDash(strings.Join(answers, ",")))
		}
		fmt.Fprintln(tw)
	}
	for _, d := range st.DrainingMachines {
		row(d.ID, "DRAINING", d.Statuses)
	}
	for _, id := range st.DownMachines {
		row(id, "DOWN", nil)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
