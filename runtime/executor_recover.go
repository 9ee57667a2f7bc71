package runtime

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
	"nodectl/storage"
)

// Custom executor recovery across an agent restart (Mesos'
// docs/agent-recovery.md; src/slave/slave.cpp: Slave::recover,
// Slave::subscribe, Slave::reregisterExecutorTimeout). The executor run's
// checkpoint record (storage.Executor.Info) holds its ExecutorInfo, the
// executor API address it was given (MESOS_AGENT_ENDPOINT) and the
// SHA-256 of its token (the token itself is never stored or logged). A
// restarted agent:
//
//   - listens for the executor API on the address its surviving executors
//     were given (ListenExecutorAPI), so that they can re-subscribe; when
//     that port is taken, on a new one, and they cannot;
//   - rebuilds each executor of a checkpointing framework whose container
//     still runs, with its tasks (not as command tasks' containers), and
//     waits --recovery_timeout for it to SUBSCRIBE again; one that does not
//     is killed and its tasks end TASK_LOST (TASK_GONE for PARTITION_AWARE
//     frameworks) with REASON_EXECUTOR_REREGISTRATION_TIMEOUT. Mesos waits
//     --executor_reregistration_timeout (2 s) there; nodectl uses the
//     window the executor itself is told (MESOS_RECOVERY_TIMEOUT);
//   - on the re-subscription, takes the executor's unacknowledged updates
//     it has not checkpointed (by uuid) through the reliable status-update
//     path, answers those the framework acknowledged already with
//     ACKNOWLEDGED, ends a task still TASK_STAGING that the executor does
//     not list in unacknowledged_tasks TASK_LOST (TASK_DROPPED when
//     partition-aware; REASON_SLAVE_RESTARTED: the agent died before
//     handing it over), and sends again the KILL of a task being killed.
//
// An executor whose container ended while the agent was down has its
// tasks end TASK_FAILED (REASON_EXECUTOR_TERMINATED); after a reboot,
// TASK_LOST; a framework that does not checkpoint, or --recover=cleanup,
// has its executors killed and their tasks end TASK_LOST.

// executorRunRecord is the checkpoint record of a custom executor run.
type executorRunRecord struct {
	ExecutorInfo  *api.ExecutorInfo `json:"executor_info,omitempty"`
	AgentEndpoint string            `json:"agent_endpoint,omitempty"`
	TokenSHA256   string            `json:"token_sha256,omitempty"`
	// Executor is set in a record written before this one existed: the
	// first task's TaskInfo, whose executor it is.
	Executor *api.ExecutorInfo `json:"executor,omitempty"`
}

// parseRunRecord reads a custom executor run's record; ok is false for a
// command task's run (its TaskInfo, without executor).
func parseRunRecord(b []byte) (r executorRunRecord, ei *api.ExecutorInfo, ok bool) {
	if err := json.Unmarshal(b, &r); err != nil {
		return r, nil, false
	}
	ei = r.ExecutorInfo
	if ei == nil {
		ei = r.Executor
	}
	return r, ei, ei != nil && ei.ExecutorID.Value != ""
}

// tokenMatches reports whether tok is e's token.
func tokenMatches(e *executor, tok string) bool {
	if tok == "" || e.tokenHash == ([32]byte{}) {
		return false
	}
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], e.tokenHash[:]) == 1
}

// checkpointExecutorLaunch checkpoints a task launched on executor e, with
// e's run record (written with the run's first task).
func (a *Agent) checkpointExecutorLaunch(t *task, e *executor, endpoint string) error {
	fwInfo, err := json.Marshal(t.framework)
	if err != nil {
		return err
	}
	taskInfo, err := json.Marshal(t.info)
	if err != nil {
		return err
	}
	rec, err := json.Marshal(executorRunRecord{ExecutorInfo: &e.info, AgentEndpoint: endpoint, TokenSHA256: hex.EncodeToString(e.tokenHash[:])})
	if err != nil {
		return err
	}
	t.sandbox = a.taskSandboxDir(t)
	return a.store.LaunchTask(context.Background(), storage.Launch{
		Framework: storage.Framework{ID: t.frameworkID, Info: fwInfo, Checkpoint: t.framework.Checkpoint},
		Executor: storage.Executor{FrameworkID: t.frameworkID, ExecutorID: t.executorID, ContainerID: t.containerID,
			Sandbox: t.sandbox, Info: rec, LaunchedAt: e.run.launchedAt},
		Task: storage.Task{FrameworkID: t.frameworkID, TaskID: t.id, ExecutorID: t.executorID, ContainerID: t.containerID,
			Info: taskInfo, State: string(api.TaskStaging)},
	})
}

