package cmdline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
)

// taskCommand is `nodectl task`: list the cluster's tasks, kill one.
//
// `task kill` ends a task of a `nodectl execute` framework (detached or
// not): it re-subscribes as that framework (its failover timeout keeps it
// registered), sends KILL, waits for the terminal update, acknowledges it
// and tears the framework down. That is the same v1 scheduler API every
// framework uses, so the kill goes through the master's one task path. Tasks
// of other frameworks (the apps framework) belong to them: taking a
// framework over would fail over its scheduler, so the command refuses.
func taskCommand() *cli.Command {
	return &cli.Command{
		Name:  "task",
		Usage: "list and kill tasks",
		Subcommands: []*cli.Command{
			{
				Name:         "list",
				Aliases:      []string{"ls"},
				Usage:        "list tasks (newest first), from the leading master's /tasks",
				OnUsageError: usageError,
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table, wide, json or yaml"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the ids, one a line"},
					&cli.IntFlag{Name: "limit", Value: 100, Usage: "at most this many tasks"},
					&cli.StringFlag{Name: "framework", Usage: "only this framework's tasks"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return &exitError{2, "task list takes no arguments"}
					}
					format, err := listFormat(c)
					if err != nil {
						return err
					}
					m, err := newMasterAPI(c)
					if err != nil {
						return err
					}
					return taskList(c.Context, m, format, c.Int("limit"), c.String("framework"), c.App.Writer)
				},
			},
			{
				Name:         "kill",
				Usage:        "kill a task started by nodectl execute and wait for it to end",
				ArgsUsage:    "TASK_ID",
				OnUsageError: usageError,
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "framework", Usage: "the task's framework id, when several frameworks use the same task id"},
					&cli.GenericFlag{Name: "timeout", Value: &durationFlag{time.Minute}, Usage: "how long to wait for the task to end"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return &exitError{2, "usage: nodectl task kill TASK_ID"}
					}
					timeout := c.Generic("timeout").(*durationFlag).D
					ctx, cancel := context.WithTimeout(c.Context, timeout)
					defer cancel()
					m, err := newMasterAPI(c)
					if err != nil {
						return err
					}
					err = taskKill(ctx, m, c.Args().First(), c.String("framework"), c.App.Writer)
					if errors.Is(err, context.DeadlineExceeded) {
						return &exitError{1, fmt.Sprintf("task %s did not end within %s", c.Args().First(), timeout)}
					}
					return err
				},
			},
		},
	}
}

// taskEntry is a /tasks entry as the CLI reads it.
type taskEntry struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	FrameworkID string         `json:"framework_id"`
	AgentID     string         `json:"slave_id"`
	State       api.TaskState  `json:"state"`
	Resources   map[string]any `json:"resources"`
}

func listTasks(ctx context.Context, m *masterAPI, query url.Values) ([]json.RawMessage, []taskEntry, error) {
	var resp struct {
		Tasks []json.RawMessage `json:"tasks"`
	}
	if err := m.getJSON(ctx, "/tasks?"+query.Encode(), &resp); err != nil {
		return nil, nil, err
	}
	entries := make([]taskEntry, len(resp.Tasks))
	for i, raw := range resp.Tasks {
		if err := json.Unmarshal(raw, &entries[i]); err != nil {
			return nil, nil, fmt.Errorf("decode /tasks: %w", err)
		}
	}
	return resp.Tasks, entries, nil
}

