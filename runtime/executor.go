package runtime

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"nodectl/cluster/api"
	"nodectl/storage"
)

// Custom executors (Mesos ExecutorInfo of type CUSTOM, Mesos'
// docs/executor-http-api.md). A task that names an executor is not run
// by the agent's built-in executor: the agent starts the framework's
// executor once per (framework, executor id) in its own container (like
// a command task's: the executor's resources, its command and fetched
// URIs, the host's network), with Mesos' executor environment, and hands
// it its tasks over the executor HTTP API (executor_http.go) once it has
// subscribed. The executor reports its tasks' states with UPDATE calls;
// they travel through the agent's reliable status updates like the
// built-in executor's, and the framework's acknowledgement comes back to
// the executor as ACKNOWLEDGED. When the executor ends, its tasks that
// are not terminal end TASK_FAILED (REASON_EXECUTOR_TERMINATED), or
// TASK_KILLED when they were being killed.

// DefaultExecutorRegistrationTimeout is Mesos' default
// --executor_registration_timeout: an executor that has not subscribed by
// then is killed.
const DefaultExecutorRegistrationTimeout = time.Minute

// executorHeartbeat is how often a subscribed executor gets HEARTBEAT
// (Mesos' DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL, src/slave/constants.hpp).
var executorHeartbeat = 30 * time.Second

// DefaultExecutorSubscriptionBackoffMax is what executors are told in
// MESOS_SUBSCRIPTION_BACKOFF_MAX (Mesos' default, 2 seconds).
const DefaultExecutorSubscriptionBackoffMax = 2 * time.Second

type customExecKey struct{ framework, executor string }

// executor is one custom executor run.
type executor struct {
	key       customExecKey
	info      api.ExecutorInfo
	framework api.FrameworkInfo
	run       *task    // the executor's container as a task record: sandbox, container id, ctr
	token     string   // MESOS_EXECUTOR_AUTHENTICATION_TOKEN; never logged; empty once recovered
	tokenHash [32]byte // its SHA-256, checkpointed (executor_recover.go)
	recovered bool     // rebuilt from the checkpoint by a restarted agent
	started   chan struct{}
	done      chan struct{} // closed once the executor has ended and its tasks were reported

	// Guarded by executorTable.mu.
	tasks      map[string]*task // tasks given to it that are not terminal
	queued     []*task          // waiting for SUBSCRIBE
	sub        *executorSub     // the current subscription, nil when none
	subscribed bool             // it subscribed at least once
	shutdown   bool             // SHUTDOWN sent (or to be sent on subscription)
	ended      bool
	// acked is the uuids of its updates the framework acknowledged, to
	// answer a re-subscription that lists them (executor_recover.go).
	acked map[string]bool
	// endState, endReason and endMessage, when set, are what its live
	// tasks become when it ends (the re-registration timeout);
	// TASK_FAILED (REASON_EXECUTOR_TERMINATED) otherwise.
	endState              api.TaskState
	endReason, endMessage string
}

// executorSub is one SUBSCRIBE stream: events are written by its handler.
type executorSub struct {
	events chan api.ExecutorEvent
	closed chan struct{}
	once   sync.Once
}

func (s *executorSub) close() { s.once.Do(func() { close(s.closed) }) }

// send queues an event; a subscriber too slow to take 1024 events is cut
// off (it re-subscribes).
func (s *executorSub) send(ev api.ExecutorEvent) {
	select {
	case s.events <- ev:
	case <-s.closed:
	default:
		s.close()
	}
}

// executorTable holds the agent's custom executors.
type executorTable struct {
	mu       sync.Mutex
	m        map[customExecKey]*executor
	endpoint string             // ip:port of the executor API; empty: not served
	held     map[string][]*task // recovered tasks by container id, during recovery (executor_recover.go)
}

func (et *executorTable) get(fw, id string) *executor {
	et.mu.Lock()
	defer et.mu.Unlock()
	return et.m[customExecKey{fw, id}]
}

// byToken finds the executor whose token is tok.
func (et *executorTable) byToken(tok string) *executor {
	et.mu.Lock()
	defer et.mu.Unlock()
	for _, e := range et.m {
		if tokenMatches(e, tok) {
			return e
		}
	}
	return nil
}

// all lists the executors.
func (et *executorTable) all() []*executor {
	et.mu.Lock()
	defer et.mu.Unlock()
	out := make([]*executor, 0, len(et.m))
	for _, e := range et.m {
		out = append(out, e)
	}
	return out
}