// ListenExecutorAPI opens the executor API's loopback listener (call it
// after New, before Run): on the address the newest executor surviving
// from the agent's last run was given, so that executors can re-subscribe
// after a restart; on a new port when there is none, or when that one is
// taken (those executors then cannot re-subscribe: they are destroyed
// after --recovery_timeout).
func (a *Agent) ListenExecutorAPI() (net.Listener, error) {
	if ep := a.previousExecutorEndpoint(); ep != "" {
		ln, err := net.Listen("tcp", ep)
		if err == nil {
			a.log.Info("executor API on its previous address, for recovered executors", "addr", ep)
			return ln, nil
		}
		a.log.Warn("the executor API's previous address is taken: executors of the last run cannot re-subscribe and are destroyed after --recovery_timeout",
			"addr", ep, "err", err, "recovery_timeout", a.cfg.RecoveryTimeout)
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// previousExecutorEndpoint is the loopback address recorded by the newest
// custom executor run that had not terminated.
func (a *Agent) previousExecutorEndpoint() string {
	if a.state.Agent == nil || a.rebooted {
		return ""
	}
	var best string
	var at time.Time
	for _, rec := range a.state.Executors {
		if rec.Completed {
			continue
		}
		r, _, ok := parseRunRecord(rec.Info)
		if !ok {
			continue
		}
		ap, err := netip.ParseAddrPort(r.AgentEndpoint)
		if err != nil || !ap.Addr().IsLoopback() || ap.Port() == 0 {
			continue
		}
		if best == "" || rec.LaunchedAt.After(at) {
			best, at = ap.String(), rec.LaunchedAt
		}
	}
	return best
}

// holdExecutorTask keeps a recovered task of a custom executor for
// recoverExecutors (instead of settling it as a command task's container);
// it reports false for other tasks.
func (a *Agent) holdExecutorTask(t *task) bool {
	if t.info.Executor == nil {
		return false
	}
	a.execs.mu.Lock()
	defer a.execs.mu.Unlock()
	if a.execs.held == nil {
		a.execs.held = map[string][]*task{}
	}
	a.execs.held[t.containerID] = append(a.execs.held[t.containerID], t)
	return true
}

// recoverExecutors rebuilds the custom executors of the checkpoint with
// the tasks holdExecutorTask kept; it marks the containers it reattached
// known and returns their number.
func (a *Agent) recoverExecutors(ctx context.Context, known map[string]bool) int {
	a.execs.mu.Lock()
	held := a.execs.held
	a.execs.held = nil
	a.execs.mu.Unlock()
	fws := map[string]api.FrameworkInfo{}
	for _, f := range a.state.Frameworks {
		var info api.FrameworkInfo
		if json.Unmarshal(f.Info, &info) == nil {
			info.Checkpoint = f.Checkpoint
			fws[f.ID] = info
		}
	}
	acked := map[string]map[string]bool{} // container id → uuids
	for _, rec := range a.state.Tasks {
		for _, u := range rec.Updates {
			if u.Acked() {
				if acked[rec.ContainerID] == nil {
					acked[rec.ContainerID] = map[string]bool{}
				}
				acked[rec.ContainerID][string(u.UUID)] = true
			}
		}
	}
	n := 0
	for _, rec := range a.state.Executors {
		r, ei, ok := parseRunRecord(rec.Info)
		if !ok || rec.Completed {
			continue
		}
		fw, ok := fws[rec.FrameworkID]
		if !ok {
			continue // its tasks failed to restore already
		}
		tasks := held[rec.ContainerID]
		delete(held, rec.ContainerID)
		if a.recoverExecutor(ctx, rec, r, *ei, fw, tasks, acked[rec.ContainerID]) {
			known[rec.ContainerID] = true
			n++
		}
	}
	// Tasks whose executor run is over or unreadable: their executor is
	// gone.
	for _, tasks := range held {
		for _, t := range tasks {
			a.tasks.mu.Lock()
			terminal := t.state.Terminal()
			a.tasks.mu.Unlock()
			if !terminal {
				a.setState(t, api.TaskFailed, api.ReasonExecutorTerminated, "the task's executor had terminated when the agent restarted", nil)
			}
		}
	}
	return n
}

// lostState is TASK_LOST, or partitionAware for a PARTITION_AWARE
// framework.
func lostState(fw api.FrameworkInfo, partitionAware api.TaskState) api.TaskState {
	if fw.HasCapability("PARTITION_AWARE") {
		return partitionAware
	}
	return api.TaskLost
}

// recoverExecutor reattaches one executor run; it reports whether its
// container runs on as a recovered executor.
func (a *Agent) recoverExecutor(ctx context.Context, rec storage.Executor, r executorRunRecord, ei api.ExecutorInfo, fw api.FrameworkInfo, tasks []*task, acked map[string]bool) bool {
	var live []*task
	for _, t := range tasks {
		a.tasks.mu.Lock()
		terminal := t.state.Terminal()
		a.tasks.mu.Unlock()
		if !terminal {
			live = append(live, t)
		}
	}
	end := func(state api.TaskState, reason, msg string) {
		for _, t := range live {
			a.setState(t, state, reason, msg, nil)
		}
		if err := a.store.CompleteExecutor(ctx, rec.ContainerID, time.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			a.log.Warn("checkpoint executor end", "executor_id", rec.ExecutorID, "err", err)
		}
	}
	log := a.log.With("framework_id", rec.FrameworkID, "executor_id", rec.ExecutorID, "container_id", rec.ContainerID)
	if a.rebooted {
		end(lostState(fw, api.TaskGone), api.ReasonAgentRestarted, "the host rebooted; the executor's container is gone")
		return false
	}
	var ctr taskContainer
	err := container.ErrNotFound
	if a.driver != nil {
		ctr, err = a.driver.Load(rec.ContainerID)
	}
	if err != nil {
		log.Warn("custom executor's container gone at recovery", "err", err)
		end(api.TaskFailed, api.ReasonExecutorTerminated, "the executor's container was gone when the agent restarted")
		return false
	}
	destroy := func() {
		if err := ctr.Kill(ctx, 0); err != nil && ctx.Err() == nil {
			log.Warn("kill executor container", "err", err)
		}
		_ = ctr.Destroy(ctx)
	}
	if a.cfg.Recover == "cleanup" || !fw.Checkpoint {
		destroy()
		end(api.TaskLost, api.ReasonAgentRestarted, "the agent restarted and the framework does not checkpoint")
		return false
	}
	if st, _ := ctr.Status(); st != container.Running {
		destroy()
		end(api.TaskFailed, api.ReasonExecutorTerminated, "the executor terminated while the agent was down")
		return false
	}
	run := &task{
		id: rec.ExecutorID, frameworkID: rec.FrameworkID, executorID: rec.ExecutorID, containerID: rec.ContainerID,
		framework: fw, sandbox: rec.Sandbox, launchedAt: rec.LaunchedAt, ctr: ctr, state: api.TaskRunning,
		info: api.TaskInfo{Name: ei.Name, TaskID: ei.ExecutorID, Resources: ei.Resources, Command: ei.Command, Container: ei.Container},
	}
	run.launchCtx, run.killLaunch = context.WithCancel(context.Background())
	e := &executor{
		key: customExecKey{rec.FrameworkID, rec.ExecutorID}, info: ei, framework: fw, run: run, recovered: true,
		started: make(chan struct{}), done: make(chan struct{}), tasks: map[string]*task{}, acked: acked,
	}
	if e.acked == nil {
		e.acked = map[string]bool{}
	}
	if h, err := hex.DecodeString(r.TokenSHA256); err == nil && len(h) == len(e.tokenHash) {
		copy(e.tokenHash[:], h)
	}
	close(e.started)
	for _, t := range live {
		e.tasks[t.id] = t
	}
	a.execs.mu.Lock()
	if a.execs.m == nil {
		a.execs.m = map[customExecKey]*executor{}
	}
	a.execs.m[e.key] = e
	a.execs.mu.Unlock()
	timeout := a.cfg.RecoveryTimeout
	log.Info("custom executor recovered; waiting for it to re-subscribe", "tasks", len(live), "recovery_timeout", timeout)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.followExecutor(ctx, e, timeout, func() {
			msg := fmt.Sprintf("Executor did not re-subscribe within --recovery_timeout (%s)", timeout)
			a.execs.mu.Lock()
			e.endState, e.endReason, e.endMessage = lostState(fw, api.TaskGone), api.ReasonExecutorReregTimeout, msg
			a.execs.mu.Unlock()
			log.Warn("custom executor did not re-subscribe in time; killing it", "recovery_timeout", timeout)
		})
	}()
	return true
}

// alreadyAcked answers a subscription's unacknowledged updates that the
// framework acknowledged already with ACKNOWLEDGED events. a.execs.mu is
// held.
func (a *Agent) alreadyAcked(e *executor, updates []api.ExecutorUpdateCall) []api.ExecutorEvent {
	var out []api.ExecutorEvent
	for _, u := range updates {
		if e.acked[string(u.Status.UUID)] {
			out = append(out, api.ExecutorEvent{Type: api.ExecEventAcknowledged, Acknowledged: &api.ExecutorAcknowledged{TaskID: u.Status.TaskID, UUID: u.Status.UUID}})
		}
	}
	return out
}

// hasUpdate reports whether t has the update uuid already.
func (a *Agent) hasUpdate(t *task, uuid []byte) bool {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	for _, st := range t.statuses {
		if string(st.UUID) == string(uuid) {
			return true
		}
	}
	return false
}

// resubscribed handles what a SUBSCRIBE carries: unacknowledged updates
// the agent has not seen go through executorUpdate; on the
// re-subscription of a recovered executor (resub), its tasks still
// TASK_STAGING that it does not know end (the agent died before handing
// them over); kills in flight are sent again.
func (a *Agent) resubscribed(e *executor, call *api.ExecutorSubscribeCall, resub bool) {
	for _, u := range call.UnacknowledgedUpdates {
		a.execs.mu.Lock()
		seen := e.acked[string(u.Status.UUID)]
		a.execs.mu.Unlock()
		if seen {
			continue
		}
		if t := a.tasks.get(e.key.framework, u.Status.TaskID.Value); t != nil && a.hasUpdate(t, u.Status.UUID) {
			continue // checkpointed: the status update manager resends it
		}
		if err := a.executorUpdate(e, u.Status); err != nil {
			a.log.Warn("an unacknowledged update of a subscribing executor was refused", "executor_id", e.key.executor, "task_id", u.Status.TaskID.Value, "err", err)
		}
	}
	knows := map[string]bool{}
	for _, ti := range call.UnacknowledgedTasks {
		knows[ti.TaskID.Value] = true
	}
	a.execs.mu.Lock()
	var unknown, killing []*task
	for _, t := range e.tasks {
		a.tasks.mu.Lock()
		st, k := t.state, t.killing
		a.tasks.mu.Unlock()
		switch {
		case resub && st == api.TaskStaging && !knows[t.id]:
			unknown = append(unknown, t)
			delete(e.tasks, t.id)
		case k:
			killing = append(killing, t)
		}
	}
	if e.sub != nil {
		for _, t := range killing {
			e.sub.send(api.ExecutorEvent{Type: api.ExecEventKill, Kill: &api.ExecutorKill{TaskID: api.ID{Value: t.id}, KillPolicy: t.info.KillPolicy}})
		}
	}
	a.execs.mu.Unlock()
	for _, t := range unknown {
		a.log.Info("task unknown to its re-subscribed executor", "task_id", t.id, "executor_id", e.key.executor)
		a.setState(t, lostState(e.framework, api.TaskDropped), api.ReasonAgentRestarted, "Task launched during agent restart", nil)
	}
}
