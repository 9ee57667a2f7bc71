package cmdline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
)

// executeCommand is `nodectl execute`, this project's mesos-execute: a
// framework of one task, speaking the v1 scheduler HTTP API to the leading
// master. It takes the first offer that fits, launches the task, streams
// the task's stdout and stderr (read from its sandbox, see logs_cmd.go) to
// its own, prints the status updates (acknowledging them) on stderr, unless
// -q, and exits with the task's exit code (taskExitCode). stdout carries
// only the task's output. With --detach it returns once the task runs,
// printing the task id alone on stdout (or -o json|yaml: id, framework,
// agent, sandbox); the framework then stays registered for its failover
// timeout (a week), and `nodectl task kill` ends the task.
func executeCommand() *cli.Command {
	return &cli.Command{
		Name:         "execute",
		Usage:        "run one task on the cluster and wait for it (mesos-execute)",
		ArgsUsage:    "[--] COMMAND [ARGS...]",
		OnUsageError: usageError,
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "name", Usage: "task name (required)", Required: true},
			&cli.StringFlag{Name: "image", Usage: "container image (Docker reference) to run the command in"},
			&cli.StringFlag{Name: "resources", Value: "cpus:0.1;mem:32", Usage: "task resources, Mesos syntax"},
			&cli.StringSliceFlag{Name: "env", Usage: "environment variable K=V (repeatable)"},
			&cli.BoolFlag{Name: "checkpoint", Usage: "the task survives agent restarts (FrameworkInfo.checkpoint)"},
			&cli.BoolFlag{Name: "detach", Usage: "return once the task runs, printing its id (alone on stdout)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no status updates (stderr): only the task's output, or with --detach its id"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "id", Usage: "with --detach: id, json or yaml"},
			&cli.StringFlag{Name: "role", Usage: "role to take resources from (default *)"},
			&cli.StringFlag{Name: "user", Value: defaultExecuteUser, Usage: "user the task runs as (FrameworkInfo.user; given explicitly also CommandInfo.user, which beats an image's USER): it must exist on the agent or in the image; root only where the master's --root-submissions and run_tasks ACL allow"},
		),
		Action: func(c *cli.Context) error {
			spec, err := executeSpecFrom(c)
			if err != nil {
				return &exitError{2, err.Error()}
			}
			switch o := c.String("output"); {
			case o != "id" && o != "json" && o != "yaml":
				return &exitError{2, fmt.Sprintf("-o %q: want id, json or yaml", o)}
			case o != "id" && !spec.detach:
				return &exitError{2, "-o " + o + " needs --detach"}
			}
			spec.output = c.String("output")
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			m, err := newMasterAPI(c)
			if err != nil {
				return err
			}
			stderr := &syncWriter{w: c.App.ErrWriter}
			eio := execIO{stdout: c.App.Writer, stderr: stderr, status: stderr}
			if c.Bool("quiet") {
				eio.status = io.Discard
			}
			return runExecute(ctx, c.Context, m, spec, eio)
		},
	}
}

// executeSpec is what `nodectl execute` runs.
type executeSpec struct {
	name       string
	resources  api.Resources
	command    api.CommandInfo
	image      string
	checkpoint bool
	detach     bool
	role       string
	user       string
	output     string // with detach: id, json or yaml
}

// execIO is where execute writes: the task's stdout and stderr, and the
// status lines (stderr, or nowhere with -q).
type execIO struct {
	stdout, stderr, status io.Writer
}

// defaultExecuteUser is `nodectl execute --user`'s default: unprivileged,
// unlike mesos-execute, which uses whoever runs it (often root).
const defaultExecuteUser = "nobody"

