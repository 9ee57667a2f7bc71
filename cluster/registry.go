package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/internal/alloc"
)

// ErrUnknownAgent is returned for pings and calls naming an agent the
// registry does not hold; the agent must register again.
var ErrUnknownAgent = api.Kind(api.ErrNotFound, "unknown agent")

// ErrNotLeader is returned by leader-only operations on a standby.
var ErrNotLeader = api.Kind(api.ErrUnavailable, "not the leading master")

// ErrBadRequest is wrapped by errors in an agent's message.
var ErrBadRequest = api.Kind(api.ErrInvalid, "bad request")

// agent is the master's view of one admitted agent. The persisted part
// (Info, times) lives in etcd; liveness, tasks and offers are the leader's
// memory.
//
//	recovered ──(re-)register──▶ active ──no pings for the window──▶ inactive
//	    │                          ▲  ▲                                 │
//	    │                          │  └──────────register───────────────┤ (marking cancelled)
//	    │                          │                          rate limiter, registry write
//	    │                          └──────register──── unreachable ◀────┘
//	    └──agent_reregister_timeout──▶ inactive ──▶ …
//
//	any ──operator POST /master/agents/{id}/gone──▶ gone (forgotten; its id is fenced)
//
// Only active agents are in the allocator and get offered. The frameworks
// hear of an agent's tasks only once its unreachable marking is in the
// registry.
type agent struct {
	Info             api.AgentInfo `json:"info"`
	RegisteredTime   time.Time     `json:"registered_time"`
	ReregisteredTime *time.Time    `json:"reregistered_time,omitempty"`
	// UnreachableTime is set while the registry holds the agent as
	// unreachable (Mesos registry "unreachable" list).
	UnreachableTime *time.Time `json:"unreachable_time,omitempty"`
	// Checkpointed is the agent's dynamic reservations and persistent
	// volumes (reserve.go).
	Checkpointed api.Resources `json:"checkpointed_resources,omitempty"`

	lastPing    time.Time
	active      bool // within its ping window
	recovered   bool // loaded by a new leader; has not re-registered yet
	pendingMark bool // waiting in the removal rate limiter to be marked unreachable
	inAlloc     bool
	busyPorts   []api.Range // host ports other programs hold (busyports.go)
	outbox      *outbox
	tasks       map[taskKey]*task // live tasks on this agent
	offers      map[string]*offer

	// tasksGen counts changes to tasks (a task added or removed, or its
	// state changed: tasksChangedLocked); summary is what they add up to as
	// of a count (statesummary.go).
	tasksGen uint64
	summary  *agentTasks
	resJSON  *agentResources // state.go
}

// tasksChangedLocked records that a's tasks changed (nil a: no agent).
func (a *agent) tasksChangedLocked() {
	if a != nil {
		a.tasksGen++
	}
}

func newAgentRecord(info api.AgentInfo) *agent {
	return &agent{Info: info, outbox: newOutbox(), tasks: map[taskKey]*task{}, offers: map[string]*offer{}}
}

func (a *agent) allocAgent() alloc.Agent {
	return alloc.Agent{ID: a.Info.ID, Hostname: a.Info.Hostname, Resources: withoutBusyPorts(a.totalResources(), a.busyPorts), Attributes: a.Info.Attributes}
}

// register admits a new agent or re-admits a known one and reconciles the
// tasks it reports with the master's. The registry write commits before
// the agent hears its id, as the Mesos registrar does; registrations that
// queue up while the registrar writes are written together, in one
// transaction, and admitted in their order, as the Mesos registrar applies
// the operations queued during a write in one batch
// (src/master/registrar.cpp). A new leader's thousands of re-registering
// agents otherwise waited for one etcd commit each, one after another.
// Once queued, a registration is written even if its caller has gone (the
// write is bounded by the leader's term), as a registrar operation is.
func (m *Master) register(req api.RegisterRequest) (api.RegisterResponse, error) {
	if req.Agent.ID != "" {
		if err := validateID(req.Agent.ID); err != nil {
			return api.RegisterResponse{}, fmt.Errorf("%w: agent id: %w", ErrBadRequest, err)
		}
	}
	req.Agent.Resources = req.Agent.Resources.Add(nil)
	p := &pendingRegistration{req: req, done: make(chan registration, 1)}
	m.regMu.Lock()
	m.regQueue = append(m.regQueue, p)
	m.regMu.Unlock()
	for {
		m.registrar.Lock()
		select {
		case r := <-p.done: // written by whoever held the registrar
			m.registrar.Unlock()
			return r.resp, r.err
		default:
		}
		m.regMu.Lock()
		batch := m.regQueue[:min(len(m.regQueue), maxTxnOps)]
		m.regQueue = m.regQueue[len(batch):]
		m.regMu.Unlock()
		m.registerBatch(batch)
		m.registrar.Unlock()
	}
}