func taskList(ctx context.Context, m *masterAPI, output string, limit int, framework string, out io.Writer) error {
	if limit < 0 {
		return &exitError{2, "--limit must not be negative"}
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if framework != "" {
		q.Set("framework_id", framework)
	}
	raw, tasks, err := listTasks(ctx, m, q)
	if err != nil {
		return &exitError{1, err.Error()}
	}
	if structured(output) {
		if raw == nil {
			raw = []json.RawMessage{}
		}
		b, err := json.Marshal(raw)
		if err != nil {
			return err
		}
		return writeFormatted(out, output, b)
	}
	if output == "quiet" {
		for _, t := range tasks {
			fmt.Fprintln(out, t.ID)
		}
		return nil
	}
	hosts := map[string]string{}
	if slaves, err := listSlaves(ctx, m); err == nil {
		for _, s := range slaves {
			hosts[s.ID] = s.Hostname
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	head := "ID\tNAME\tSTATE\tAGENT\tFRAMEWORK"
	if output == "wide" {
		head += "\tAGENT ID\tRESOURCES"
	}
	fmt.Fprintln(tw, head)
	for _, t := range tasks {
		agent := t.AgentID
		if h := hosts[agent]; h != "" {
			agent = h
		}
		if output == "wide" {
			var res []string
			for _, k := range []string{"cpus", "mem", "disk", "gpus", "ports"} {
				if v, ok := t.Resources[k]; ok {
					res = append(res, fmt.Sprintf("%s:%v", k, v))
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.State, agent, t.FrameworkID, t.AgentID, strings.Join(res, ";"))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.State, agent, t.FrameworkID)
	}
	return tw.Flush()
}

// frameworkEntry is a /frameworks entry as the CLI reads it.
type frameworkEntry struct {
	ID              string      `json:"id"`
	Name            string      `json:"name"`
	User            string      `json:"user"`
	Roles           []string    `json:"roles"`
	Capabilities    []string    `json:"capabilities"`
	Checkpoint      bool        `json:"checkpoint"`
	FailoverTimeout float64     `json:"failover_timeout"`
	Labels          []api.Label `json:"labels"`
}

func (f frameworkEntry) isExecute() bool {
	for _, l := range f.Labels {
		if l.Key == executeLabel {
			return true
		}
	}
	return false
}

// info rebuilds the FrameworkInfo to re-subscribe with.
func (f frameworkEntry) info() api.FrameworkInfo {
	info := api.FrameworkInfo{ID: &api.ID{Value: f.ID}, User: f.User, Name: f.Name, Checkpoint: f.Checkpoint,
		FailoverTimeout: f.FailoverTimeout, Labels: &api.Labels{Labels: f.Labels}}
	for _, c := range f.Capabilities {
		info.Capabilities = append(info.Capabilities, api.Capability{Type: c})
	}
	if len(f.Roles) > 1 || (len(f.Roles) == 1 && f.Roles[0] != "*") {
		info.Roles = f.Roles
	}
	return info
}

func taskKill(ctx context.Context, m *masterAPI, taskID, framework string, out io.Writer) error {
	q := url.Values{"task_id": {taskID}, "limit": {"1000"}}
	if framework != "" {
		q.Set("framework_id", framework)
	}
	_, tasks, err := listTasks(ctx, m, q)
	if err != nil {
		return &exitError{1, err.Error()}
	}
	var live []taskEntry
	for _, t := range tasks {
		if !t.State.Terminal() {
			live = append(live, t)
		}
	}
	switch {
	case len(tasks) == 0:
		return &exitError{1, fmt.Sprintf("no task %s", taskID)}
	case len(live) == 0:
		fmt.Fprintf(out, "task %s already ended: %s\n", taskID, tasks[0].State)
		return nil
	case len(live) > 1:
		return &exitError{1, fmt.Sprintf("task id %s is used by %d frameworks; name one with --framework", taskID, len(live))}
	}
	t := live[0]
	var fws struct {
		Frameworks []frameworkEntry `json:"frameworks"`
	}
	if err := m.getJSON(ctx, "/frameworks?framework_id="+url.QueryEscape(t.FrameworkID), &fws); err != nil {
		return &exitError{1, err.Error()}
	}
	if len(fws.Frameworks) != 1 {
		return &exitError{1, fmt.Sprintf("framework %s of task %s is gone", t.FrameworkID, taskID)}
	}
	fw := fws.Frameworks[0]
	if !fw.isExecute() {
		return &exitError{1, fmt.Sprintf("task %s belongs to framework %s (%s), not to nodectl execute: kill it through that framework", taskID, fw.ID, fw.Name)}
	}
	sub, err := m.subscribe(ctx, fw.info())
	if err != nil {
		return &exitError{1, err.Error()}
	}
	defer sub.close()
	if err := sub.call(ctx, api.Call{Type: api.CallKill, Kill: &api.KillCall{TaskID: api.ID{Value: taskID}, AgentID: &api.ID{Value: t.AgentID}}}); err != nil {
		return &exitError{1, err.Error()}
	}
	// The master only says what changes: ask for the current state too,
	// in case the task ended before we subscribed.
	_ = sub.call(ctx, api.Call{Type: api.CallReconcile, Reconcile: &api.ReconcileCall{Tasks: []api.ReconcileTask{{TaskID: api.ID{Value: taskID}, AgentID: &api.ID{Value: t.AgentID}}}}})
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-sub.events:
			if !ok {
				return &exitError{1, "lost the master while waiting for the task to end"}
			}
			if ev.Type == api.EventError && ev.Error != nil {
				return &exitError{1, "framework error: " + ev.Error.Message}
			}
			if ev.Type != api.EventUpdate || ev.Update == nil {
				continue
			}
			st := ev.Update.Status
			_ = sub.acknowledge(ctx, st)
			if st.TaskID.Value != taskID {
				continue
			}
			printStatus(out, st)
			if st.State.Terminal() || st.State == api.TaskLost {
				// The execute framework had this one task: it is done.
				_ = sub.call(ctx, api.Call{Type: api.CallTeardown})
				return nil
			}
		}
	}
}