func executeSpecFrom(c *cli.Context) (executeSpec, error) {
	s := executeSpec{name: c.String("name"), image: c.String("image"), checkpoint: c.Bool("checkpoint"), detach: c.Bool("detach"), role: c.String("role"), user: c.String("user")}
	if strings.TrimSpace(s.name) == "" {
		return s, errors.New("--name must not be empty")
	}
	if strings.TrimSpace(s.user) == "" {
		return s, errors.New("--user must not be empty")
	}
	rs, err := api.ParseResources(c.String("resources"))
	if err != nil {
		return s, fmt.Errorf("--resources: %w", err)
	}
	if len(rs) == 0 {
		return s, errors.New("--resources: a task needs some resources")
	}
	s.resources = rs
	if s.role != "" {
		if err := api.ValidateRole(s.role); err != nil {
			return s, fmt.Errorf("--role: %w", err)
		}
	}
	args := c.Args().Slice()
	switch {
	case len(args) == 1:
		s.command = api.CommandInfo{Value: args[0]}
	case len(args) > 1:
		s.command = api.CommandInfo{Shell: new(bool), Value: args[0], Arguments: args}
	case s.image != "":
		s.command = api.CommandInfo{Shell: new(bool)} // the image's entrypoint
	default:
		return s, errors.New("no command given: nodectl execute --name NAME -- COMMAND [ARGS...]")
	}
	var env []api.EnvVar
	for _, kv := range c.StringSlice("env") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return s, fmt.Errorf("--env %q: want K=V", kv)
		}
		env = append(env, api.EnvVar{Name: k, Value: v})
	}
	if len(env) > 0 {
		s.command.Environment = &api.Environment{Variables: env}
	}
	if c.IsSet("user") {
		s.command.User = s.user // an explicit --user beats an image's USER
	}
	return s, nil
}

func (s executeSpec) frameworkInfo() api.FrameworkInfo {
	info := api.FrameworkInfo{
		User: s.user, Name: "nodectl-execute (" + s.name + ")", Checkpoint: s.checkpoint,
		// Long enough to re-subscribe after a leader change; a detached
		// task's framework waits a week for `nodectl task kill`.
		FailoverTimeout: resubscribeWindow.Seconds() * 2,
		Capabilities:    []api.Capability{{Type: api.CapabilityTaskKillingState}},
		Labels:          &api.Labels{Labels: []api.Label{{Key: executeLabel, Value: "1"}}},
	}
	if s.detach {
		info.FailoverTimeout = (7 * 24 * time.Hour).Seconds()
	}
	if s.role != "" {
		info.Roles = []string{s.role}
		info.Capabilities = append(info.Capabilities, api.Capability{Type: api.CapabilityMultiRole})
	}
	return info
}

// executeLabel marks frameworks of `nodectl execute`, which `nodectl task
// kill` may take over.
const executeLabel = "nodectl.execute"

func (s executeSpec) taskInfo(agentID string) api.TaskInfo {
	cmd := s.command
	ti := api.TaskInfo{
		Name: s.name, TaskID: api.ID{Value: s.name + "." + uuid.NewString()[:8]}, AgentID: api.ID{Value: agentID},
		Resources: s.resources, Command: &cmd,
	}
	if s.image != "" {
		ti.Container = &api.ContainerInfo{Type: "MESOS", Mesos: &api.MesosContainer{Image: &api.Image{Type: "DOCKER", Docker: &api.DockerImage{Name: s.image}}}}
	}
	return ti
}