// pendingRegistration is a registration waiting for the registrar.
type pendingRegistration struct {
	req  api.RegisterRequest
	done chan registration
	rec  *agent
	re   bool
}

// registration is the outcome of one.
type registration struct {
	resp api.RegisterResponse
	err  error
}

func (p *pendingRegistration) finish(resp api.RegisterResponse, err error) {
	p.done <- registration{resp, err}
}

// registerBatch decides, writes and admits batch, under the registrar. The
// write is bounded by the term (a registration's own request may end
// while the others of its batch wait for it).
func (m *Master) registerBatch(batch []*pendingRegistration) {
	now := m.cfg.Now()
	var refused []func()
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		for _, p := range batch {
			p.finish(api.RegisterResponse{}, ErrNotLeader)
		}
		return
	}
	wb, tctx := m.wb, m.termCtx
	var ops []op
	var admit []*pendingRegistration
	for _, p := range batch {
		info := p.req.Agent
		if _, gone := m.removals.gone[info.ID]; gone && info.ID != "" {
			refused = append(refused, func() {
				m.m.fenced.Inc()
				m.log.Warn("refused registration of a removed agent", "agent_id", info.ID, "hostname", info.Hostname)
			})
			p.finish(api.RegisterResponse{}, agentGoneError(info.ID))
			continue
		}
		if err := m.refuseDownLocked(info); err != nil { // maintenance.go
			refused = append(refused, func() {
				m.m.maintenanceRefusals.Inc()
				m.log.Warn("refused registration of an agent on a machine down for maintenance", "agent_id", info.ID, "hostname", info.Hostname, "ip", info.IP)
			})
			p.finish(api.RegisterResponse{}, err)
			continue
		}
		rec := &agent{Info: info, RegisteredTime: now}
		rec.Checkpointed = adoptCheckpointed(info.Resources, p.req.CheckpointedResources)
		var old *agent
		if info.ID == "" {
			rec.Info.ID = fmt.Sprintf("%s-S%d", m.info.ID, m.nextAgent)
			m.nextAgent++
		} else if old = m.agents[info.ID]; old != nil {
			p.re = true
			rec.RegisteredTime = old.RegisteredTime
			rec.ReregisteredTime = &now
			if !old.recovered {
				// This leader may have applied operations the agent has not
				// seen yet: its set wins, and is sent to the agent.
				rec.Checkpointed = old.Checkpointed
			}
		}
		p.rec = rec
		if old == nil || registryChanged(old, rec) {
			ops = append(ops, op{kind: opPut, key: keyAgentsPrefix + rec.Info.ID, val: rec})
		}
		admit = append(admit, p)
	}
	m.mu.Unlock()
	for _, f := range refused {
		f()
	}
	if len(admit) == 0 {
		return
	}
	if len(ops) > 0 {
		if err := wb.st.commit(tctx, ops); err != nil {
			for _, p := range admit {
				p.finish(api.RegisterResponse{}, fmt.Errorf("store agent %s: %w", p.rec.Info.ID, err))
			}
			return
		}
	}
	m.mu.Lock()
	if !m.elected || m.wb != wb {
		m.mu.Unlock()
		for _, p := range admit {
			p.finish(api.RegisterResponse{}, ErrNotLeader)
		}
		return
	}
	admitted := make([]*agent, len(admit))
	for i, p := range admit {
		info := p.req.Agent
		if info.ID == "" {
			// An agent that lost its id comes back as a new one: whatever ran
			// under the old id at the same address is gone.
			for _, old := range m.agentsAtLocked(addrOf(info)) {
				m.removeAgentLocked(old, api.TaskGone, "Agent "+old.Info.Hostname+" re-registered as a new agent")
			}
		}
		admitted[i] = m.admitLocked(p.rec, p.req, now)
		m.publishAgentAddedLocked(admitted[i])
	}
	m.mu.Unlock()
	m.kick()
	for i, p := range admit {
		a, info := admitted[i], p.req.Agent
		if p.re {
			m.m.reregistrations.Inc()
			m.log.Info("agent re-registered", "agent_id", a.Info.ID, "hostname", info.Hostname, "tasks", len(p.req.Tasks))
		} else {
			m.m.registrations.Inc()
			m.log.Info("agent registered", "agent_id", a.Info.ID, "hostname", info.Hostname, "resources", info.Resources.String())
		}
		p.finish(api.RegisterResponse{
			AgentID:             a.Info.ID,
			MasterID:            m.info.ID,
			PingIntervalSeconds: m.cfg.AgentPingTimeout.Seconds(),
		}, nil)
	}
}

