package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"nodectl/cluster/api"
)

// Agent draining and deactivation, as Mesos 1.9 has them
// (https://mesos.apache.org/documentation/latest/maintenance/, "Automatic
// Node Draining" and "Manual Node Draining"; the DRAIN_AGENT,
// DEACTIVATE_AGENT and REACTIVATE_AGENT calls of
// https://mesos.apache.org/documentation/latest/operator-http-api/; Mesos'
// src/master/http.cpp _drainAgent/_reactivateAgent and src/master/master.cpp
// checkAndTransitionDrainingAgent):
//
//	            DEACTIVATE_AGENT                 DRAIN_AGENT
//	active ─────────────────────▶ deactivated ──────────────▶ DRAINING ──(no task left)──▶ DRAINED
//	  ▲  ╲                                                     ▲                              │
//	  │   ╲────────────────────── DRAIN_AGENT ─────────────────┘                              │
//	  └──────────────────────────── REACTIVATE_AGENT ◀────────────────────────────────────────┘
//	                       (refused while DRAINING, as in Mesos)
//
//   - A deactivated agent (DEACTIVATE_AGENT, or any drain) gets no offers:
//     its outstanding offers are rescinded and the allocator skips it,
//     also after it re-registers or a new leader takes over.
//   - DRAIN_AGENT deactivates the agent and kills its tasks, each with its
//     kill policy's grace period capped by max_grace_period; their
//     TASK_KILLED updates carry REASON_AGENT_DRAINING. An agent that is
//     away gets the kills when it re-registers. When no task is left the
//     drain state becomes DRAINED; with mark_gone the agent is then marked
//     gone (MARK_AGENT_GONE, removal.go).
//   - Frameworks that replace their tasks themselves (FrameworkInfo label
//     LabelReplacesOnDrain, which the built-in Marathon sets) are not
//     killed by the master: they start replacements elsewhere first and
//     kill the old tasks themselves within their own rules (cluster/apps:
//     the app's upgradeStrategy), so a drain never takes more of an app
//     down than a rolling restart would. The agent stays DRAINING until
//     they have.
//   - REACTIVATE_AGENT ends a deactivation or a finished drain (DRAINED):
//     the agent is offered again.
//
// The state is one registry record per agent, written fenced before any
// effect and reloaded by a new leader.

// LabelReplacesOnDrain is the FrameworkInfo label (value "true") of a
// framework that moves its tasks off a draining agent itself: the master
// leaves them to it instead of killing them.
const LabelReplacesOnDrain = "nodectl.replaces_tasks_on_drain"

// keyDrainPrefix holds the drain records, by agent id (Mesos'
// Registry.Slave.drain_info and deactivated).
const keyDrainPrefix = "/nodectl/registry/drain/"

// Drain states (Mesos' DrainState).
const (
	DrainDraining = "DRAINING"
	DrainDrained  = "DRAINED"
)

// drainRecord is an agent's deactivation and drain state.
type drainRecord struct {
	AgentID     string     `json:"agent_id"`
	Deactivated bool       `json:"deactivated"`
	Drain       *DrainInfo `json:"drain_info,omitempty"`
}

// DrainInfo is Mesos' DrainInfo.
type DrainInfo struct {
	State  string      `json:"state"`
	Config DrainConfig `json:"config"`
}

// DrainConfig is Mesos' DrainConfig.
type DrainConfig struct {
	MaxGracePeriod *api.DurationInfo `json:"max_grace_period,omitempty"`
	MarkGone       bool              `json:"mark_gone"`
}

func (d drainRecord) clone() *drainRecord {
	if d.Drain != nil {
		di := *d.Drain
		if di.Config.MaxGracePeriod != nil {
			g := *di.Config.MaxGracePeriod
			di.Config.MaxGracePeriod = &g
		}
		d.Drain = &di
	}
	return &d
}

func (d *drainRecord) draining() bool {
	return d != nil && d.Drain != nil && d.Drain.State == DrainDraining
}

// loadDrains reads the drain records; undecodable ones are reported in
// skipped.
func loadDrains(ctx context.Context, st store) (map[string]*drainRecord, []string, error) {
	kvs, err := st.load(ctx, keyDrainPrefix)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]*drainRecord{}
	var skipped []string
	for _, x := range kvs {
		var d drainRecord
		if err := json.Unmarshal(x.val, &d); err != nil || d.AgentID == "" {
			skipped = append(skipped, x.key)
			continue
		}
		out[d.AgentID] = &d
	}
	return out, skipped, nil
}