// runExecute runs spec to completion. ctx ends on SIGINT/SIGTERM: the task
// is then killed and the framework torn down; base outlives it for that.
func runExecute(ctx, base context.Context, m *masterAPI, spec executeSpec, eio execIO) error {
	out := eio.status
	// Whether any agent could ever fit the task is asked while the
	// subscription opens (a connection of its own, one round trip less
	// before the launch): an offer that does not fit is declined
	// meanwhile, so nothing is launched before the answer counts.
	fits := make(chan error, 1)
	go func() { fits <- checkFits(base, m, spec.resources) }()
	info := spec.frameworkInfo()
	sub, err := m.subscribe(base, info)
	if err != nil {
		if ferr := <-fits; ferr != nil {
			return &exitError{1, ferr.Error()}
		}
		return &exitError{1, err.Error()}
	}
	defer func() { sub.close() }()
	info.ID = &api.ID{Value: sub.frameworkID}
	fmt.Fprintf(out, "Subscribed with framework ID %s\n", sub.frameworkID)
	r := &execRun{spec: spec, out: out, io: eio, m: m}
	defer r.stopOutput(base)
	rc := newReconciler()
	defer rc.timer.Stop()
	fitCheck := time.NewTicker(2 * time.Second)
	defer fitCheck.Stop()
	interrupted := ctx.Done()
	for {
		select {
		case <-interrupted:
			interrupted = nil
			if r.taskID == "" || r.final != nil {
				_ = sub.call(base, api.Call{Type: api.CallTeardown})
				return &exitError{130, "interrupted"}
			}
			fmt.Fprintf(out, "Interrupted: killing task '%s'\n", r.taskID)
			if err := sub.call(base, api.Call{Type: api.CallKill, Kill: &api.KillCall{TaskID: api.ID{Value: r.taskID}, AgentID: &api.ID{Value: r.agentID}}}); err != nil {
				return &exitError{1, err.Error()}
			}
		case err := <-fits:
			fits = nil
			if err != nil && r.taskID == "" {
				_ = sub.call(base, api.Call{Type: api.CallTeardown})
				return &exitError{1, err.Error()}
			}
		case <-fitCheck.C:
			if r.taskID != "" {
				fitCheck.Stop()
				continue
			}
			if err := checkFits(base, m, spec.resources); err != nil {
				_ = sub.call(base, api.Call{Type: api.CallTeardown})
				return &exitError{1, err.Error()}
			}
		case <-rc.C():
			rc.fire(base, sub, r)
		case ev, ok := <-sub.events:
			if !ok {
				// The leader went away: re-subscribe as the same framework
				// (a standby's redirect finds the new one).
				sub.close()
				if sub, err = resubscribe(base, m, info); err != nil {
					return &exitError{1, err.Error()}
				}
				fmt.Fprintf(out, "Re-subscribed with framework ID %s\n", sub.frameworkID)
				if r.taskID != "" && r.final == nil {
					// Updates may have died with the old leader.
					rc.start()
				}
				continue
			}
			done, err := r.handle(base, sub, ev)
			if done {
				return err
			}
		}
	}
}

// resubscribe retries SUBSCRIBE for up to resubscribeWindow.
func resubscribe(ctx context.Context, m *masterAPI, info api.FrameworkInfo) (*subscription, error) {
	deadline := time.Now().Add(resubscribeWindow)
	for {
		sub, err := m.subscribe(ctx, info)
		if err == nil {
			return sub, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("lost the master and could not re-subscribe: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond): // retry pace, not a wait for an event
		}
	}
}

// execRun is the state of one `nodectl execute`.
type execRun struct {
	spec    executeSpec
	out     io.Writer // status lines
	io      execIO
	m       *masterAPI
	fwID    string
	output  *taskOutput // the streamed stdout/stderr, once running
	taskID  string
	agentID string
	sandbox bool
	link    *agentLink // the way to the task's agent, from its submission
	final   *api.TaskStatus
	last    api.TaskState // the task's last printed state
}

// wantsSandbox: the sandbox directory is printed (the "Sandbox:" status
// line, or -o json|yaml). With -q and the id alone nothing asks for it,
// and execute spares the agent the request.
func (r *execRun) wantsSandbox() bool {
	return r.out != io.Discard || (r.spec.output != "" && r.spec.output != "id")
}

// declineForever is the refuse_seconds for offers execute does not need.
var declineForever = 3600.0

// handle processes one event; done reports that execute is over, with
// err carrying the exit code.
func (r *execRun) handle(ctx context.Context, sub *subscription, ev api.Event) (done bool, err error) {
	switch ev.Type {
	case api.EventOffers:
		if ev.Offers == nil {
			return false, nil
		}
		var decline []api.ID
		for _, o := range ev.Offers.Offers {
			if r.taskID != "" || !o.Resources.Contains(r.spec.resources) {
				decline = append(decline, o.ID)
				continue
			}
			ti := r.spec.taskInfo(o.AgentID.Value)
			err := sub.call(ctx, api.Call{Type: api.CallAccept, Accept: &api.AcceptCall{
				OfferIDs: []api.ID{o.ID}, Operations: []api.Operation{{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: []api.TaskInfo{ti}}}},
			}})
			if err != nil {
				return true, &exitError{1, err.Error()}
			}
			r.taskID, r.agentID = ti.TaskID.Value, o.AgentID.Value
			if r.wantsSandbox() {
				r.link = linkAgent(ctx, r.m, r.agentID) // meanwhile
			}
			fmt.Fprintf(r.out, "Submitted task '%s' to agent '%s' (%s)\n", r.taskID, o.AgentID.Value, o.Hostname)
			// One task is all we want: no more offers.
			_ = sub.call(ctx, api.Call{Type: api.CallSuppress})
		}
		if len(decline) > 0 {
			_ = sub.call(ctx, api.Call{Type: api.CallDecline, Decline: &api.DeclineCall{OfferIDs: decline, Filters: &api.Filters{RefuseSeconds: &declineForever}}})
		}
	case api.EventUpdate:
		if ev.Update == nil {
			return false, nil
		}
		st := ev.Update.Status
		if err := sub.acknowledge(ctx, st); err != nil {
			fmt.Fprintf(r.out, "warning: acknowledge %s: %v\n", st.State, err)
		}
		if st.TaskID.Value != r.taskID {
			return false, nil
		}
		if st.Reason == api.ReasonReconciliation && len(st.UUID) == 0 && st.State == r.last {
			return false, nil // a reconciliation answer that tells nothing new
		}
		r.last = st.State
		r.fwID = sub.frameworkID
		if st.State.Terminal() || st.State == api.TaskLost {
			// The task's last output before its end, then the end.
			r.startOutput(ctx) // a task that never ran may still have written
			r.stopOutput(ctx)
		}
		printStatus(r.out, st)
		var sandbox string
		if st.State == api.TaskRunning && !r.sandbox && r.wantsSandbox() {
			r.sandbox = true
			if r.link == nil {
				r.link = linkAgent(ctx, r.m, r.agentID)
			}
			sandbox = r.link.sandbox(ctx, sub.frameworkID, r.taskID)
			fmt.Fprintf(r.out, "Sandbox: %s\n", sandbox)
		}
		if st.State == api.TaskRunning && r.spec.detach {
			return true, r.printDetached(sandbox)
		}
		if st.State == api.TaskRunning {
			r.startOutput(ctx)
		}
		if st.State.Terminal() || st.State == api.TaskLost {
			r.final = &st
			_ = sub.call(ctx, api.Call{Type: api.CallTeardown})
			if code := taskExitCode(st); code != 0 {
				return true, &exitError{code, fmt.Sprintf("task %s %s%s", st.TaskID.Value, st.State, detail(st))}
			}
			return true, nil
		}
	case api.EventError:
		msg := "framework error"
		if ev.Error != nil {
			msg += ": " + ev.Error.Message
		}
		return true, &exitError{1, msg}
	}
	return false, nil
}