// registryChanged reports whether re-admitting an agent as rec changes
// what the registry holds of it (old): its info, its first registration,
// its unreachable marking (which a re-registration lifts) or its
// checkpointed resources. The time of the re-registration itself is not
// a reason to write: every agent re-registers with a new leader, which
// would otherwise write 10,000 records to admit 10,000 agents it already
// holds, and the agents wait for that write. Mesos' registrar likewise
// has no operation for an admitted agent that re-registers unchanged
// (src/master/master.cpp, Master::reregisterSlave; an UpdateSlave
// operation when its info changed). The record in etcd then keeps the
// previous re-registration's time, which a new leader replaces with its
// own when the agent re-registers with it.
func registryChanged(old, rec *agent) bool {
	view := func(a *agent) []byte {
		b, err := json.Marshal(struct {
			Info            api.AgentInfo `json:"info"`
			RegisteredTime  time.Time     `json:"registered_time"`
			UnreachableTime *time.Time    `json:"unreachable_time,omitempty"`
			Checkpointed    api.Resources `json:"checkpointed_resources,omitempty"`
		}{a.Info, a.RegisteredTime, a.UnreachableTime, a.Checkpointed})
		if err != nil {
			return nil // compares unequal to a record that encodes: written
		}
		return b
	}
	o, n := view(old), view(rec)
	return o == nil || !bytes.Equal(o, n)
}

