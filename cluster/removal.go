package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"nodectl/cluster/api"
)

// Agent removal, Mesos style (https://mesos.apache.org/documentation/latest/agent-recovery/,
// https://mesos.apache.org/documentation/latest/high-availability-framework-guide/):
//
//   - An agent silent past its ping window, or recovered from the registry
//     and not re-registered within AgentReregisterTimeout, is scheduled to
//     be marked unreachable. Markings pass through the removal rate limiter
//     (AgentRemovalRateLimit). Each is written to the registry first
//     (unreachable_time in the agent's entry); only then do the frameworks
//     hear TASK_UNREACHABLE (TASK_LOST), reason REASON_SLAVE_REMOVED.
//     An agent that re-registers meanwhile cancels its marking; one that
//     re-registers after it is welcome back (Mesos ≥1.1).
//   - After a failover, if more than RecoveryAgentRemovalLimit of the
//     recovered agents failed to re-register, the leader marks none: it
//     logs an Error and gives up (ErrRecoveryRemovalLimit).
//   - An operator may mark an agent gone (POST /master/agents/{id}/gone):
//     its entry moves to the registry's gone list, its tasks end
//     (TASK_GONE_BY_OPERATOR, or TASK_LOST), and its id is fenced: every
//     later request naming it is refused with api.StatusAgentRemoved.

// ErrRecoveryRemovalLimit ends the leader's term (and Master.Run) when
// too many recovered agents failed to re-register after a failover.
var ErrRecoveryRemovalLimit = errors.New("post-recovery agent removal limit exceeded")

// ErrAgentGone is matched by refusals to agents an operator marked gone.
var ErrAgentGone = api.Kind(api.ErrGone, "agent removed")

// goneError is the refusal to removed agent id.
type goneError string

func agentGoneError(id string) error { return goneError(id) }

func (e goneError) Error() string     { return api.NewAgentRemoved(string(e)).Message }
func (e goneError) Is(err error) bool { return err == ErrAgentGone }

// goneRecord is a registry entry of the gone list.
type goneRecord struct {
	ID        string    `json:"id"`
	Timestamp time.Time `json:"timestamp"`
}

// removals is the leader's removal state; guarded by Master.mu.
type removals struct {
	queue    []pendingMark        // agents waiting for the rate limiter, oldest first
	nextMark time.Time            // when the rate limiter grants the next permit
	gone     map[string]time.Time // fenced agent ids → when marked gone
	// recoveryDeadline is when recovered agents that have not
	// re-registered are marked unreachable; zero once done.
	recoveryDeadline time.Time
	recoveredAgents  int // how many agents the term recovered
}

type pendingMark struct {
	id        string
	unhealthy bool // missed pings (as opposed to no re-registration)
	why       string
}

// scheduleMarkLocked queues an inactive agent for its unreachable marking.
func (m *Master) scheduleMarkLocked(a *agent, unhealthy bool, why string) {
	if a.pendingMark || a.UnreachableTime != nil {
		return
	}
	a.pendingMark = true
	m.removals.queue = append(m.removals.queue, pendingMark{id: a.Info.ID, unhealthy: unhealthy, why: why})
	m.m.unreachableScheduled.Inc()
}

// markScheduled marks the queued agents unreachable as fast as the rate
// limiter allows. An agent that re-registered meanwhile is dropped from
// the queue without using a permit. It returns ErrLostLeadership when
// another master leads; other registry errors leave the marking queued.
func (m *Master) markScheduled(ctx context.Context) error {
	for {
		m.mu.Lock()
		if !m.elected {
			m.mu.Unlock()
			return nil
		}
		rm := &m.removals
		for len(rm.queue) > 0 {
			if a := m.agents[rm.queue[0].id]; a != nil && a.pendingMark {
				break
			}
			rm.queue = rm.queue[1:]
			m.m.unreachableCanceled.Inc()
		}
		now := m.cfg.Now()
		if len(rm.queue) == 0 || (m.removalRate.Limited() && now.Before(rm.nextMark)) {
			m.mu.Unlock()
			return nil
		}
		pm := rm.queue[0]
		rm.queue = rm.queue[1:]
		if m.removalRate.Limited() {
			rm.nextMark = now.Add(m.removalRate.Interval())
		}
		m.mu.Unlock()
		if err := m.markUnreachable(ctx, pm); err != nil {
			if errors.Is(err, ErrLostLeadership) {
				return err
			}
			m.log.Warn("marking agent unreachable failed; will retry", "agent_id", pm.id, "err", err)
			m.mu.Lock()
			if m.elected {
				m.removals.queue = append([]pendingMark{pm}, m.removals.queue...)
			}
			m.mu.Unlock()
			return nil
		}
	}
}

