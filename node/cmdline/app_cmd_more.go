package cmdline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// `nodectl app kill|logs|edit|exec`: an app's tasks as Marathon's API
// and the task commands see them.

// appKillCommand is `nodectl app kill APP [--task ID] [--host H]
// [--scale]`: Marathon's DELETE /v2/apps/{id}/tasks (every task, or those
// on --host) or DELETE /v2/apps/{id}/tasks/{taskId}
// (https://mesosphere.github.io/marathon/api-console/index.html). Without
// --scale Marathon starts replacements; with it the app's instances drop
// by as many, in a scale deployment that is followed unless --detach.
func appKillCommand(out cli.Flag, follow []cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "kill an app's tasks (all, --task ID, or those on --host); replacements start unless --scale",
		ArgsUsage: "APP_ID",
		Flags: append(append(clientFlags(), out,
			&cli.StringFlag{Name: "task", Usage: "kill only this task"},
			&cli.StringFlag{Name: "host", Usage: "kill only the tasks on this agent host"},
			&cli.BoolFlag{Name: "scale", Usage: "also lower the app's instances by the number killed"},
			&cli.BoolFlag{Name: "force", Usage: "override a running deployment (with --scale)"},
		), follow...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr(c, "nodectl app kill [--task ID | --host HOST] [--scale] APP_ID")
			}
			if c.IsSet("task") && c.IsSet("host") {
				return &exitError{2, "give --task or --host, not both"}
			}
			if err := checkOutput(c); err != nil {
				return err
			}
			m, err := newAppsAPI(c)
			if err != nil {
				return err
			}
			id := c.Args().First()
			q := url.Values{}
			if c.Bool("scale") {
				q.Set("scale", "true")
			}
			if h := c.String("host"); h != "" {
				q.Set("host", h)
			}
			path := appPath(id) + "/tasks"
			if t := c.String("task"); t != "" {
				path += "/" + url.PathEscape(t)
			}
			_, raw, err := m.do(c.Context, http.MethodDelete, path+forceQuery(c, q), nil, nil)
			if err != nil {
				return cliErr(err)
			}
			var resp struct {
				deployedResp
				Task  *struct{ ID string }  `json:"task"`
				Tasks []struct{ ID string } `json:"tasks"`
			}
			_ = json.Unmarshal(raw, &resp)
			if resp.DeploymentID != "" {
				fmt.Fprintf(c.App.ErrWriter, "killed tasks of %s, scaling down (deployment %s)\n", id, resp.DeploymentID)
				return followResult(c, m, id, resp.deployedResp, expectApp)
			}
			if structured(c.String("output")) {
				return writeFormatted(c.App.Writer, c.String("output"), raw)
			}
			if resp.Task != nil {
				resp.Tasks = append(resp.Tasks, *resp.Task)
			}
			if len(resp.Tasks) == 0 {
				fmt.Fprintf(c.App.ErrWriter, "app %s has no task to kill\n", id)
			}
			for _, t := range resp.Tasks {
				fmt.Fprintf(c.App.Writer, "killing %s\n", t.ID)
			}
			return nil
		},
	}
}

// checkOutput validates -o of an app subcommand.
func checkOutput(c *cli.Context) error {
	switch o := c.String("output"); o {
	case "table", "wide", "json", "yaml":
		return nil
	default:
		return &exitError{2, fmt.Sprintf("-o %q: want table, wide, json or yaml", o)}
	}
}

// appLogsCommand is `nodectl app logs APP`: `nodectl logs --app`.
func appLogsCommand() *cli.Command {
	flags := logsFlags()
	return &cli.Command{
		Name:      "logs",
		Usage:     "print the output of every running task of an app, each line prefixed with its task id",
		ArgsUsage: "APP_ID",
		Flags:     flags[:len(flags)-1], // not --app
		Action:    func(c *cli.Context) error { return runLogs(c, true) },
	}
}

// appEditCommand is `nodectl app edit APP`: the app's definition (its
// current version, /v2/apps/{id}/versions/{version}, without the status
// fields) in $VISUAL or $EDITOR (default vi), PUT back when changed.
func appEditCommand(out cli.Flag, follow []cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      "edit",
		Usage:     "edit an app's JSON definition in $EDITOR and deploy the change",
		ArgsUsage: "APP_ID",
		Flags: append(append(clientFlags(), out,
			&cli.BoolFlag{Name: "force", Usage: "override a running deployment"}), follow...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr(c, "nodectl app edit [flags] APP_ID")
			}
			if err := checkOutput(c); err != nil {
				return err
			}
			m, err := newAppsAPI(c)
			if err != nil {
				return err
			}
			return appEdit(c, m, c.Args().First())
		},
	}
}