// admitLocked installs rec as the live record of its agent, reconciles the
// tasks req reports (https://mesos.apache.org/documentation/latest/agent-recovery/) and puts the agent in the allocator with
// what its tasks use. The agent's message queue starts afresh with the
// messages reconciliation calls for: kills requested while it was away,
// kills of tasks the master has finished with, and shutdowns of
// frameworks that are gone.
func (m *Master) admitLocked(rec *agent, req api.RegisterRequest, now time.Time) *agent {
	id := rec.Info.ID
	a := m.agents[id]
	if a == nil {
		a = newAgentRecord(rec.Info)
		m.agents[id] = a
	} else {
		m.unindexAgentLocked(a) // its address may have changed
	}
	a.Info, a.RegisteredTime, a.ReregisteredTime, a.Checkpointed = rec.Info, rec.RegisteredTime, rec.ReregisteredTime, rec.Checkpointed
	m.indexAgentLocked(a)
	a.busyPorts = req.BusyPorts
	if a.UnreachableTime != nil {
		m.log.Info("unreachable agent is back", "agent_id", id, "unreachable_for", now.Sub(*a.UnreachableTime).Round(time.Millisecond))
	}
	a.lastPing, a.active, a.recovered, a.pendingMark, a.UnreachableTime = now, true, false, false, nil
	m.rescindAgentOffersLocked(a)
	if a.inAlloc {
		_ = m.alloc.RemoveAgent(id)
		a.inAlloc = false
		for _, t := range a.tasks {
			t.inAlloc = false
		}
	}
	a.outbox.close()
	a.outbox = newOutbox()
	if !req.CheckpointedResources.Equal(a.Checkpointed) {
		m.sendCheckpointLocked(a)
	}

	reported := map[taskKey]api.AgentTask{}
	for _, rt := range req.Tasks {
		if rt.FrameworkID.Value == "" || rt.Task.TaskID.Value == "" {
			continue
		}
		reported[taskKey{rt.FrameworkID.Value, rt.Task.TaskID.Value}] = rt
	}
	// Tasks the master knows on this agent that the agent does not.
	for _, k := range sortedTaskKeys(a.tasks) {
		t := a.tasks[k]
		if _, ok := reported[k]; ok || t.state.Terminal() {
			continue
		}
		fw := m.frameworks[t.frameworkID]
		if fw == nil {
			continue
		}
		m.updateLocked(fw, t, m.masterStatus(t, fw.lostState(api.TaskDropped), api.ReasonReconciliation, "Task is unknown to the agent"))
		m.completeLocked(fw, t)
	}
	shutdown := map[string]bool{}
	var used []alloc.Allocation
	keys := make([]taskKey, 0, len(reported))
	for k := range reported {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	for _, k := range keys {
		rt := reported[k]
		fw := m.frameworks[k.framework]
		if fw == nil {
			// Torn down (or never known): the agent must stop its tasks.
			if !shutdown[k.framework] && !rt.State.Terminal() {
				shutdown[k.framework] = true
				a.outbox.push(api.AgentMessage{Type: api.MsgShutdownFramework, ShutdownFramework: &api.ShutdownFramework{FrameworkID: rt.FrameworkID}})
			}
			continue
		}
		t := fw.tasks[k.task]
		switch {
		case t == nil && fw.completedTask(k.task) != nil:
			if !rt.State.Terminal() {
				m.sendKillLocked(a, fw, k.task, nil)
			}
			continue
		case t == nil && req.Agent.ID == "":
			// A new agent runs nothing the master may adopt: it would
			// be a task of a removed (fenced) agent coming back.
			if !rt.State.Terminal() {
				m.sendKillLocked(a, fw, k.task, nil)
			}
			continue
		case t == nil:
			// The master lost its record (a write that did not land
			// before a failover): adopt the task, as Mesos rebuilds its
			// view from re-registering agents.
			t = m.adoptTaskLocked(fw, a, rt, now)
		case t.agentID != id:
			m.sendKillLocked(a, fw, k.task, nil)
			continue
		}
		if rt.State.Terminal() {
			continue // its terminal update is on its way
		}
		switch {
		case t.state.Terminal():
			m.sendKillLocked(a, fw, t.id(), nil)
		case t.unreachable && !fw.partitionAware():
			// The framework was told TASK_LOST and has moved on.
			m.sendKillLocked(a, fw, t.id(), nil)
		case t.killRequested:
			m.sendKillLocked(a, fw, t.id(), t.killGrace)
		}
		switch {
		case t.unreachable && !fw.partitionAware():
			// Stays TASK_LOST until the agent reports the kill.
		case t.unreachable && rt.State != t.state:
			if _, err := api.Next(t.state, rt.State); err == nil {
				st := m.masterStatus(t, rt.State, api.ReasonReconciliation, "Agent re-registered")
				m.updateLocked(fw, t, st)
			}
		case rt.State != t.state && !t.state.Terminal():
			// The agent's view is newer; its own updates follow in order.
			if _, err := api.Next(t.state, rt.State); err == nil {
				m.setStateLocked(t, rt.State)
			}
		}
		if fw.partitionAware() {
			t.unreachable = false
		}
		if !t.state.Terminal() {
			t.inAlloc = true
			used = append(used, alloc.Allocation{FrameworkID: fw.id, Role: t.role, Resources: t.info.Resources})
		}
	}
	if err := m.alloc.AddAgent(a.allocAgent(), used); err != nil {
		// Only a programming error gets here (roles are validated).
		m.log.Error("add agent to allocator", "agent_id", id, "err", err)
		for _, t := range a.tasks {
			t.inAlloc = false
		}
		return a
	}
	a.inAlloc = true
	m.drainAdmittedLocked(a) // drain.go
	return a
}

// ping records an agent's liveness. An agent the master does not count as
// registered (unknown, recovered after a failover, or removed for missing
// pings) is told to register again, which reconciles its tasks.
func (m *Master) ping(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return ErrNotLeader
	}
	if _, gone := m.removals.gone[id]; gone {
		m.m.fenced.Inc()
		return agentGoneError(id)
	}
	a, ok := m.agents[id]
	if !ok || a.recovered || !a.active {
		return ErrUnknownAgent
	}
	a.lastPing = m.cfg.Now()
	return nil
}

// checkLiveness marks agents inactive whose pings stopped for longer than
// AgentPingTimeout × MaxAgentPingTimeouts: their offers are rescinded,
// they leave the allocator, and they are scheduled to be marked
// unreachable (markScheduled). Recovered agents are left to the
// re-register timeout (checkRecovery), as Mesos does.
func (m *Master) checkLiveness() {
	window := m.cfg.AgentPingTimeout * time.Duration(m.cfg.MaxAgentPingTimeouts)
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return
	}
	var silent []*agent
	for _, a := range m.agents {
		if a.active && !a.recovered && now.Sub(a.lastPing) > window {
			silent = append(silent, a)
		}
	}
	sort.Slice(silent, func(i, j int) bool { return silent[i].Info.ID < silent[j].Info.ID })
	for _, a := range silent {
		a.active = false
		m.log.Warn("agent inactive: no ping", "agent_id", a.Info.ID, "silent_for", now.Sub(a.lastPing).Round(time.Millisecond))
		m.disconnectAgentLocked(a)
		m.scheduleMarkLocked(a, true, "Agent "+a.Info.Hostname+" removed: health check timed out")
	}
}