// markUnreachable writes the agent's unreachable marking to the registry
// and then tells the frameworks about its tasks.
func (m *Master) markUnreachable(ctx context.Context, pm pendingMark) error {
	m.registrar.Lock()
	defer m.registrar.Unlock()
	m.mu.Lock()
	a := m.agents[pm.id]
	if !m.elected || a == nil || !a.pendingMark {
		if a != nil && m.elected {
			m.m.unreachableCanceled.Inc()
		}
		m.mu.Unlock()
		return nil
	}
	now := m.cfg.Now()
	rec := a.record()
	rec.UnreachableTime = &now
	wb := m.wb
	m.mu.Unlock()

	if err := wb.st.commit(ctx, []op{{kind: opPut, key: keyAgentsPrefix + pm.id, val: rec}}); err != nil {
		return fmt.Errorf("mark agent %s unreachable: %w", pm.id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected || m.wb != wb || m.agents[pm.id] != a {
		return nil
	}
	a.pendingMark, a.UnreachableTime = false, &now
	m.m.unreachableCompleted.Inc()
	m.m.removals.Inc()
	if pm.unhealthy {
		m.m.unhealthy.Inc()
	}
	m.log.Warn("agent marked unreachable", "agent_id", pm.id, "hostname", a.Info.Hostname, "tasks", len(a.tasks), "reason", pm.why)
	m.unreachableTasksLocked(a, pm.why)
	m.publishAgentRemovedLocked(pm.id)
	return nil
}

// checkRecovery ends the wait for recovered agents once
// AgentReregisterTimeout has passed since the election: those still
// missing are scheduled to be marked unreachable, unless they are more
// than RecoveryAgentRemovalLimit of the recovered agents.
func (m *Master) checkRecovery() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rm := &m.removals
	now := m.cfg.Now()
	if !m.elected || rm.recoveryDeadline.IsZero() || now.Before(rm.recoveryDeadline) {
		return nil
	}
	rm.recoveryDeadline = time.Time{}
	var missing []*agent
	for _, a := range m.sortedAgentsLocked() {
		if a.recovered {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	share := float64(len(missing)) / float64(max(rm.recoveredAgents, 1))
	if share > m.removalLimit {
		m.log.Error("post-recovery agent removal limit exceeded: giving up leadership instead of marking agents unreachable",
			"missing", len(missing), "recovered", rm.recoveredAgents, "limit", fmt.Sprintf("%g%%", m.removalLimit*100))
		return fmt.Errorf("%w: %d of %d recovered agents did not re-register within %s (limit %g%%)",
			ErrRecoveryRemovalLimit, len(missing), rm.recoveredAgents, m.cfg.AgentReregisterTimeout, m.removalLimit*100)
	}
	for _, a := range missing {
		a.recovered, a.active = false, false
		m.log.Warn("recovered agent did not re-register", "agent_id", a.Info.ID, "timeout", m.cfg.AgentReregisterTimeout)
		m.disconnectAgentLocked(a)
		m.scheduleMarkLocked(a, false, "Agent "+a.Info.Hostname+" did not re-register within "+m.cfg.AgentReregisterTimeout.String()+" after master failover")
	}
	return nil
}

// MarkGone removes an agent for good (Mesos MARK_AGENT_GONE): the
// registry moves it to the gone list, its tasks end as
// TASK_GONE_BY_OPERATOR (TASK_LOST if not partition-aware), its stream
// closes, and its id is refused from then on. Marking a gone agent again
// is a no-op.
func (m *Master) MarkGone(ctx context.Context, id string) error {
	m.registrar.Lock()
	defer m.registrar.Unlock()
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		return ErrNotLeader
	}
	if _, gone := m.removals.gone[id]; gone {
		m.mu.Unlock()
		return nil
	}
	if m.agents[id] == nil {
		m.mu.Unlock()
		return fmt.Errorf("%w %s", ErrUnknownAgent, id)
	}
	now := m.cfg.Now()
	wb := m.wb
	m.mu.Unlock()

	err := wb.st.commit(ctx, []op{
		{kind: opDelete, key: keyAgentsPrefix + id},
		{kind: opPut, key: keyGonePrefix + id, val: goneRecord{ID: id, Timestamp: now}},
		releaseLeasesOps(id), // ipam.go
	})
	if err != nil {
		return fmt.Errorf("mark agent %s gone: %w", id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected || m.wb != wb {
		return ErrNotLeader
	}
	m.removals.gone[id] = now
	m.leasesReleased(id) // ipam.go
	if a := m.agents[id]; a != nil {
		a.pendingMark = false
		m.removeAgentLocked(a, api.TaskGoneByOperator, "Agent "+a.Info.Hostname+" marked gone by an operator")
	}
	m.log.Warn("agent marked gone", "agent_id", id)
	return nil
}

// handleGone serves POST /master/agents/{id}/gone.
func (m *Master) handleGone(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := validateID(id); err != nil {
		writeError(w, http.StatusBadRequest, "agent id: "+err.Error())
		return
	}
	if err := m.MarkGone(r.Context(), id); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// restoreRemovalsLocked installs the registry's removal state when a term
// starts: the gone list, agents already unreachable (a previous leader may
// have written the marking but not all task updates), and the deadline
// for recovered agents to re-register.
func (m *Master) restoreRemovalsLocked(rec recoveredState, now time.Time) {
	m.removals = removals{gone: map[string]time.Time{}}
	for _, g := range rec.gone {
		m.removals.gone[g.ID] = g.Timestamp
	}
	var unreachable []*agent
	for _, a := range m.agents {
		switch {
		case a.UnreachableTime != nil:
			a.active, a.recovered = false, false
			unreachable = append(unreachable, a)
		case a.recovered:
			m.removals.recoveredAgents++
		}
	}
	sort.Slice(unreachable, func(i, j int) bool { return unreachable[i].Info.ID < unreachable[j].Info.ID })
	for _, a := range unreachable {
		m.unreachableTasksLocked(a, "Agent "+a.Info.Hostname+" is unreachable")
	}
	if m.removals.recoveredAgents > 0 {
		m.removals.recoveryDeadline = now.Add(m.cfg.AgentReregisterTimeout)
	}
}
