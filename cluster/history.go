package cluster

import (
	"unique"

	"nodectl/cluster/api"
)

// A task's status history as the master keeps it. A leader holds one for
// each of its tasks (300,000 at 10,000 agents), and an api.TaskStatus is
// 176 bytes with its UUID and agent id allocated beside it: three statuses
// of a running task (STAGING, STARTING, RUNNING) were ~170 MB of a 10,000
// agent leader's live heap (make bench-scale, a heap profile). histStatus
// keeps what every status has inline — its timestamp and a 16-byte UUID —
// and its state, source, reason and message as one handle to an interned
// histKind (a few distinct ones among all tasks: "TASK_RUNNING from the
// agent, no reason, no message"), and does not repeat the task's own id
// and agent id; the fields few statuses have (an executor, a container
// status, health, an exit code, check results) are in an extra allocated
// only for those that have any. A histStatus is 48 bytes: a running
// task's three are 144 (312 with the four strings inline, 528 as
// api.TaskStatus values).

// histStatus is one status of a task's history (see above): status gives
// the api.TaskStatus back, equal to the one recorded.
type histStatus struct {
	timestamp float64
	kind      unique.Handle[histKind]
	uuid      [16]byte // when flags has histUUID
	flags     uint8
	extra     *statusExtra
}

// histKind is what statuses of many tasks have in common, interned
// (unique.Make: one copy while any status refers to it).
type histKind struct {
	state                   api.TaskState
	source, reason, message string
}

func (h *histStatus) state() api.TaskState { return h.kind.Value().state }

// histStatus flags.
const (
	histUUID    = 1 << iota // uuid holds the status' 16-byte UUID
	histAgentID             // the status names the task's agent
)

// statusExtra is what a histStatus keeps of the fields few statuses have.
type statusExtra struct {
	taskID     *api.ID // a task id other than the task's own
	agentID    *api.ID // an agent id other than the task's
	uuid       []byte  // a UUID of another length than 16 (or empty)
	executorID *api.ID
	healthy    *bool
	container  *api.ContainerStatus
	exitCode   *int
	checks     []api.CheckResult
}

// compactHist is st as a histStatus of the task with taskID and agentID.
func compactHist(st api.TaskStatus, taskID, agentID string) histStatus {
	h := histStatus{
		timestamp: st.Timestamp,
		kind:      unique.Make(histKind{state: st.State, source: st.Source, reason: st.Reason, message: st.Message}),
	}
	var x statusExtra
	rare := false
	if st.TaskID.Value != taskID {
		x.taskID, rare = &api.ID{Value: st.TaskID.Value}, true
	}
	switch {
	case st.AgentID == nil:
	case agentID != "" && st.AgentID.Value == agentID:
		h.flags |= histAgentID
	default:
		x.agentID, rare = &api.ID{Value: st.AgentID.Value}, true
	}
	switch {
	case st.UUID == nil:
	case len(st.UUID) == len(h.uuid):
		copy(h.uuid[:], st.UUID)
		h.flags |= histUUID
	default:
		x.uuid, rare = st.UUID, true
	}
	if st.ExecutorID != nil || st.Healthy != nil || st.ContainerStatus != nil || st.ExitCode != nil || st.HealthChecks != nil {
		x.executorID, x.healthy, x.container, x.exitCode, x.checks = st.ExecutorID, st.Healthy, st.ContainerStatus, st.ExitCode, st.HealthChecks
		rare = true
	}
	if rare {
		h.extra = &x
	}
	return h
}

// status is h as the api.TaskStatus it was made from (compactHist) for
// the task with taskID and agentID.
func (h *histStatus) status(taskID, agentID string) api.TaskStatus {
	k := h.kind.Value()
	st := api.TaskStatus{
		TaskID: api.ID{Value: taskID}, State: k.state, Message: k.message, Source: k.source, Reason: k.reason,
		Timestamp: h.timestamp,
	}
	if h.flags&histAgentID != 0 {
		st.AgentID = &api.ID{Value: agentID}
	}
	if h.flags&histUUID != 0 {
		st.UUID = append([]byte(nil), h.uuid[:]...)
	}
	if x := h.extra; x != nil {
		if x.taskID != nil {
			st.TaskID = *x.taskID
		}
		if x.agentID != nil {
			st.AgentID = &api.ID{Value: x.agentID.Value}
		}
		if x.uuid != nil {
			st.UUID = x.uuid
		}
		st.ExecutorID, st.Healthy, st.ContainerStatus, st.ExitCode, st.HealthChecks = x.executorID, x.healthy, x.container, x.exitCode, x.checks
	}
	return st
}

// history is t's statuses, oldest first, as api.TaskStatus values (a
// new slice: the caller may keep it).
func (t *task) history() []api.TaskStatus {
	if len(t.statuses) == 0 {
		return nil
	}
	out := make([]api.TaskStatus, len(t.statuses))
	for i := range t.statuses {
		out[i] = t.statuses[i].status(t.info.TaskID.Value, t.agentID)
	}
	return out
}

// setHistory replaces t's history with sts (the newest maxStatuses).
func (t *task) setHistory(sts []api.TaskStatus) {
	if n := len(sts) - maxStatuses; n > 0 {
		sts = sts[n:]
	}
	if len(sts) == 0 {
		t.statuses = nil
		return
	}
	t.statuses = make([]histStatus, len(sts))
	for i, st := range sts {
		t.statuses[i] = compactHist(st, t.info.TaskID.Value, t.agentID)
	}
}
