package cluster

import (
	"fmt"
	"net/url"
	"sort"
	"time"
	"unique"

	"nodectl/cluster/api"
	"nodectl/cluster/internal/alloc"
)

// maxStatuses bounds a task's status history, in memory and in etcd.
const maxStatuses = 10

// maxSeen bounds the update uuids remembered per task for de-duplication.
// The agent sends one update per task at a time, so a few suffice.
const maxSeen = 8

// taskKey names a task: task ids are unique per framework only.
type taskKey struct{ framework, task string }

func (k taskKey) less(o taskKey) bool {
	if k.framework != o.framework {
		return k.framework < o.framework
	}
	return k.task < o.task
}

func sortedTaskKeys(m map[taskKey]*task) []taskKey {
	out := make([]taskKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].less(out[j]) })
	return out
}

// task is the master's record of one task. Its state only changes
// through applyLocked, which uses api.Next (the one transition table).
type task struct {
	info        api.TaskInfo
	frameworkID string
	agentID     string
	role        string // the role its resources are allocated to
	state       api.TaskState
	// statuses is the task's history, newest last, at most maxStatuses,
	// kept compact (history.go); the newest is the one reconciliation
	// answers with (lastStatus).
	statuses []histStatus
	launched int64 // when it was launched (or adopted), in Unix nanoseconds; 0: unknown

	killGrace *api.DurationInfo // from the KILL call's kill policy
	seen      []seenUpdate      // uuids of agent updates, newest last

	killRequested bool // a KILL must reach the agent, even after it re-registers
	unreachable   bool // its agent was removed; the framework was told
	inAlloc       bool // its resources are in the allocator's used pool
	completed     bool // moved to its framework's completed tasks
}

// A task is 288 bytes, one of the allocator's size classes: with the
// launch time a time.Time (24 bytes) and its flags apart it was 312, in
// 320-byte blocks (300,000 of them at 10,000 agents).

// unixNano is t as launched keeps it: 0 for the zero time (UnixNano is
// undefined for years before 1678).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// launchedAt is when t was launched, UTC; the zero time if unknown.
func (t *task) launchedAt() time.Time {
	if t.launched == 0 {
		return time.Time{}
	}
	return time.Unix(0, t.launched).UTC()
}

// seenUpdate is an agent update already applied: a retry of it is not
// applied again, only re-delivered (or, once acknowledged, re-acknowledged).
// It is 18 bytes, kept inline: a running task has seen two or three (the
// uuid as a string, the state and the flag were 56 bytes each, with the
// uuid allocated apart).
type seenUpdate struct {
	uuid     [16]byte // the update's uuid
	terminal bool     // the update's state is terminal
	acked    bool
}

// seenKey is an update's uuid as a seenUpdate keeps it. Validation lets
// in only uuids of 16 bytes (validateStatusUpdate).
func seenKey(u []byte) [16]byte {
	var k [16]byte
	if len(u) == len(k) {
		copy(k[:], u)
	}
	return k
}

func (t *task) id() string { return t.info.TaskID.Value }

func (t *task) key() taskKey { return taskKey{t.frameworkID, t.id()} }

func (t *task) seenUUID(u []byte) *seenUpdate {
	k := seenKey(u)
	for i := range t.seen {
		if t.seen[i].uuid == k {
			return &t.seen[i]
		}
	}
	return nil
}

// shareIDsLocked makes a task read back from etcd refer to its
// framework's id and its agent's instead of copies of its own: a record
// decoded holds three (its framework, its agent and its TaskInfo's agent),
// ~140 bytes a task. Its role is interned.
func (m *Master) shareIDsLocked(t *task) {
	if fw := m.frameworks[t.frameworkID]; fw != nil {
		t.frameworkID = fw.id
	}
	if a := m.agents[t.agentID]; a != nil {
		t.agentID = a.Info.ID
	}
	if t.info.AgentID.Value == t.agentID {
		t.info.AgentID.Value = t.agentID
	}
	t.role = unique.Make(t.role).Value()
}

// taskRecord is what etcd keeps of a task.
type taskRecord struct {
	FrameworkID   string            `json:"framework_id"`
	AgentID       string            `json:"agent_id"`
	Role          string            `json:"role"`
	Info          api.TaskInfo      `json:"info"`
	State         api.TaskState     `json:"state"`
	Statuses      []api.TaskStatus  `json:"statuses,omitempty"`
	LaunchedAt    time.Time         `json:"launched_at"`
	KillRequested bool              `json:"kill_requested,omitempty"`
	KillGrace     *api.DurationInfo `json:"kill_grace,omitempty"`
	Unreachable   bool              `json:"unreachable,omitempty"`
	Completed     bool              `json:"completed,omitempty"`
}