// disconnectAgentLocked rescinds an agent's offers and takes it out of
// the allocator.
func (m *Master) disconnectAgentLocked(a *agent) {
	m.rescindAgentOffersLocked(a)
	if a.inAlloc {
		if err := m.alloc.RemoveAgent(a.Info.ID); err != nil {
			m.log.Warn("remove agent from allocator", "agent_id", a.Info.ID, "err", err)
		}
		a.inAlloc = false
	}
	for _, t := range a.tasks {
		t.inAlloc = false
	}
	m.kick()
}

// unreachableTasksLocked tells the frameworks an agent's tasks are
// unreachable (TASK_LOST if not partition-aware): the agent's unreachable
// marking is in the registry.
func (m *Master) unreachableTasksLocked(a *agent, why string) {
	m.disconnectAgentLocked(a)
	for _, k := range sortedTaskKeys(a.tasks) {
		t := a.tasks[k]
		t.inAlloc = false
		if t.state.Terminal() || t.unreachable {
			continue
		}
		t.unreachable = true
		fw := m.frameworks[t.frameworkID]
		m.updateLocked(fw, t, m.masterStatus(t, fw.lostState(api.TaskUnreachable), api.ReasonAgentRemoved, why))
	}
	m.kick()
}

// removeAgentLocked forgets an agent for good (it came back under a new
// id, or an operator marked it gone): its tasks end in state `precise`
// (TASK_LOST for frameworks that are not partition-aware).
func (m *Master) removeAgentLocked(a *agent, precise api.TaskState, why string) {
	m.rescindAgentOffersLocked(a)
	if a.inAlloc {
		if err := m.alloc.RemoveAgent(a.Info.ID); err != nil {
			m.log.Warn("remove agent from allocator", "agent_id", a.Info.ID, "err", err)
		}
		a.inAlloc = false
	}
	for _, k := range sortedTaskKeys(a.tasks) {
		t := a.tasks[k]
		t.inAlloc = false
		fw := m.frameworks[t.frameworkID]
		if fw == nil {
			continue
		}
		if !t.state.Terminal() {
			m.updateLocked(fw, t, m.masterStatus(t, fw.lostState(precise), api.ReasonAgentRemoved, why))
		}
		m.completeLocked(fw, t)
	}
	a.outbox.close()
	delete(m.agents, a.Info.ID)
	m.unindexAgentLocked(a)
	m.publishAgentRemovedLocked(a.Info.ID)
	m.wb.del(keyAgentsPrefix + a.Info.ID)
	m.m.removals.Inc()
	m.log.Info("agent removed", "agent_id", a.Info.ID, "reason", why)
	m.kick()
}

// agentAddr is where an agent runs: its hostname, IP and port.
type agentAddr struct {
	hostname, ip string
	port         int
}

func addrOf(info api.AgentInfo) agentAddr {
	return agentAddr{hostname: info.Hostname, ip: info.IP, port: info.Port}
}

// indexAgentLocked files a in m.byAddr under its address, which a new
// agent registering there looks up: a lookup over every agent for each
// registration made registering n agents one at a time cost n² (and a
// sort of every agent each time, n² log n: 23 s of CPU for 10,000).
func (m *Master) indexAgentLocked(a *agent) {
	if m.byAddr == nil {
		m.byAddr = map[agentAddr][]*agent{}
	}
	k := addrOf(a.Info)
	m.byAddr[k] = append(m.byAddr[k], a)
}

// unindexAgentLocked takes a out of m.byAddr.
func (m *Master) unindexAgentLocked(a *agent) {
	k := addrOf(a.Info)
	rest := slices.DeleteFunc(m.byAddr[k], func(b *agent) bool { return b == a })
	if len(rest) == 0 {
		delete(m.byAddr, k)
	} else {
		m.byAddr[k] = rest
	}
}

// agentsAtLocked returns the agents registered at addr, ordered by id (a
// copy: the caller may remove them).
func (m *Master) agentsAtLocked(addr agentAddr) []*agent {
	out := slices.Clone(m.byAddr[addr])
	slices.SortFunc(out, func(a, b *agent) int { return strings.Compare(a.Info.ID, b.Info.ID) })
	return out
}

// sortedAgentsLocked returns the agents ordered by id.
func (m *Master) sortedAgentsLocked() []*agent {
	out := make([]*agent, 0, len(m.agents))
	for _, a := range m.agents {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.ID < out[j].Info.ID })
	return out
}