// launchOnExecutor runs a task admitted by admitLaunch on its custom
// executor, starting the executor first when it does not run yet.
func (a *Agent) launchOnExecutor(ctx context.Context, t *task) {
	defer t.killLaunch()
	ei := *t.info.Executor
	fail := func(state api.TaskState, reason, msg string) {
		a.endLaunch(t)
		a.setState(t, state, reason, msg, nil)
	}
	switch {
	case t.frameworkID == "" || t.id == "":
		fail(api.TaskError, api.ReasonTaskInvalid, "task and framework ids are required")
		return
	case ei.Command == nil:
		fail(api.TaskError, api.ReasonTaskInvalid, "executor.command is required")
		return
	case ei.Container != nil && (ei.Container.Mesos != nil && ei.Container.Mesos.Image != nil):
		fail(api.TaskError, api.ReasonTaskInvalid, "executor.container.mesos.image is not supported: custom executors run on the host's filesystem")
		return
	case ei.Container != nil && len(ei.Container.NetworkInfos) > 0:
		fail(api.TaskError, api.ReasonTaskInvalid, "executor.container.network_infos is not supported: custom executors use the host's network")
		return
	}
	a.execs.mu.Lock()
	endpoint := a.execs.endpoint
	a.execs.mu.Unlock()
	if endpoint == "" {
		fail(api.TaskFailed, api.ReasonContainerLaunchFailed, "this agent does not serve the executor API: custom executors cannot run here")
		return
	}
	if msg := a.diskFullRefusal(); msg != "" {
		fail(api.TaskFailed, api.ReasonContainerLaunchFailed, msg)
		return
	}
	e, fresh := a.executorFor(t, ei)
	t.executorID, t.containerID = e.key.executor, e.run.containerID
	if err := a.checkpointExecutorLaunch(t, e, endpoint); err != nil { // executor_recover.go
		a.log.Error("checkpoint launch", "task_id", t.id, "err", err)
	}
	if fresh {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.runExecutor(ctx, e)
		}()
	}
	a.tasks.mu.Lock()
	killed := t.launchCtx.Err() != nil
	t.launching = false
	a.tasks.mu.Unlock()
	if killed {
		a.setState(t, api.TaskKilled, api.ReasonTaskKilledDuringLaunch, "Task killed before it was launched", nil)
		return
	}
	a.execs.mu.Lock()
	if e.ended {
		a.execs.mu.Unlock()
		a.setState(t, api.TaskFailed, api.ReasonExecutorTerminated, "the executor has terminated", nil)
		return
	}
	e.tasks[t.id] = t
	if e.sub != nil {
		e.sub.send(api.ExecutorEvent{Type: api.ExecEventLaunch, Launch: &api.ExecutorLaunch{Task: t.info}})
	} else {
		e.queued = append(e.queued, t)
	}
	a.execs.mu.Unlock()
}

// executorFor returns the executor of t, made (not started) when it does
// not exist yet; fresh reports that the caller must start it.
func (a *Agent) executorFor(t *task, ei api.ExecutorInfo) (e *executor, fresh bool) {
	k := customExecKey{t.frameworkID, ei.ExecutorID.Value}
	a.execs.mu.Lock()
	defer a.execs.mu.Unlock()
	if e := a.execs.m[k]; e != nil && !e.ended {
		return e, false
	}
	if a.execs.m == nil {
		a.execs.m = map[customExecKey]*executor{}
	}
	if ei.FrameworkID == nil {
		ei.FrameworkID = &api.ID{Value: t.frameworkID}
	}
	run := &task{
		id: ei.ExecutorID.Value, frameworkID: t.frameworkID, executorID: ei.ExecutorID.Value,
		containerID: uuid.NewString(), framework: t.framework, launchedAt: time.Now(),
		info: api.TaskInfo{Name: ei.Name, TaskID: ei.ExecutorID, Resources: ei.Resources, Command: ei.Command, Container: ei.Container},
	}
	run.launchCtx, run.killLaunch = context.WithCancel(context.Background())
	tok := newToken()
	e = &executor{
		key: k, info: ei, framework: t.framework, run: run, token: tok, tokenHash: sha256.Sum256([]byte(tok)),
		started: make(chan struct{}), done: make(chan struct{}), tasks: map[string]*task{}, acked: map[string]bool{},
	}
	a.execs.m[k] = e
	return e, true
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// executorEnv is Mesos' environment of an executor (beyond what every
// container gets, env.go), in the command's environment so it reaches
// the container; the token goes as a secret variable.
func (a *Agent) executorEnv(e *executor, endpoint string) {
	c := *e.run.info.Command
	var vars []api.EnvVar
	if c.Environment != nil {
		vars = append(vars, c.Environment.Variables...)
	}
	dur := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "secs" }
	for _, kv := range [][2]string{
		{"MESOS_AGENT_ENDPOINT", endpoint},
		{"MESOS_SLAVE_PID", "slave(1)@" + endpoint},
		{"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", dur(a.cfg.ExecutorShutdownGracePeriod)},
		{"MESOS_RECOVERY_TIMEOUT", dur(a.cfg.RecoveryTimeout)},
		{"MESOS_SUBSCRIPTION_BACKOFF_MAX", dur(DefaultExecutorSubscriptionBackoffMax)},
		{"MESOS_HTTP_COMMAND_EXECUTOR", "0"},
		{"MESOS_TASK_ID", ""},
		{"NODECTL_TASK_ID", ""},
	} {
		vars = append(vars, api.EnvVar{Name: kv[0], Value: kv[1]})
	}
	c.Environment = &api.Environment{Variables: vars}
	e.run.info.Command = &c
	e.run.secrets.env = []string{"MESOS_EXECUTOR_AUTHENTICATION_TOKEN=" + e.token}
}