func detail(st api.TaskStatus) string {
	if st.Message != "" {
		return ": " + oneLine(st.Message)
	}
	if st.Reason != "" {
		return ": " + st.Reason
	}
	return ""
}

// slaveSummary is the part of a /slaves entry the CLI reads.
type slaveSummary struct {
	ID        string         `json:"id"`
	PID       string         `json:"pid"`
	Hostname  string         `json:"hostname"`
	Active    bool           `json:"active"`
	Resources map[string]any `json:"resources"`
}

func listSlaves(ctx context.Context, m *masterAPI) ([]slaveSummary, error) {
	var resp struct {
		Slaves []slaveSummary `json:"slaves"`
	}
	if err := m.getJSON(ctx, "/slaves", &resp); err != nil {
		return nil, err
	}
	return resp.Slaves, nil
}

// checkFits fails fast when no active agent has, in total, the scalar
// resources the task asks for: no offer could ever fit. With no active
// agent yet it passes (one may still register).
func checkFits(ctx context.Context, m *masterAPI, want api.Resources) error {
	slaves, err := listSlaves(ctx, m)
	if err != nil {
		return err
	}
	names := map[string]float64{}
	for _, r := range want {
		if r.Type == api.Scalar {
			names[r.Name] = want.Scalar(r.Name)
		}
	}
	largest := map[string]float64{}
	active := 0
	for _, s := range slaves {
		if !s.Active {
			continue
		}
		active++
		fits := true
		for n, v := range names {
			have, _ := s.Resources[n].(float64)
			largest[n] = max(largest[n], have)
			if have+1e-9 < v {
				fits = false
			}
		}
		if fits {
			return nil
		}
	}
	if active == 0 {
		return nil
	}
	keys := make([]string, 0, len(names))
	for n := range names {
		keys = append(keys, n)
	}
	sort.Strings(keys)
	var asked, have []string
	for _, n := range keys {
		asked = append(asked, fmt.Sprintf("%s:%g", n, names[n]))
		have = append(have, fmt.Sprintf("%s:%g", n, largest[n]))
	}
	return fmt.Errorf("no agent has %s (largest of %d active agents: %s)", strings.Join(asked, ";"), active, strings.Join(have, ";"))
}