// task is the task r describes, its history the newest maxStatuses of
// r's statuses. Its ids are r's own copies until shareIDsLocked.
func (r *taskRecord) task() *task {
	t := &task{
		info: r.Info, frameworkID: r.FrameworkID, agentID: r.AgentID, role: r.Role, state: r.State,
		launched: unixNano(r.LaunchedAt), killRequested: r.KillRequested, killGrace: r.KillGrace,
		unreachable: r.Unreachable, completed: r.Completed,
	}
	t.setHistory(r.Statuses)
	return t
}

func taskPath(framework, task string) string {
	return keyTasksPrefix + url.PathEscape(framework) + "/" + url.PathEscape(task)
}

func taskPrefix(framework string) string { return keyTasksPrefix + url.PathEscape(framework) + "/" }

// persistTaskLocked queues the task's record for etcd. The record is a
// copy: the writer marshals it later, outside the lock.
func (m *Master) persistTaskLocked(t *task) {
	if fw := m.frameworks[t.frameworkID]; fw == nil || fw.removing {
		return
	}
	m.wb.put(taskPath(t.frameworkID, t.id()), taskRecord{
		FrameworkID: t.frameworkID, AgentID: t.agentID, Role: t.role, Info: t.info, State: t.state,
		Statuses: t.history(), LaunchedAt: t.launchedAt(),
		KillRequested: t.killRequested, KillGrace: t.killGrace, Unreachable: t.unreachable, Completed: t.completed,
	})
}

// addTaskLocked makes t a live task of fw on agent a (nil when the agent
// is not known).
func (m *Master) addTaskLocked(fw *framework, a *agent, t *task) {
	t.info.Resources = m.resBags.share(t.info.Resources)
	fw.tasks[t.id()] = t
	if a != nil {
		a.tasks[t.key()] = t
		a.tasksChangedLocked()
	}
	m.live[t.state]++
	m.persistTaskLocked(t)
	m.publishTaskAddedLocked(fw, t)
}

// applyLocked moves t to state `to` by api.Next and records st (if any) in
// its history. Entering a terminal state gives its resources back to the
// allocator.
func (m *Master) applyLocked(t *task, to api.TaskState, st *api.TaskStatus) error {
	next, err := api.Next(t.state, to)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.id(), err)
	}
	prev := t.state
	t.state = next
	if st != nil {
		t.record(*st)
	}
	if prev != next {
		if !t.completed {
			m.live[prev]--
			m.live[next]++
		}
		m.m.countState(next)
		m.agents[t.agentID].tasksChangedLocked()
		if next.Terminal() {
			m.releaseLocked(t)
		}
	}
	m.persistTaskLocked(t)
	if st != nil || prev != next {
		m.publishTaskUpdatedLocked(t, st)
	}
	return nil
}

// record appends st to t's history. The history is sized to what it holds
// (a leader keeps one for each of up to 300,000 tasks: append's spare
// capacity was a quarter of it), and st is kept compact (history.go).
func (t *task) record(st api.TaskStatus) {
	n := min(len(t.statuses)+1, maxStatuses)
	h := make([]histStatus, n)
	copy(h, t.statuses[len(t.statuses)+1-n:])
	h[n-1] = compactHist(st, t.info.TaskID.Value, t.agentID)
	t.statuses = h
}

// lastStatus is the last status applied to t, for reconciliation: the
// newest of its history, or one the master makes from its state for a
// task without any (adopted from an agent, or recovered without one).
func (m *Master) lastStatus(t *task) api.TaskStatus {
	if n := len(t.statuses); n > 0 {
		return t.statuses[n-1].status(t.info.TaskID.Value, t.agentID)
	}
	return m.masterStatus(t, t.state, "", "")
}

// setStateLocked adopts a state the agent reported, without a status of
// its own (the agent's updates follow and fill in the history).
func (m *Master) setStateLocked(t *task, to api.TaskState) {
	if err := m.applyLocked(t, to, nil); err != nil {
		m.log.Warn("task state from agent refused", "task_id", t.id(), "err", err)
	}
}

// updateLocked applies a master-generated status to t and forwards it.
// A terminal one also completes the task: it needs no acknowledgement.
func (m *Master) updateLocked(fw *framework, t *task, st api.TaskStatus) {
	if err := m.applyLocked(t, st.State, &st); err != nil {
		m.log.Warn("task state change refused", "task_id", t.id(), "err", err)
		return
	}
	m.forwardLocked(fw, st)
	if st.State.Terminal() {
		m.completeLocked(fw, t)
	}
}

