package cmdline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/client"
)

// appCommand is `nodectl app`: the built-in Marathon's apps (/v2) from the
// command line. Changes (run, scale, restart, delete, rollback) follow
// their deployment until it finishes, unless --detach.
func appCommand() *cli.Command {
	out := func() cli.Flag {
		return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table, wide, json or yaml"}
	}
	follow := []cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the deployment"},
		&cli.GenericFlag{Name: "timeout", Value: &durationFlag{10 * time.Minute}, Usage: "how long to wait for the deployment"},
	}
	sub := func(name, usage, argsUsage string, nargs int, flags []cli.Flag, run func(c *cli.Context, m *appsAPI) error) *cli.Command {
		return &cli.Command{
			Name: name, Usage: usage, ArgsUsage: argsUsage, OnUsageError: usageError,
			Flags: append(append(clientFlags(), out()), flags...),
			Action: func(c *cli.Context) error {
				if c.NArg() != nargs {
					return usageErr(c, strings.TrimSpace("nodectl app "+name+" [flags] "+argsUsage))
				}
				if err := checkOutput(c); err != nil {
					return err
				}
				if c.Bool("quiet") && c.IsSet("output") {
					return &exitError{2, "give -q or -o, not both"}
				}
				m, err := newAppsAPI(c)
				if err != nil {
					return err
				}
				return run(c, m)
			},
		}
	}
	return &cli.Command{
		Name:  "app",
		Usage: "manage apps of the built-in Marathon (/v2)",
		Subcommands: []*cli.Command{
			withAlias(sub("list", "list apps", "", 0, []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the ids, one a line"}}, appList), "ls"),
			sub("show", "show an app", "ID", 1, nil, appShow),
			sub("run", "create or update an app from a JSON definition and follow its deployment", "", 0,
				append([]cli.Flag{&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Required: true, Usage: "app definition (JSON; - for stdin)"},
					&cli.BoolFlag{Name: "force", Usage: "override a running deployment"}}, follow...), appRun),
			sub("scale", "set an app's instances", "ID N", 2, append([]cli.Flag{&cli.BoolFlag{Name: "force", Usage: "override a running deployment"}}, follow...), appScale),
			sub("restart", "restart an app's tasks (rolling)", "ID", 1, append([]cli.Flag{&cli.BoolFlag{Name: "force", Usage: "override a running deployment"}}, follow...), appRestart),
			sub("delete", "delete an app and kill its tasks", "ID", 1, append([]cli.Flag{&cli.BoolFlag{Name: "force", Usage: "override a running deployment"}}, follow...), appDelete),
			sub("tasks", "list an app's tasks", "ID", 1, []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the ids, one a line"}}, appTasks),
			sub("wipe", "kill a resident app's task and destroy its volume and reservation (a fresh instance starts)", "ID TASK_ID", 2, nil, appWipe),
			sub("versions", "list an app's versions", "ID", 1, []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the ids, one a line"}}, appVersions),
			sub("rollback", "cancel the app's running deployment (rolling back), or go back to the previous version", "ID", 1, follow, appRollback),
			appKillCommand(out(), follow),
			appLogsCommand(),
			appEditCommand(out(), follow),
			appExecCommand(),
		},
	}
}

// appsAPI is a client of the leader's /v2; the client follows a
// standby's 307 (with the body) to the leader.
type appsAPI struct {
	c *client.Client
}

func newAppsAPI(c *cli.Context) (*appsAPI, error) {
	cl, err := newClient(c, callTimeout)
	if err != nil {
		return nil, err
	}
	return &appsAPI{c: cl}, nil
}

// do sends a request; out (when non-nil) gets the 2xx body decoded, raw
// gets it as is. A refusal is a *client.Error whose message carries
// Marathon's details.
func (m *appsAPI) do(ctx context.Context, method, path string, body []byte, out any) (http.Header, []byte, error) {
	h, b, err := m.c.Raw(ctx, client.Request{Method: method, Path: path, Body: body, Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return h, b, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return h, b, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return h, b, nil
}

func appPath(id string) string {
	id = "/" + strings.Trim(id, "/")
	var segs []string
	for _, s := range strings.Split(id, "/")[1:] {
		segs = append(segs, url.PathEscape(s))
	}
	return "/v2/apps/" + strings.Join(segs, "/")
}

func cliErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{1, err.Error()}
}

func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// appInfo is the part of /v2 AppInfo the CLI shows.
type appInfo struct {
	ID             string            `json:"id"`
	Cmd            string            `json:"cmd"`
	Args           []string          `json:"args"`
	Instances      int               `json:"instances"`
	Cpus           float64           `json:"cpus"`
	Mem            float64           `json:"mem"`
	Disk           float64           `json:"disk"`
	Version        string            `json:"version"`
	TasksStaged    int               `json:"tasksStaged"`
	TasksRunning   int               `json:"tasksRunning"`
	TasksHealthy   int               `json:"tasksHealthy"`
	TasksUnhealthy int               `json:"tasksUnhealthy"`
	HealthChecks   []json.RawMessage `json:"healthChecks"`
	Deployments    []struct {
		ID string `json:"id"`
	} `json:"deployments"`
	Constraints     [][]string `json:"constraints"`
	LastTaskFailure *struct {
		TaskID    string `json:"taskId"`
		State     string `json:"state"`
		Message   string `json:"message"`
		Timestamp string `json:"timestamp"`
	} `json:"lastTaskFailure"`
	Container *struct {
		Docker *struct {
			Image string `json:"image"`
		} `json:"docker"`
	} `json:"container"`
}

func (a appInfo) command() string {
	if a.Cmd != "" {
		return a.Cmd
	}
	if len(a.Args) > 0 {
		return strings.Join(a.Args, " ")
	}
	if a.Container != nil && a.Container.Docker != nil {
		return "(image " + a.Container.Docker.Image + ")"
	}
	return ""
}

func (a appInfo) health() string {
	if len(a.HealthChecks) == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", a.TasksHealthy, a.TasksRunning)
}

func appList(c *cli.Context, m *appsAPI) error {
	var resp struct {
		Apps []appInfo `json:"apps"`
	}
	_, raw, err := m.do(c.Context, http.MethodGet, "/v2/apps", nil, &resp)
	if err != nil {
		return cliErr(err)
	}
	w := c.App.Writer
	if o := c.String("output"); structured(o) {
		return writeFormatted(w, o, raw)
	}
	wide := c.String("output") == "wide"
	if c.Bool("quiet") {
		for _, a := range resp.Apps {
			fmt.Fprintln(w, a.ID)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "ID\tRUNNING\tHEALTHY\tCPUS\tMEM\tDEPLOYING\tCMD"
	if wide {
		head += "\tDISK\tVERSION"
	}
	fmt.Fprintln(tw, head)
	for _, a := range resp.Apps {
		dep := "-"
		if len(a.Deployments) > 0 {
			dep = "yes"
		}
		if wide {
			fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%g\t%g\t%s\t%s\t%g\t%s\n", a.ID, a.TasksRunning, a.Instances, a.health(), a.Cpus, a.Mem, dep, oneLine(a.command()), a.Disk, a.Version)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%g\t%g\t%s\t%s\n", a.ID, a.TasksRunning, a.Instances, a.health(), a.Cpus, a.Mem, dep, truncate(a.command(), 40))
	}
	return tw.Flush()
}

func truncate(s string, n int) string {
	s = oneLine(s)
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func appShow(c *cli.Context, m *appsAPI) error {
	var resp struct {
		App appInfo `json:"app"`
	}
	var raw struct {
		App json.RawMessage `json:"app"`
	}
	_, b, err := m.do(c.Context, http.MethodGet, appPath(c.Args().First()), nil, &resp)
	if err != nil {
		return cliErr(err)
	}
	w := c.App.Writer
	if o := c.String("output"); structured(o) {
		_ = json.Unmarshal(b, &raw)
		return writeFormatted(w, o, raw.App)
	}
	a := resp.App
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID:\t%s\n", a.ID)
	fmt.Fprintf(tw, "Command:\t%s\n", oneLine(a.command()))
	fmt.Fprintf(tw, "Version:\t%s\n", a.Version)
	fmt.Fprintf(tw, "Resources:\tcpus %g, mem %g, disk %g\n", a.Cpus, a.Mem, a.Disk)
	fmt.Fprintf(tw, "Instances:\t%d (staged %d, running %d)\n", a.Instances, a.TasksStaged, a.TasksRunning)
	if len(a.HealthChecks) > 0 {
		fmt.Fprintf(tw, "Health:\t%d healthy, %d unhealthy\n", a.TasksHealthy, a.TasksUnhealthy)
	}
	if len(a.Constraints) > 0 {
		var cs []string
		for _, x := range a.Constraints {
			cs = append(cs, strings.Join(x, ":"))
		}
		fmt.Fprintf(tw, "Constraints:\t%s\n", strings.Join(cs, ", "))
	}
	for _, d := range a.Deployments {
		fmt.Fprintf(tw, "Deployment:\t%s\n", d.ID)
	}
	if f := a.LastTaskFailure; f != nil {
		fmt.Fprintf(tw, "Last failure:\t%s %s %s: %s\n", f.Timestamp, f.TaskID, f.State, oneLine(f.Message))
	}
	return tw.Flush()
}

func appTasks(c *cli.Context, m *appsAPI) error {
	var resp struct {
		Tasks []struct {
			ID                 string `json:"id"`
			Host               string `json:"host"`
			Ports              []int  `json:"ports"`
			State              string `json:"state"`
			StartedAt          string `json:"startedAt"`
			Version            string `json:"version"`
			HealthCheckResults []struct {
				Alive bool `json:"alive"`
			} `json:"healthCheckResults"`
		} `json:"tasks"`
	}
	_, raw, err := m.do(c.Context, http.MethodGet, appPath(c.Args().First())+"/tasks", nil, &resp)
	if err != nil {
		return cliErr(err)
	}
	w := c.App.Writer
	if o := c.String("output"); structured(o) {
		return writeFormatted(w, o, raw)
	}
	if c.Bool("quiet") {
		for _, t := range resp.Tasks {
			fmt.Fprintln(w, t.ID)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tPORTS\tSTATE\tHEALTH\tSTARTED\tVERSION")
	for _, t := range resp.Tasks {
		var ps []string
		for _, p := range t.Ports {
			ps = append(ps, strconv.Itoa(p))
		}
		health := "-"
		if len(t.HealthCheckResults) > 0 {
			health = "unhealthy"
			if t.HealthCheckResults[0].Alive {
				health = "healthy"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Host, dash(strings.Join(ps, ",")), t.State, health, dash(t.StartedAt), t.Version)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func appVersions(c *cli.Context, m *appsAPI) error {
	var resp struct {
		Versions []string `json:"versions"`
	}
	_, raw, err := m.do(c.Context, http.MethodGet, appPath(c.Args().First())+"/versions", nil, &resp)
	if err != nil {
		return cliErr(err)
	}
	if o := c.String("output"); structured(o) {
		return writeFormatted(c.App.Writer, o, raw)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(resp.Versions)))
	for i, v := range resp.Versions {
		mark := ""
		if i == 0 && !c.Bool("quiet") {
			mark = " (current)"
		}
		fmt.Fprintln(c.App.Writer, v+mark)
	}
	return nil
}

// deployed is a /v2 answer that started a deployment.
type deployedResp struct {
	DeploymentID string `json:"deploymentId"`
	Version      string `json:"version"`
}

func forceQuery(c *cli.Context, q url.Values) string {
	if c.Bool("force") {
		q.Set("force", "true")
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func appRun(c *cli.Context, m *appsAPI) error {
	var body []byte
	var err error
	if f := c.String("file"); f == "-" {
		body, err = io.ReadAll(c.App.Reader)
	} else {
		body, err = os.ReadFile(f)
	}
	if err != nil {
		return &exitError{2, fmt.Sprintf("read app definition: %v", err)}
	}
	var def struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &def); err != nil {
		return &exitError{2, fmt.Sprintf("app definition %s: invalid JSON: %v", c.String("file"), err)}
	}
	if strings.Trim(def.ID, "/") == "" {
		return &exitError{2, "app definition has no id"}
	}
	id := "/" + strings.Trim(def.ID, "/")
	path := appPath(id)
	_, _, err = m.do(c.Context, http.MethodGet, path, nil, nil)
	var d deployedResp
	switch {
	case errors.Is(err, client.ErrNotFound):
		var created struct {
			Version string `json:"version"`
		}
		h, _, err := m.do(c.Context, http.MethodPost, "/v2/apps"+forceQuery(c, url.Values{}), body, &created)
		if err != nil {
			return cliErr(err)
		}
		d = deployedResp{DeploymentID: h.Get("Marathon-Deployment-Id"), Version: created.Version}
		fmt.Fprintf(c.App.ErrWriter, "app %s created (version %s, deployment %s)\n", id, d.Version, d.DeploymentID)
	case err != nil:
		return cliErr(err)
	default:
		if _, _, err := m.do(c.Context, http.MethodPut, path+forceQuery(c, url.Values{"partialUpdate": {"false"}}), body, &d); err != nil {
			return cliErr(err)
		}
		fmt.Fprintf(c.App.ErrWriter, "app %s updated (version %s, deployment %s)\n", id, d.Version, d.DeploymentID)
	}
	return followResult(c, m, id, d, expectApp)
}

func appScale(c *cli.Context, m *appsAPI) error {
	n, err := strconv.Atoi(c.Args().Get(1))
	if err != nil || n < 0 {
		return &exitError{2, fmt.Sprintf("instances %q: want a number ≥ 0", c.Args().Get(1))}
	}
	id := c.Args().First()
	body, _ := json.Marshal(map[string]int{"instances": n})
	var d deployedResp
	if _, _, err := m.do(c.Context, http.MethodPut, appPath(id)+forceQuery(c, url.Values{}), body, &d); err != nil {
		return cliErr(err)
	}
	fmt.Fprintf(c.App.ErrWriter, "scaling %s to %d (deployment %s)\n", id, n, d.DeploymentID)
	return followResult(c, m, id, d, expectApp)
}

func appRestart(c *cli.Context, m *appsAPI) error {
	id := c.Args().First()
	var d deployedResp
	if _, _, err := m.do(c.Context, http.MethodPost, appPath(id)+"/restart"+forceQuery(c, url.Values{}), []byte("{}"), &d); err != nil {
		return cliErr(err)
	}
	fmt.Fprintf(c.App.ErrWriter, "restarting %s (deployment %s)\n", id, d.DeploymentID)
	return followResult(c, m, id, d, expectApp)
}

func appDelete(c *cli.Context, m *appsAPI) error {
	id := c.Args().First()
	var d deployedResp
	if _, _, err := m.do(c.Context, http.MethodDelete, appPath(id)+forceQuery(c, url.Values{}), nil, &d); err != nil {
		return cliErr(err)
	}
	fmt.Fprintf(c.App.ErrWriter, "deleting %s (deployment %s)\n", id, d.DeploymentID)
	return followResult(c, m, id, d, expectGone)
}

// appRollback cancels the app's running deployment (the master rolls it
// back in a new one), or, with none running, puts the previous version.
func appRollback(c *cli.Context, m *appsAPI) error {
	id := c.Args().First()
	var cur struct {
		App appInfo `json:"app"`
	}
	if _, _, err := m.do(c.Context, http.MethodGet, appPath(id), nil, &cur); err != nil {
		return cliErr(err)
	}
	if len(cur.App.Deployments) > 0 {
		dep := cur.App.Deployments[0].ID
		var d deployedResp
		if _, _, err := m.do(c.Context, http.MethodDelete, "/v2/deployments/"+url.PathEscape(dep), nil, &d); err != nil {
			return cliErr(err)
		}
		if d.DeploymentID == "" {
			fmt.Fprintf(c.App.ErrWriter, "deployment %s cancelled\n", dep)
			return printResult(c, map[string]string{"cancelled": dep})
		}
		fmt.Fprintf(c.App.ErrWriter, "deployment %s cancelled; rolling back (deployment %s)\n", dep, d.DeploymentID)
		return followResult(c, m, id, d, expectEither)
	}
	var vs struct {
		Versions []string `json:"versions"`
	}
	if _, _, err := m.do(c.Context, http.MethodGet, appPath(id)+"/versions", nil, &vs); err != nil {
		return cliErr(err)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(vs.Versions)))
	var prev string
	for _, v := range vs.Versions {
		if v < cur.App.Version {
			prev = v
			break
		}
	}
	if prev == "" {
		return &exitError{1, fmt.Sprintf("app %s has no deployment running and no version before %s", cur.App.ID, cur.App.Version)}
	}
	_, def, err := m.do(c.Context, http.MethodGet, appPath(id)+"/versions/"+url.PathEscape(prev), nil, nil)
	if err != nil {
		return cliErr(err)
	}
	var d deployedResp
	if _, _, err := m.do(c.Context, http.MethodPut, appPath(id)+"?partialUpdate=false", def, &d); err != nil {
		return cliErr(err)
	}
	fmt.Fprintf(c.App.ErrWriter, "rolling %s back to version %s (deployment %s)\n", cur.App.ID, prev, d.DeploymentID)
	return followResult(c, m, id, d, expectApp)
}

func printResult(c *cli.Context, v any) error {
	if o := c.String("output"); structured(o) {
		b, _ := json.Marshal(v)
		return writeFormatted(c.App.Writer, o, b)
	}
	return nil
}

// followResult waits for deployment d (unless --detach) and prints the
// outcome: one line, or JSON with -o json.
func followResult(c *cli.Context, m *appsAPI, id string, d deployedResp, expect int) error {
	result := map[string]any{"app": "/" + strings.Trim(id, "/"), "deploymentId": d.DeploymentID, "version": d.Version}
	if c.Bool("detach") || d.DeploymentID == "" {
		return printResult(c, result)
	}
	timeout := c.Generic("timeout").(*durationFlag).D
	ctx, cancel := context.WithTimeout(c.Context, timeout)
	defer cancel()
	err := followDeployment(ctx, m, id, d, expect, c.App.ErrWriter)
	if errors.Is(err, context.DeadlineExceeded) {
		return &exitError{1, fmt.Sprintf("deployment %s did not finish within %s", d.DeploymentID, timeout)}
	}
	if err != nil {
		return cliErr(err)
	}
	result["status"] = "success"
	if structured(c.String("output")) {
		return printResult(c, result)
	}
	fmt.Fprintf(c.App.Writer, "deployment %s of %s finished\n", d.DeploymentID, result["app"])
	return nil
}

// What a followed deployment should leave behind.
const (
	expectApp    = iota // the app at the deployment's version
	expectGone          // no app (delete)
	expectEither        // either (a rollback, which may undo a create)
)

// followPoll is the pace at which a deployment is followed.
var followPoll = 250 * time.Millisecond

// followDeployment polls /v2/deployments and the app until deployment d
// is gone, printing progress (task counts, new task failures) on changes.
// It fails when the deployment was cancelled or replaced (the app is not
// at d's version), or the master stays unreachable.
func followDeployment(ctx context.Context, m *appsAPI, id string, d deployedResp, expect int, w io.Writer) error {
	path := appPath(id)
	last, lastFailure := "", ""
	errs := 0
	for {
		var deps []struct {
			ID string `json:"id"`
		}
		_, _, err := m.do(ctx, http.MethodGet, "/v2/deployments", nil, &deps)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if errs++; errs > 20 {
				return err
			}
		} else {
			errs = 0
			running := false
			for _, x := range deps {
				running = running || x.ID == d.DeploymentID
			}
			var app struct {
				App appInfo `json:"app"`
			}
			_, _, aerr := m.do(ctx, http.MethodGet, path, nil, &app)
			gone := errors.Is(aerr, client.ErrNotFound)
			if aerr != nil && !gone && ctx.Err() != nil {
				return ctx.Err()
			}
			a := app.App
			if aerr == nil {
				p := fmt.Sprintf("%s: %d/%d running", a.ID, a.TasksRunning, a.Instances)
				if a.TasksStaged > 0 {
					p += fmt.Sprintf(", %d staged", a.TasksStaged)
				}
				if len(a.HealthChecks) > 0 {
					p += fmt.Sprintf(", %d healthy, %d unhealthy", a.TasksHealthy, a.TasksUnhealthy)
				}
				if p != last {
					fmt.Fprintln(w, p)
					last = p
				}
				if f := a.LastTaskFailure; f != nil && f.Timestamp+f.TaskID != lastFailure {
					if lastFailure != "" || f.Timestamp >= d.Version {
						fmt.Fprintf(w, "%s: task %s %s: %s\n", a.ID, f.TaskID, f.State, oneLine(dash(f.Message)))
					}
					lastFailure = f.Timestamp + f.TaskID
				}
			}
			if !running {
				switch {
				case expect != expectApp && gone:
					return nil
				case expect == expectGone:
					return fmt.Errorf("deployment %s ended but app %s still exists", d.DeploymentID, id)
				case gone:
					return fmt.Errorf("deployment %s failed: app %s no longer exists (cancelled?)", d.DeploymentID, id)
				case aerr != nil:
					return aerr
				case d.Version != "" && a.Version != d.Version:
					return fmt.Errorf("deployment %s failed: it was cancelled or replaced (app %s is at version %s)", d.DeploymentID, a.ID, a.Version)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(followPoll):
		}
	}
}

// appWipe is DELETE /v2/apps/{id}/tasks/{taskId}?wipe=true.
func appWipe(c *cli.Context, m *appsAPI) error {
	id, task := c.Args().Get(0), c.Args().Get(1)
	_, raw, err := m.do(c.Context, http.MethodDelete, appPath(id)+"/tasks/"+url.PathEscape(task)+"?wipe=true", nil, nil)
	if err != nil {
		return cliErr(err)
	}
	if o := c.String("output"); structured(o) {
		return writeFormatted(c.App.Writer, o, raw)
	}
	fmt.Fprintf(c.App.Writer, "wiped %s of %s: its volume and reservation are released\n", task, id)
	return nil
}