// agentLink is the way to a task's agent: a client of its port, or, when
// its address is unknown, its id and host to name it by. The execute CLI
// looks the agent up and opens the connection as soon as the task is
// submitted, while the task starts, so that the sandbox is one request
// away once the task runs.
type agentLink struct {
	id       string
	done     chan struct{}
	agent    *client.Client // nil: the agent's address is unknown
	fallback string         // "on agent ID (host)"
}

// linkAgent looks agentID up in the master's agent list and opens a
// connection to its port (a /version request) in the background.
func linkAgent(ctx context.Context, m *masterAPI, agentID string) *agentLink {
	l := &agentLink{id: agentID, done: make(chan struct{}), fallback: "on agent " + agentID}
	go func() {
		defer close(l.done)
		slaves, err := listSlaves(ctx, m)
		if err != nil {
			return
		}
		var addr string
		for _, s := range slaves {
			if s.ID == agentID {
				_, addr, _ = strings.Cut(s.PID, "@")
				l.fallback += " (" + s.Hostname + ")"
			}
		}
		if addr == "" {
			return
		}
		agent, err := m.c.At(addr) // the agent port takes the admin certificate
		if err != nil {
			return
		}
		var v json.RawMessage
		if err := agent.Get(ctx, "/version", &v); err != nil {
			return
		}
		l.agent = agent
	}()
	return l
}

// sandbox asks the agent (its /state) for the task's sandbox directory;
// if the agent cannot say, it names the agent.
func (l *agentLink) sandbox(ctx context.Context, frameworkID, taskID string) string {
	select {
	case <-l.done:
	case <-ctx.Done():
		return "on agent " + l.id
	}
	if l.agent == nil {
		return l.fallback
	}
	var state struct {
		Frameworks []struct {
			ID        string `json:"id"`
			Executors []struct {
				ID        string `json:"id"`
				Directory string `json:"directory"`
			} `json:"executors"`
		} `json:"frameworks"`
	}
	if err := l.agent.Get(ctx, "/state", &state); err != nil {
		return l.fallback
	}
	for _, f := range state.Frameworks {
		for _, e := range f.Executors {
			if f.ID == frameworkID && e.ID == taskID && e.Directory != "" {
				return e.Directory
			}
		}
	}
	return l.fallback
}

// The CLI's side of the Mesos v1 scheduler HTTP API, shared with `nodectl
// task kill`.

const (
	masterEnv         = "NODECTL_MASTER"
	maxEventBytes     = 16 << 20
	callTimeout       = 10 * time.Second
	resubscribeWindow = 30 * time.Second
)

// masterAPI talks to the leading master; its client follows a standby's
// 307 and keeps talking to the leader it led to.
type masterAPI struct {
	c *client.Client
}

// newMasterAPI builds the client with newClient; single calls are bounded
// by callTimeout, event streams are not.
func newMasterAPI(c *cli.Context) (*masterAPI, error) {
	cl, err := newClient(c, callTimeout)
	if err != nil {
		return nil, err
	}
	return &masterAPI{c: cl}, nil
}

