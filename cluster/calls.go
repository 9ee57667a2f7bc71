package cluster

import (
	"fmt"
	"sort"

	"nodectl/cluster/api"
)

// Kill implements Scheduler. A live task is killed through its agent (now,
// or when the agent re-registers). A task the master does not know is
// killed on the agent the call names, if that agent is registered; else
// the framework hears TASK_LOST (TASK_UNKNOWN if partition-aware). A task
// that already ended gets its last state again.
func (m *Master) Kill(s Subscription, call api.KillCall) error {
	if call.TaskID.Value == "" {
		return fmt.Errorf("%w: kill.task_id is required", ErrBadCall)
	}
	if kp := call.KillPolicy; kp != nil && kp.GracePeriod != nil && kp.GracePeriod.Nanoseconds < 0 {
		return fmt.Errorf("%w: kill_policy.grace_period is negative", ErrBadCall)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	m.m.kills.Inc()
	var grace *api.DurationInfo
	if call.KillPolicy != nil {
		grace = call.KillPolicy.GracePeriod
	}
	t := fw.tasks[call.TaskID.Value]
	if t == nil {
		t = fw.completedTask(call.TaskID.Value)
	}
	switch {
	case t != nil && !t.state.Terminal() && !t.completed:
		t.killRequested, t.killGrace = true, grace
		m.persistTaskLocked(t)
		if a := m.agents[t.agentID]; a != nil {
			m.sendKillLocked(a, fw, t.id(), grace)
		}
		m.log.Info("killing task", "task_id", t.id(), "framework_id", fw.id, "agent_id", t.agentID)
	case t != nil:
		st := m.lastStatus(t)
		st.State = t.state
		m.forwardLocked(fw, st)
	default:
		if call.AgentID != nil {
			if a := m.agents[call.AgentID.Value]; a != nil && a.active && !a.recovered {
				m.sendKillLocked(a, fw, call.TaskID.Value, grace)
				return nil
			}
		}
		st := api.TaskStatus{
			TaskID: call.TaskID, State: fw.lostState(api.TaskUnknown), Source: api.SourceMaster,
			Reason: api.ReasonTaskUnknown, Message: "Attempted to kill an unknown task", AgentID: call.AgentID,
			Timestamp: epoch(m.cfg.Now()),
		}
		m.forwardLocked(fw, st)
	}
	return nil
}

// Acknowledge implements Scheduler.
func (m *Master) Acknowledge(s Subscription, call api.AcknowledgeCall) error {
	if call.AgentID.Value == "" || call.TaskID.Value == "" {
		return fmt.Errorf("%w: acknowledge needs agent_id and task_id", ErrBadCall)
	}
	if len(call.UUID) != 16 {
		return fmt.Errorf("%w: acknowledge.uuid must be 16 bytes (base64), got %d", ErrBadCall, len(call.UUID))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	m.ackLocked(fw, call)
	return nil
}

// Reconcile implements Scheduler, case by case as Mesos (https://mesos.apache.org/documentation/latest/reconciliation/). The
// answers are master-generated updates with REASON_RECONCILIATION.
func (m *Master) Reconcile(s Subscription, call api.ReconcileCall) error {
	for _, rt := range call.Tasks {
		if rt.TaskID.Value == "" {
			return fmt.Errorf("%w: reconcile task without task_id", ErrBadCall)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	now := epoch(m.cfg.Now())
	latest := func(t *task) api.TaskStatus {
		st := m.lastStatus(t)
		st.TaskID, st.State, st.Reason, st.Source = t.info.TaskID, t.state, api.ReasonReconciliation, api.SourceMaster
		st.AgentID, st.UUID, st.Timestamp = &api.ID{Value: t.agentID}, nil, now
		return st
	}
	if len(call.Tasks) == 0 {
		ids := make([]string, 0, len(fw.tasks))
		for id := range fw.tasks {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			m.forwardLocked(fw, latest(fw.tasks[id]))
		}
		return nil
	}
	for _, rt := range call.Tasks {
		if t := fw.tasks[rt.TaskID.Value]; t != nil {
			m.forwardLocked(fw, latest(t))
			continue
		}
		if t := fw.completedTask(rt.TaskID.Value); t != nil {
			m.forwardLocked(fw, latest(t))
			continue
		}
		st := api.TaskStatus{TaskID: rt.TaskID, Source: api.SourceMaster, Reason: api.ReasonReconciliation, AgentID: rt.AgentID, Timestamp: now}
		var a *agent
		gone := false
		if rt.AgentID != nil {
			a = m.agents[rt.AgentID.Value]
			_, gone = m.removals.gone[rt.AgentID.Value]
		}
		switch {
		case gone:
			st.State = fw.lostState(api.TaskGoneByOperator)
			st.Message = "Reconciliation: task is on an agent marked gone"
		case a != nil && a.recovered:
			continue // case 2: the agent may still report it
		case a != nil && a.active:
			st.State = fw.lostState(api.TaskGone)
			st.Message = "Reconciliation: task is unknown to the agent"
		case a != nil:
			st.State = fw.lostState(api.TaskUnreachable)
			st.Message = "Reconciliation: task is on an unreachable agent"
		default:
			st.State = fw.lostState(api.TaskUnknown)
			st.Message = "Reconciliation: task is unknown"
		}
		m.forwardLocked(fw, st)
	}
	return nil
}