// restoreDrainsLocked installs the drain records a new leader loaded,
// but those of agents marked gone.
func (m *Master) restoreDrainsLocked(rec recoveredState) {
	m.drains = map[string]*drainRecord{}
	for id, d := range rec.drains {
		m.drains[id] = d
	}
	for _, g := range rec.gone {
		delete(m.drains, g.ID)
	}
}

// DrainAgentRequest is a DRAIN_AGENT call's body.
type DrainAgentRequest struct {
	AgentID        string
	MaxGracePeriod *api.DurationInfo
	MarkGone       bool
}

// commitDrain writes agent id's new record (nil deletes it) fenced, then
// installs it and runs apply, under the registrar as every registry change.
func (m *Master) commitDrain(ctx context.Context, id string, check func(a *agent, cur *drainRecord) (*drainRecord, error), apply func(a *agent, rec *drainRecord)) error {
	m.registrar.Lock()
	defer m.registrar.Unlock()
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		return ErrNotLeader
	}
	if _, gone := m.removals.gone[id]; gone {
		m.mu.Unlock()
		return fmt.Errorf("%w: agent %s was marked gone", ErrBadRequest, id)
	}
	a := m.agents[id]
	if a == nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: unknown agent %s", ErrBadRequest, id)
	}
	var cur *drainRecord
	if d := m.drains[id]; d != nil {
		cur = d.clone()
	}
	rec, err := check(a, cur)
	wb := m.wb
	m.mu.Unlock()
	if err != nil {
		return err
	}
	o := op{kind: opDelete, key: keyDrainPrefix + id}
	if rec != nil {
		o = op{kind: opPut, key: keyDrainPrefix + id, val: *rec.clone()}
	}
	if err := wb.st.commit(ctx, []op{o}); err != nil {
		return fmt.Errorf("write drain state of agent %s: %w", id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected || m.wb != wb {
		return ErrNotLeader
	}
	if rec == nil {
		delete(m.drains, id)
	} else {
		m.drains[id] = rec
	}
	if a := m.agents[id]; a != nil {
		apply(a, rec)
	}
	m.kick()
	return nil
}

// DrainAgent starts draining an agent (DRAIN_AGENT). Draining an agent
// again replaces its configuration.
func (m *Master) DrainAgent(ctx context.Context, req DrainAgentRequest) error {
	if g := req.MaxGracePeriod; g != nil && g.Nanoseconds < 0 {
		return fmt.Errorf("%w: max_grace_period is negative", ErrBadRequest)
	}
	return m.commitDrain(ctx, req.AgentID, func(_ *agent, _ *drainRecord) (*drainRecord, error) {
		return &drainRecord{AgentID: req.AgentID, Deactivated: true, Drain: &DrainInfo{
			State: DrainDraining, Config: DrainConfig{MaxGracePeriod: req.MaxGracePeriod, MarkGone: req.MarkGone},
		}}, nil
	}, func(a *agent, rec *drainRecord) {
		m.deactivateLocked(a)
		killed := m.drainKillsLocked(a, rec)
		m.log.Warn("agent draining", "agent_id", a.Info.ID, "hostname", a.Info.Hostname, "tasks_killed", killed, "mark_gone", req.MarkGone)
	})
}

// DeactivateAgent stops offers from an agent (DEACTIVATE_AGENT).
func (m *Master) DeactivateAgent(ctx context.Context, id string) error {
	return m.commitDrain(ctx, id, func(_ *agent, cur *drainRecord) (*drainRecord, error) {
		if cur == nil {
			cur = &drainRecord{AgentID: id}
		}
		cur.Deactivated = true
		return cur, nil
	}, func(a *agent, _ *drainRecord) {
		m.deactivateLocked(a)
		m.log.Warn("agent deactivated", "agent_id", a.Info.ID, "hostname", a.Info.Hostname)
	})
}

// ReactivateAgent ends a deactivation or a finished drain
// (REACTIVATE_AGENT); refused for an agent still DRAINING or not
// deactivated, as in Mesos.
func (m *Master) ReactivateAgent(ctx context.Context, id string) error {
	return m.commitDrain(ctx, id, func(_ *agent, cur *drainRecord) (*drainRecord, error) {
		switch {
		case cur == nil || !cur.Deactivated:
			return nil, fmt.Errorf("%w: agent %s is not deactivated", ErrBadRequest, id)
		case cur.draining():
			return nil, fmt.Errorf("%w: agent %s is still in the DRAINING state (draining cannot be cancelled; it ends when its tasks are gone)", ErrBadRequest, id)
		}
		return nil, nil
	}, func(a *agent, _ *drainRecord) {
		if a.inAlloc {
			if err := m.alloc.ActivateAgent(a.Info.ID); err != nil {
				m.log.Warn("reactivate agent in allocator", "agent_id", a.Info.ID, "err", err)
			}
		}
		m.log.Info("agent reactivated", "agent_id", a.Info.ID, "hostname", a.Info.Hostname)
	})
}

// deactivateLocked rescinds a's offers and keeps the allocator from
// offering it.
func (m *Master) deactivateLocked(a *agent) {
	m.rescindAgentOffersLocked(a)
	if a.inAlloc {
		if err := m.alloc.DeactivateAgent(a.Info.ID); err != nil {
			m.log.Warn("deactivate agent in allocator", "agent_id", a.Info.ID, "err", err)
		}
	}
}

// drainAdmittedLocked runs when an agent (re-)enters the allocator
// (registry.go admitLocked): a deactivated one stays unoffered.
func (m *Master) drainAdmittedLocked(a *agent) {
	if d := m.drains[a.Info.ID]; d != nil && d.Deactivated {
		m.deactivateLocked(a)
	}
}

// replacesOnDrain says whether fw moves its own tasks off draining agents.
func replacesOnDrain(fw *framework) bool {
	if fw == nil || fw.info.Labels == nil {
		return false
	}
	for _, l := range fw.info.Labels.Labels {
		if l.Key == LabelReplacesOnDrain && l.Value == "true" {
			return true
		}
	}
	return false
}

// drainGrace is a task's kill grace period under a drain: its kill
// policy's, capped by max_grace_period (which also caps the agent's
// default when the task has none).
func drainGrace(t *task, limit *api.DurationInfo) *api.DurationInfo {
	var g *api.DurationInfo
	if kp := t.info.KillPolicy; kp != nil && kp.GracePeriod != nil {
		c := *kp.GracePeriod
		g = &c
	}
	if limit != nil && (g == nil || g.Nanoseconds > limit.Nanoseconds) {
		c := *limit
		g = &c
	}
	return g
}

// drainKillsLocked kills the live tasks on a draining agent that no
// framework replaces itself and that no kill was asked for yet; it
// returns how many. An agent that is away gets them when it re-registers
// (admitLocked re-sends requested kills).
func (m *Master) drainKillsLocked(a *agent, d *drainRecord) int {
	if !d.draining() {
		return 0
	}
	n := 0
	for _, k := range sortedTaskKeys(a.tasks) {
		t := a.tasks[k]
		fw := m.frameworks[t.frameworkID]
		if t.state.Terminal() || t.killRequested || fw == nil || replacesOnDrain(fw) {
			continue
		}
		grace := drainGrace(t, d.Drain.Config.MaxGracePeriod)
		t.killRequested, t.killGrace = true, grace
		m.persistTaskLocked(t)
		if a.active && !a.recovered {
			m.sendKillLocked(a, fw, t.id(), grace)
		}
		n++
	}
	return n
}

// drainStatusLocked adjusts an agent's update of a task on a draining
// agent (tasks.go statusUpdate), as Mesos' agent does for the tasks it
// kills in a drain: TASK_KILLED carries REASON_AGENT_DRAINING, and with
// mark_gone every terminal update becomes TASK_GONE_BY_OPERATOR (TASK_LOST
// for frameworks that are not partition-aware). Tasks of frameworks that
// move their own are left as they are.
func (m *Master) drainStatusLocked(a *agent, fw *framework, u *api.StatusUpdate, st *api.TaskStatus) {
	d := m.drains[a.Info.ID]
	if !d.draining() || replacesOnDrain(fw) {
		return
	}
	if st.State == api.TaskKilled {
		st.Reason = api.ReasonAgentDraining
	}
	if !d.Drain.Config.MarkGone {
		return
	}
	gone := fw.lostState(api.TaskGoneByOperator)
	if st.State.Terminal() {
		st.State = gone
	}
	if u.Status.State.Terminal() {
		u.Status.State = gone
	}
	if u.LatestState.Terminal() {
		u.LatestState = gone
	}
}

// liveTasks says whether any task on a has not ended.
func liveTasks(a *agent) bool {
	for _, t := range a.tasks {
		if !t.state.Terminal() {
			return true
		}
	}
	return false
}

// progressDrains runs with the master's timers: kills tasks of draining
// agents that still need one (a framework that stopped replacing its
// tasks itself, a task adopted on re-registration), and moves agents with
// no task left to DRAINED, marking them gone when asked.
func (m *Master) progressDrains(ctx context.Context) {
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		return
	}
	var done []string
	for _, id := range sortedStringKeys(m.drains) {
		d, a := m.drains[id], m.agents[id]
		if !d.draining() || a == nil || a.recovered {
			continue
		}
		m.drainKillsLocked(a, d)
		if !liveTasks(a) {
			done = append(done, id)
		}
	}
	m.mu.Unlock()
	for _, id := range done {
		var markGone bool
		err := m.commitDrain(ctx, id, func(a *agent, cur *drainRecord) (*drainRecord, error) {
			if !cur.draining() || liveTasks(a) {
				return nil, errNoChange
			}
			cur.Drain.State = DrainDrained
			markGone = cur.Drain.Config.MarkGone
			return cur, nil
		}, func(a *agent, _ *drainRecord) {
			m.log.Info("agent drained", "agent_id", id, "hostname", a.Info.Hostname)
		})
		switch {
		case err == errNoChange:
			continue
		case err != nil:
			m.log.Warn("agent drained; recording it failed, retried", "agent_id", id, "err", err)
			continue
		}
		if markGone {
			if err := m.MarkGone(ctx, id); err != nil {
				m.log.Warn("mark drained agent gone", "agent_id", id, "err", err)
				continue
			}
			m.forgetDrain(ctx, id)
		}
	}
}