// releaseLocked gives a task's resources back to the allocator.
func (m *Master) releaseLocked(t *task) {
	if !t.inAlloc {
		return
	}
	t.inAlloc = false
	err := m.alloc.RecoverResources(alloc.Recovery{
		FrameworkID: t.frameworkID, AgentID: t.agentID, Role: t.role, Resources: t.info.Resources, From: alloc.Used,
	}, m.cfg.Now())
	if err != nil {
		m.log.Warn("recover task resources", "task_id", t.id(), "agent_id", t.agentID, "err", err)
	}
	m.kick()
}

// completeLocked moves t from its framework's live tasks to the completed
// ones (bounded; the oldest leave etcd too).
func (m *Master) completeLocked(fw *framework, t *task) {
	if t.completed {
		return
	}
	m.releaseLocked(t)
	m.live[t.state]--
	t.completed = true
	delete(fw.tasks, t.id())
	if a := m.agents[t.agentID]; a != nil {
		delete(a.tasks, t.key())
		a.tasksChangedLocked()
	}
	fw.addCompleted(t, m.cfg.MaxCompletedTasksPerFramework, func(old *task) {
		if !fw.removing {
			m.wb.del(taskPath(fw.id, old.id()))
		}
	})
	m.persistTaskLocked(t)
}

// adoptTaskLocked records a task a re-registering agent runs that the
// master had no record of.
func (m *Master) adoptTaskLocked(fw *framework, a *agent, rt api.AgentTask, now time.Time) *task {
	info := rt.Task
	info.Resources = info.Resources.Add(nil)
	info.AgentID = api.ID{Value: a.Info.ID}
	t := &task{info: info, frameworkID: fw.id, agentID: a.Info.ID, role: fw.roleFor(info.Resources), state: rt.State, launched: unixNano(now)}
	if !api.IsTaskState(t.state) {
		t.state = api.TaskRunning
	}
	m.addTaskLocked(fw, a, t)
	m.log.Info("task adopted from agent", "task_id", t.id(), "framework_id", fw.id, "agent_id", a.Info.ID, "state", t.state)
	return t
}

// masterStatus is a status update the master generates: no uuid, so no
// acknowledgement and no retries.
func (m *Master) masterStatus(t *task, state api.TaskState, reason, message string) api.TaskStatus {
	st := api.TaskStatus{
		TaskID: t.info.TaskID, State: state, Source: api.SourceMaster, Reason: reason, Message: message,
		Timestamp: epoch(m.cfg.Now()),
	}
	if t.agentID != "" {
		st.AgentID = &api.ID{Value: t.agentID}
	}
	return st
}

// forwardLocked delivers a status update to a connected framework. A
// disconnected one misses it; the agent re-sends until acknowledged.
func (m *Master) forwardLocked(fw *framework, st api.TaskStatus) {
	if fw == nil || fw.sink == nil {
		return
	}
	fw.sink.Send(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}})
}

// sendKillLocked queues a KILL for a task on agent a.
func (m *Master) sendKillLocked(a *agent, fw *framework, taskID string, grace *api.DurationInfo) {
	a.outbox.push(api.AgentMessage{Type: api.MsgKill, Kill: &api.KillMessage{
		FrameworkID: api.ID{Value: fw.id}, TaskID: api.ID{Value: taskID}, GracePeriod: grace,
	}})
}