// getJSON GETs a master endpoint and decodes its answer.
func (c *masterAPI) getJSON(ctx context.Context, path string, v any) error {
	if err := c.c.Get(ctx, path, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// subscription is one open SUBSCRIBE stream.
type subscription struct {
	api         *masterAPI
	frameworkID string
	streamID    string
	events      chan api.Event
	cancel      context.CancelFunc
	done        chan struct{}

	mu  sync.Mutex // guards err
	err error      // why the stream ended
}

// subscribe opens a subscription for info (a re-subscription when info.ID
// is set) and starts reading its events.
func (c *masterAPI) subscribe(ctx context.Context, info api.FrameworkInfo) (*subscription, error) {
	body, err := json.Marshal(api.Call{Type: api.CallSubscribe, FrameworkID: info.ID, Subscribe: &api.SubscribeCall{FrameworkInfo: info}})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	resp, err := c.c.Stream(sctx, client.Request{Method: http.MethodPost, Path: api.PathScheduler, Body: body,
		Header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	s := &subscription{api: c, streamID: resp.Header.Get(api.StreamIDHeader), events: make(chan api.Event, 64), cancel: cancel, done: make(chan struct{})}
	br := bufio.NewReader(resp.Body)
	first, err := readEvent(br)
	if err != nil || first.Type != api.EventSubscribed || first.Subscribed == nil {
		resp.Body.Close()
		cancel()
		if err == nil {
			err = fmt.Errorf("first event is %s", first.Type)
			if first.Error != nil {
				err = errors.New(first.Error.Message)
			}
		}
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	s.frameworkID = first.Subscribed.FrameworkID.Value
	// A stream that carries nothing, not even a HEARTBEAT, for several
	// heartbeat intervals is broken (the Mesos scheduler HTTP API asks
	// schedulers to re-subscribe then): it is ended, and the caller
	// re-subscribes as it does when the master closes it.
	silence := stalledAfter(first.Subscribed.HeartbeatIntervalSeconds)
	var stalled atomic.Bool
	watchdog := time.AfterFunc(silence, func() { stalled.Store(true); cancel() })
	go func() {
		defer close(s.done)
		defer close(s.events)
		defer resp.Body.Close()
		defer watchdog.Stop()
		for {
			ev, err := readEvent(br)
			if err != nil {
				if stalled.Load() {
					err = fmt.Errorf("no event for %s: %w", silence, err)
				}
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			watchdog.Reset(silence)
			select {
			case s.events <- ev:
			case <-sctx.Done():
				return
			}
		}
	}()
	return s, nil
}

// stalledAfter is how long a subscription may stay silent: five heartbeat
// intervals (15 s when the master names none).
func stalledAfter(heartbeatSeconds float64) time.Duration {
	iv := time.Duration(heartbeatSeconds * float64(time.Second))
	if iv <= 0 {
		iv = 15 * time.Second
	}
	return 5 * iv
}

func readEvent(br *bufio.Reader) (api.Event, error) {
	rec, err := api.ReadRecord(br, maxEventBytes)
	if err != nil {
		return api.Event{}, err
	}
	var ev api.Event
	if err := json.Unmarshal(rec, &ev); err != nil {
		return api.Event{}, fmt.Errorf("decode event: %w", err)
	}
	return ev, nil
}

// close ends the stream and waits for its reader.
func (s *subscription) close() {
	s.cancel()
	<-s.done
}

// call sends a non-SUBSCRIBE call on the subscription's behalf.
func (s *subscription) call(ctx context.Context, call api.Call) error {
	call.FrameworkID = &api.ID{Value: s.frameworkID}
	body, err := json.Marshal(call)
	if err != nil {
		return err
	}
	_, _, err = s.api.c.Raw(ctx, client.Request{Method: http.MethodPost, Path: api.PathScheduler, Body: body,
		Header: http.Header{api.StreamIDHeader: {s.streamID}}})
	if err != nil {
		return fmt.Errorf("%s: %w", call.Type, err)
	}
	return nil
}

// acknowledge acknowledges an update that needs it.
func (s *subscription) acknowledge(ctx context.Context, st api.TaskStatus) error {
	if len(st.UUID) == 0 || st.AgentID == nil {
		return nil
	}
	return s.call(ctx, api.Call{Type: api.CallAcknowledge, Acknowledge: &api.AcknowledgeCall{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID}})
}

// taskExitCode is the CLI's exit code for a task's terminal status: 0 for
// TASK_FINISHED, else the task's exit status when the agent reported one,
// else 1.
func taskExitCode(st api.TaskStatus) int {
	if st.State == api.TaskFinished {
		return 0
	}
	if st.ExitCode != nil && *st.ExitCode > 0 && *st.ExitCode < 256 {
		return *st.ExitCode
	}
	return 1
}

// printStatus prints one status update as it arrives.
func printStatus(w io.Writer, st api.TaskStatus) {
	fmt.Fprintf(w, "Received status update %s for task '%s'\n", st.State, st.TaskID.Value)
	if st.Source != "" {
		fmt.Fprintf(w, "  source: %s\n", st.Source)
	}
	if st.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", st.Reason)
	}
	if st.Message != "" {
		fmt.Fprintf(w, "  message: '%s'\n", oneLine(st.Message))
	}
}