var errNoChange = fmt.Errorf("no change")

// forgetDrain deletes the drain record of an agent marked gone (a failed
// delete is harmless: the record of a gone agent is never used, and the
// next leader drops it).
func (m *Master) forgetDrain(ctx context.Context, id string) {
	m.registrar.Lock()
	defer m.registrar.Unlock()
	m.mu.Lock()
	wb := m.wb
	ok := m.elected
	m.mu.Unlock()
	if !ok {
		return
	}
	if err := wb.st.commit(ctx, []op{{kind: opDelete, key: keyDrainPrefix + id}}); err != nil {
		m.log.Warn("forget the drain state of a gone agent", "agent_id", id, "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wb == wb {
		delete(m.drains, id)
	}
}

// DrainingAgents lists the agents frameworks should move tasks off: those
// deactivated or draining, and with maintenance those of machines in a
// started maintenance window.
func (m *Master) DrainingAgents(maintenance bool) map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	if !m.elected {
		return out
	}
	now := m.cfg.Now()
	for id, d := range m.drains {
		if d.Deactivated {
			out[id] = true
		}
	}
	for id, a := range m.agents {
		if !maintenance {
			break
		}
		if u := m.unavailabilityLocked(a); u != nil && u.Start != nil && !now.Before(time.Unix(0, u.Start.Nanoseconds)) {
			if u.Duration == nil || now.Before(time.Unix(0, u.Start.Nanoseconds+u.Duration.Nanoseconds)) {
				out[id] = true
			}
		}
	}
	return out
}

// drainJSONLocked adds Mesos' deactivated and drain_info to an agent's
// entry in /state, /slaves and GET_AGENTS.
func (m *Master) drainJSONLocked(a *agent, e map[string]any) {
	deactivated, info := m.drainInfoLocked(a)
	e["deactivated"] = deactivated
	if info != nil {
		e["drain_info"] = info
	}
}

// drainInfoLocked is Mesos' deactivated and drain_info (nil: not draining)
// of an agent.
func (m *Master) drainInfoLocked(a *agent) (deactivated bool, info map[string]any) {
	d := m.drains[a.Info.ID]
	if d != nil && d.Drain != nil {
		cfg := map[string]any{"mark_gone": d.Drain.Config.MarkGone}
		if g := d.Drain.Config.MaxGracePeriod; g != nil {
			cfg["max_grace_period"] = map[string]any{"nanoseconds": g.Nanoseconds}
		}
		info = map[string]any{"state": d.Drain.State, "config": cfg}
	}
	return d != nil && d.Deactivated, info
}