func appEdit(c *cli.Context, m *appsAPI, id string) error {
	var cur struct {
		App appInfo `json:"app"`
	}
	if _, _, err := m.do(c.Context, http.MethodGet, appPath(id), nil, &cur); err != nil {
		return cliErr(err)
	}
	_, def, err := m.do(c.Context, http.MethodGet, appPath(id)+"/versions/"+url.PathEscape(cur.App.Version), nil, nil)
	if err != nil {
		return cliErr(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, def, "", "  "); err != nil {
		return &exitError{1, "app definition: " + err.Error()}
	}
	pretty.WriteByte('\n')
	dir, err := os.MkdirTemp("", "nodectl-edit-")
	if err != nil {
		return &exitError{1, err.Error()}
	}
	file := filepath.Join(dir, strings.ReplaceAll(strings.Trim(cur.App.ID, "/"), "/", "_")+".json")
	if err := os.WriteFile(file, pretty.Bytes(), 0o600); err != nil {
		return &exitError{1, err.Error()}
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	if err := runEditor(c, file); err != nil {
		return err
	}
	edited, err := os.ReadFile(file)
	if err != nil {
		return &exitError{1, err.Error()}
	}
	if bytes.Equal(bytes.TrimSpace(edited), bytes.TrimSpace(pretty.Bytes())) {
		fmt.Fprintf(c.App.ErrWriter, "app %s: no changes\n", cur.App.ID)
		return nil
	}
	if !json.Valid(edited) {
		keep = true
		return &exitError{2, fmt.Sprintf("the edited definition is not valid JSON; it is kept in %s (nodectl app run -f %s)", file, file)}
	}
	var d deployedResp
	if _, _, err := m.do(c.Context, http.MethodPut, appPath(id)+forceQuery(c, url.Values{"partialUpdate": {"false"}}), edited, &d); err != nil {
		keep = true
		return &exitError{1, fmt.Sprintf("%v; your edit is kept in %s (nodectl app run -f %s)", err, file, file)}
	}
	fmt.Fprintf(c.App.ErrWriter, "app %s updated (version %s, deployment %s)\n", cur.App.ID, d.Version, d.DeploymentID)
	return followResult(c, m, id, d, expectApp)
}

// runEditor runs $VISUAL or $EDITOR (a command line, run by sh, so it may
// carry arguments) on file, on the terminal.
func runEditor(c *cli.Context, file string) error {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.CommandContext(c.Context, "/bin/sh", "-c", editor+` "$1"`, "sh", file)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return &exitError{1, fmt.Sprintf("editor %q: %v", editor, err)}
	}
	return nil
}

// appExecCommand is `nodectl app exec APP [--task ID] -- CMD`: `nodectl
// exec` on one of the app's running tasks (the first, by id, unless
// --task).
func appExecCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in one of an app's running tasks (nodectl exec on it)",
		ArgsUsage: "APP_ID [--] COMMAND [ARGS...]",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "task", Usage: "the task (default: the app's first running task)"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open (nodectl exec -i)"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a terminal (nodectl exec -t)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return &exitError{2, "usage: nodectl app exec APP_ID [--task ID] [--] COMMAND [ARGS...]"}
			}
			if findCommand(c.App.Commands, "exec") == nil {
				return &exitError{1, "this nodectl has no exec command (nodectl exec TASK -- CMD)"}
			}
			task := c.String("task")
			if task == "" {
				m, err := newMasterAPI(c)
				if err != nil {
					return err
				}
				ts, err := appTargets(c.Context, m, c.Args().First())
				if err != nil {
					return cliErr(err)
				}
				if len(ts) == 0 {
					return &exitError{1, fmt.Sprintf("app %s has no running task", c.Args().First())}
				}
				task = ts[0].taskID
			}
			return reExec(c, "exec", task)
		},
	}
}

// reExec runs this binary as `nodectl SUB [client flags] [-i] [-t] TASK
// -- ARGS...` on this terminal and exits with its code. A --secret goes
// through the environment, not the process list.
func reExec(c *cli.Context, sub, task string) error {
	self, err := os.Executable()
	if err != nil {
		return &exitError{1, err.Error()}
	}
	args := []string{sub}
	env := os.Environ()
	for _, name := range []string{"master", "work-dir", "client-config", "principal", "secret-file"} {
		if c.IsSet(name) {
			args = append(args, "--"+name, c.String(name))
		}
	}
	if c.IsSet("secret") {
		env = append(env, secretEnv+"="+c.String("secret"))
	}
	if c.Bool("interactive") {
		args = append(args, "-i")
	}
	if c.Bool("tty") {
		args = append(args, "-t")
	}
	args = append(append(args, task, "--"), c.Args().Tail()...)
	cmd := exec.CommandContext(c.Context, self, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, c.App.Writer, c.App.ErrWriter
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &exitError{max(ee.ExitCode(), 1), ""}
	}
	if err != nil {
		return &exitError{1, err.Error()}
	}
	return nil
}