// statusUpdate handles an agent's status update: it applies the task's
// latest state (de-duplicated by uuid) and forwards the update to the
// framework, whose acknowledgement goes back to the agent.
func (m *Master) statusUpdate(u api.StatusUpdate) error {
	if err := validateStatusUpdate(u); err != nil {
		m.m.invalidUpdates.Inc()
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return ErrNotLeader
	}
	if _, gone := m.removals.gone[u.AgentID.Value]; gone {
		m.m.fenced.Inc()
		return agentGoneError(u.AgentID.Value)
	}
	a := m.agents[u.AgentID.Value]
	if a == nil {
		m.m.invalidUpdates.Inc()
		return ErrUnknownAgent
	}
	st := u.Status
	if st.AgentID == nil {
		st.AgentID = &api.ID{Value: a.Info.ID}
	}
	if st.Source == "" {
		st.Source = api.SourceAgent
	}
	fw := m.frameworks[u.FrameworkID.Value]
	if fw == nil {
		// The framework is gone: nobody will acknowledge, so the master
		// does, and makes sure the task does not outlive its framework.
		m.m.invalidUpdates.Inc()
		if len(st.UUID) > 0 {
			a.outbox.push(ackMessage(u.FrameworkID, st.TaskID, st.UUID))
		}
		if !latestState(u).Terminal() {
			a.outbox.push(api.AgentMessage{Type: api.MsgShutdownFramework, ShutdownFramework: &api.ShutdownFramework{FrameworkID: u.FrameworkID}})
		}
		return nil
	}
	t := fw.tasks[st.TaskID.Value]
	if t == nil || t.agentID != a.Info.ID {
		// Unknown, or a retry of a completed task's last update whose ACK
		// the agent missed: still the framework's to acknowledge.
		if c := fw.completedTask(st.TaskID.Value); c == nil || c.agentID != a.Info.ID {
			m.m.invalidUpdates.Inc()
		}
		m.forwardLocked(fw, st)
		return nil
	}
	if len(st.UUID) > 0 {
		if s := t.seenUUID(st.UUID); s != nil {
			// A retry: not applied again, but its latest_state may have
			// moved on since (the task ended behind an update nobody has
			// acknowledged yet), and the master's view follows it.
			if ls := latestState(u); ls != t.state && !t.unreachable {
				if err := m.applyLocked(t, ls, nil); err != nil {
					m.log.Debug("latest state of a retried update refused", "task_id", t.id(), "agent_id", a.Info.ID, "err", err)
				}
			}
			// Acknowledged already: the agent missed the ACK.
			// Otherwise the framework may have missed the update.
			if s.acked {
				a.outbox.push(ackMessage(u.FrameworkID, st.TaskID, st.UUID))
			} else {
				m.forwardLocked(fw, st)
			}
			return nil
		}
		if t.seen == nil {
			t.seen = make([]seenUpdate, 0, 3) // STARTING, RUNNING and an end, in 64 bytes
		}
		t.seen = append(t.seen, seenUpdate{uuid: seenKey(st.UUID), terminal: st.State.Terminal()})
		if n := len(t.seen) - maxSeen; n > 0 {
			t.seen = append([]seenUpdate(nil), t.seen[n:]...)
		}
	}
	if t.unreachable && !fw.partitionAware() {
		if !latestState(u).Terminal() {
			// The framework was told TASK_LOST; the task must not come back.
			m.sendKillLocked(a, fw, t.id(), nil)
		}
	} else {
		t.unreachable = false
	}
	m.drainStatusLocked(a, fw, &u, &st) // drain.go
	if err := m.applyLocked(t, latestState(u), &st); err != nil {
		m.m.invalidUpdates.Inc()
		m.log.Warn("status update with an illegal transition", "task_id", t.id(), "agent_id", a.Info.ID, "err", err)
	} else {
		m.m.validUpdates.Inc()
	}
	m.forwardLocked(fw, st)
	if len(st.UUID) == 0 && t.state.Terminal() {
		m.completeLocked(fw, t)
	}
	return nil
}

// latestState is the newest state an update knows of: the master's view of
// the task follows it even while older updates are still being delivered.
func latestState(u api.StatusUpdate) api.TaskState {
	if u.LatestState != "" {
		return u.LatestState
	}
	return u.Status.State
}

func ackMessage(fw, task api.ID, uuid []byte) api.AgentMessage {
	return api.AgentMessage{Type: api.MsgAcknowledge, Acknowledge: &api.AckMessage{FrameworkID: fw, TaskID: task, UUID: uuid}}
}

// ackLocked handles a framework's acknowledgement: it is relayed to the
// agent, and a task whose terminal update is acknowledged is completed.
func (m *Master) ackLocked(fw *framework, call api.AcknowledgeCall) {
	a := m.agents[call.AgentID.Value]
	if a == nil {
		m.m.invalidAcks.Inc()
		return
	}
	if t := fw.tasks[call.TaskID.Value]; t != nil && t.agentID == a.Info.ID {
		if s := t.seenUUID(call.UUID); s != nil {
			s.acked = true
			if s.terminal && t.state.Terminal() {
				m.completeLocked(fw, t)
			}
		}
	}
	// The agent checks the uuid against the head of the task's stream; an
	// update forwarded by a previous leader is acknowledged the same way.
	m.m.validAcks.Inc()
	a.outbox.push(ackMessage(api.ID{Value: fw.id}, call.TaskID, call.UUID))
}