// runExecutor starts the executor's container and follows it to its end.
func (a *Agent) runExecutor(ctx context.Context, e *executor) {
	run := e.run
	a.execs.mu.Lock()
	endpoint := a.execs.endpoint
	a.execs.mu.Unlock()
	a.executorEnv(e, endpoint)
	err := func() error {
		sandbox, err := a.makeTaskSandbox(run)
		if err != nil {
			return err
		}
		run.sandbox = sandbox
		if len(run.info.Command.URIs) > 0 {
			if err := a.fetchURIs(ctx, run); err != nil {
				return err
			}
		}
		select {
		case a.starts <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		err = a.startContainer(ctx, run)
		<-a.starts
		return err
	}()
	close(e.started)
	if ctx.Err() != nil {
		return // detaching
	}
	if err != nil {
		reason := api.ReasonContainerLaunchFailed
		if fe := (*FetchError)(nil); errors.As(err, &fe) {
			reason = api.ReasonFetcherFailed
		}
		a.log.Warn("custom executor failed to start", "framework_id", e.key.framework, "executor_id", e.key.executor, "err", err)
		a.executorEnded(e, reason, "Failed to launch the executor: "+err.Error())
		a.releaseRootfs(run)
		return
	}
	a.log.Info("custom executor started", "framework_id", e.key.framework, "executor_id", e.key.executor, "container_id", run.containerID)
	a.followExecutor(ctx, e, a.cfg.ExecutorRegistrationTimeout, func() {
		a.log.Warn("custom executor did not subscribe in time; killing it", "framework_id", e.key.framework, "executor_id", e.key.executor, "timeout", a.cfg.ExecutorRegistrationTimeout)
	})
}

// followExecutor follows a started (or recovered) executor's container to
// its end: the executor is killed when it has not subscribed within
// timeout (late is called first, under no lock); when the container
// ends, its tasks are reported and the container destroyed.
func (a *Agent) followExecutor(ctx context.Context, e *executor, timeout time.Duration, late func()) {
	run := e.run
	reg := time.AfterFunc(timeout, func() {
		a.execs.mu.Lock()
		lateNow := !e.subscribed && !e.ended
		a.execs.mu.Unlock()
		if lateNow {
			late()
			_ = run.ctr.Kill(context.Background(), 0)
		}
	})
	defer reg.Stop()
	exit, werr := run.ctr.Wait(ctx)
	if ctx.Err() != nil {
		return
	}
	msg := "Executor terminated: " + exitMessage(exit)
	if werr != nil {
		msg = "Executor terminated: " + werr.Error()
	}
	a.executorEnded(e, api.ReasonExecutorTerminated, msg)
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.store.CompleteExecutor(dctx, run.containerID, time.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		a.log.Warn("checkpoint executor end", "executor_id", e.key.executor, "err", err)
	}
	if err := run.ctr.Destroy(dctx); err != nil {
		a.log.Warn("destroy executor container", "executor_id", e.key.executor, "container_id", run.containerID, "err", err)
	}
	a.releaseRootfs(run)
	a.log.Info("custom executor ended", "framework_id", e.key.framework, "executor_id", e.key.executor, "exit", exitMessage(exit))
}

// executorEnded ends an executor's tasks that are not terminal and drops
// the executor.
func (a *Agent) executorEnded(e *executor, reason, msg string) {
	a.execs.mu.Lock()
	e.ended = true
	if e.sub != nil {
		e.sub.close()
		e.sub = nil
	}
	var left []*task
	for _, t := range e.tasks {
		left = append(left, t)
	}
	left = append(left, e.queued...)
	e.tasks, e.queued = map[string]*task{}, nil
	if a.execs.m[e.key] == e {
		delete(a.execs.m, e.key)
	}
	endState := e.endState
	if endState != "" {
		reason, msg = e.endReason, e.endMessage
	}
	a.execs.mu.Unlock()
	for _, t := range left {
		a.tasks.mu.Lock()
		st, killing, fenced := t.state, t.killing, t.fenced
		a.tasks.mu.Unlock()
		switch {
		case fenced || st.Terminal():
		case killing:
			a.setState(t, api.TaskKilled, reason, msg, nil)
		case endState != "":
			a.setState(t, endState, reason, msg, nil)
		default:
			a.setState(t, api.TaskFailed, reason, msg, nil)
		}
	}
	close(e.done)
}

// killOnExecutor handles a KILL of a task that runs on a custom
// executor: the executor gets a KILL event (a task it has not been given
// yet ends TASK_KILLED here). It reports false for other tasks.
func (a *Agent) killOnExecutor(m *api.KillMessage) bool {
	t := a.tasks.get(m.FrameworkID.Value, m.TaskID.Value)
	if t == nil || t.info.Executor == nil {
		return false
	}
	e := a.execs.get(m.FrameworkID.Value, t.info.Executor.ExecutorID.Value)
	a.tasks.mu.Lock()
	if t.killing || t.state.Terminal() {
		a.tasks.mu.Unlock()
		return true
	}
	t.killing = true
	if t.launching {
		t.killLaunch()
		a.tasks.mu.Unlock()
		return true
	}
	a.tasks.mu.Unlock()
	if e == nil {
		a.setState(t, api.TaskKilled, "", "the task's executor is not running", nil)
		return true
	}
	a.execs.mu.Lock()
	for i, q := range e.queued {
		if q == t {
			e.queued = append(e.queued[:i:i], e.queued[i+1:]...)
			delete(e.tasks, t.id)
			a.execs.mu.Unlock()
			a.setState(t, api.TaskKilled, "", "Task killed before its executor subscribed", nil)
			return true
		}
	}
	kp := t.info.KillPolicy
	if m.GracePeriod != nil {
		kp = &api.KillPolicy{GracePeriod: m.GracePeriod}
	}
	if e.sub != nil {
		e.sub.send(api.ExecutorEvent{Type: api.ExecEventKill, Kill: &api.ExecutorKill{TaskID: m.TaskID, KillPolicy: kp}})
	}
	a.execs.mu.Unlock()
	return true
}

// shutdownExecutor sends SHUTDOWN to an executor and kills its container
// when it has not ended after the shutdown grace period.
func (a *Agent) shutdownExecutor(ctx context.Context, fw, id string) {
	e := a.execs.get(fw, id)
	if e == nil {
		return
	}
	a.execs.mu.Lock()
	e.shutdown = true
	if e.sub != nil {
		e.sub.send(api.ExecutorEvent{Type: api.ExecEventShutdown})
	}
	for _, t := range e.tasks {
		a.tasks.mu.Lock()
		t.killing = true
		a.tasks.mu.Unlock()
	}
	a.execs.mu.Unlock()
	select {
	case <-e.started:
	case <-ctx.Done():
		return
	}
	grace := a.cfg.ExecutorShutdownGracePeriod
	select {
	case <-e.done:
		return
	case <-time.After(grace):
	case <-ctx.Done():
		return
	}
	if ctr := e.run.ctr; ctr != nil {
		a.log.Info("custom executor did not exit after SHUTDOWN; killing it", "framework_id", fw, "executor_id", id)
		if err := ctr.Kill(ctx, 0); err != nil && ctx.Err() == nil {
			a.log.Warn("kill executor", "executor_id", id, "err", err)
		}
	}
}

// shutdownExecutors shuts down every executor of a framework.
func (a *Agent) shutdownExecutors(ctx context.Context, fw string) {
	var wg sync.WaitGroup
	for _, e := range a.execs.all() {
		if e.key.framework != fw {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.shutdownExecutor(ctx, fw, e.key.executor)
		}()
	}
	wg.Wait()
}

// frameworkMessage hands a scheduler's MESSAGE to a subscribed executor
// (dropped otherwise, as Mesos does).
func (a *Agent) frameworkMessage(m *api.ExecutorMessage) {
	e := a.execs.get(m.FrameworkID.Value, m.ExecutorID.Value)
	if e == nil {
		a.log.Warn("framework message for an unknown executor dropped", "framework_id", m.FrameworkID.Value, "executor_id", m.ExecutorID.Value)
		return
	}
	a.execs.mu.Lock()
	defer a.execs.mu.Unlock()
	if e.sub == nil {
		a.log.Warn("framework message for an executor not subscribed dropped", "framework_id", m.FrameworkID.Value, "executor_id", m.ExecutorID.Value)
		return
	}
	e.sub.send(api.ExecutorEvent{Type: api.ExecEventMessage, Message: &api.ExecutorMessageCall{Data: m.Data}})
}

// executorAcked tells an executor that the framework acknowledged one of
// its updates.
func (a *Agent) executorAcked(ack *api.AckMessage) {
	t := a.tasks.get(ack.FrameworkID.Value, ack.TaskID.Value)
	if t == nil {
		// Acknowledged terminal: the task left the table; find it by id.
		a.tasks.mu.Lock()
		for _, c := range a.tasks.completed {
			if c.frameworkID == ack.FrameworkID.Value && c.id == ack.TaskID.Value {
				t = c
			}
		}
		a.tasks.mu.Unlock()
	}
	if t == nil || t.info.Executor == nil {
		return
	}
	e := a.execs.get(ack.FrameworkID.Value, t.info.Executor.ExecutorID.Value)
	if e == nil {
		return
	}
	a.execs.mu.Lock()
	defer a.execs.mu.Unlock()
	e.acked[string(ack.UUID)] = true
	if e.sub != nil {
		e.sub.send(api.ExecutorEvent{Type: api.ExecEventAcknowledged, Acknowledged: &api.ExecutorAcknowledged{TaskID: ack.TaskID, UUID: ack.UUID}})
	}
}

// executorUpdate applies an executor's UPDATE to its task and queues it
// for the master with the executor's uuid.
func (a *Agent) executorUpdate(e *executor, st api.TaskStatus) error {
	a.execs.mu.Lock()
	t := e.tasks[st.TaskID.Value]
	a.execs.mu.Unlock()
	if t == nil {
		return fmt.Errorf("task %s is not a live task of executor %s", st.TaskID.Value, e.key.executor)
	}
	if len(st.UUID) != 16 {
		return errors.New("status.uuid must be 16 bytes")
	}
	if st.State == api.TaskStaging {
		return errors.New("an executor cannot send TASK_STAGING")
	}
	a.tasks.mu.Lock()
	next, err := api.Next(t.state, st.State)
	if err != nil {
		a.tasks.mu.Unlock()
		return err
	}
	t.state = next
	st.AgentID = &api.ID{Value: a.ID()}
	st.ExecutorID = &api.ID{Value: e.key.executor}
	st.Source = api.SourceExecutor
	if st.Timestamp == 0 {
		st.Timestamp = float64(time.Now().UnixNano()) / 1e9
	}
	if st.ContainerStatus == nil {
		st.ContainerStatus = &api.ContainerStatus{ContainerID: &api.ID{Value: e.run.containerID}}
		if e.run.ctr != nil {
			st.ContainerStatus.ExecutorPID = e.run.ctr.Pid()
		}
	}
	t.statuses = append(t.statuses, st)
	a.tasks.mu.Unlock()
	if next.Terminal() {
		a.execs.mu.Lock()
		delete(e.tasks, t.id)
		a.execs.mu.Unlock()
	}
	a.log.Info("task "+string(st.State), "task_id", t.id, "framework_id", t.frameworkID, "executor_id", e.key.executor, "message", st.Message)
	u := api.StatusUpdate{AgentID: api.ID{Value: a.ID()}, FrameworkID: api.ID{Value: t.frameworkID}, Status: st, LatestState: next}
	a.checkpointUpdate(u)
	a.status.enqueue(u)
	return nil
}
