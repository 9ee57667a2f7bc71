package cluster

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"time"

	"github.com/google/uuid"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
	"nodectl/cluster/internal/alloc"
)

// maxFailoverTimeout caps FrameworkInfo.failover_timeout so it fits a
// time.Duration (Mesos refuses what does not fit its Duration either).
const maxFailoverTimeout = 100 * 365 * 24 * time.Hour

// framework is the master's record of one framework.
//
//	subscribed (connected) ──stream ends──▶ disconnected ──failover_timeout──▶ removed
//	        ▲                                    │
//	        └──────────re-SUBSCRIBE──────────────┘        TEARDOWN: any ──▶ removed
//
// A framework recovered by a new leader starts disconnected.
type framework struct {
	id               string
	info             api.FrameworkInfo // ID always set
	registeredTime   time.Time
	reregisteredTime *time.Time
	unregisteredTime *time.Time
	recovered        bool // loaded by a new leader, not re-subscribed yet

	sink            Sink // nil while disconnected
	streamID        string
	failoverAt      time.Time // when a disconnected framework is torn down
	suppressedRoles []string
	removing        bool            // being torn down: no more per-task writes
	authz           *auth.Principal // the HTTP scheduler's principal; nil inside the master or until it re-subscribes

	tasks        map[string]*task
	completed    []*task // newest last
	completedIdx map[string]*task
	offers       map[string]*offer
	operations   map[string]*frameworkOperation // operation feedback (opfeedback.go); nil until one
}

func newFramework(info api.FrameworkInfo, now time.Time) *framework {
	return &framework{
		id: info.ID.Value, info: info, registeredTime: now,
		tasks: map[string]*task{}, completedIdx: map[string]*task{}, offers: map[string]*offer{},
	}
}

func (fw *framework) connected() bool { return fw.sink != nil }

func (fw *framework) partitionAware() bool {
	return fw != nil && fw.info.HasCapability(api.CapabilityPartitionAware)
}

// lostState is the state a framework is told for a task in a partition:
// partition-aware frameworks get the precise one, others TASK_LOST.
func (fw *framework) lostState(precise api.TaskState) api.TaskState {
	if fw.partitionAware() {
		return precise
	}
	return api.TaskLost
}

// roleFor guesses the allocation role of resources a framework already
// uses (a task adopted from an agent; api.FrameworkInfo.RoleFor).
func (fw *framework) roleFor(rs api.Resources) string { return fw.info.RoleFor(rs) }

func (fw *framework) completedTask(id string) *task { return fw.completedIdx[id] }

// addCompleted appends t to the completed tasks, evicting the oldest
// beyond limit. The backing array is compacted only once the evicted
// prefix outgrows the kept part, so eviction costs O(1) amortised.
func (fw *framework) addCompleted(t *task, limit int, evicted func(*task)) {
	fw.completed = append(fw.completed, t)
	fw.completedIdx[t.id()] = t
	if n := len(fw.completed) - limit; n > 0 {
		for _, old := range fw.completed[:n] {
			if fw.completedIdx[old.id()] == old {
				delete(fw.completedIdx, old.id())
			}
			evicted(old)
		}
		clear(fw.completed[:n])
		fw.completed = fw.completed[n:]
		if cap(fw.completed) > 2*limit+16 {
			fw.completed = append(make([]*task, 0, limit+limit/2), fw.completed...)
		}
	}
}

func (fw *framework) failoverTimeout() time.Duration {
	return time.Duration(min(fw.info.FailoverTimeout*float64(time.Second), float64(maxFailoverTimeout)))
}

func (fw *framework) allocFramework() alloc.Framework {
	caps := make([]string, len(fw.info.Capabilities))
	for i, c := range fw.info.Capabilities {
		caps[i] = c.Type
	}
	return alloc.Framework{ID: fw.id, Roles: fw.info.AllRoles(), Checkpoint: fw.info.Checkpoint, Capabilities: caps, SuppressedRoles: fw.suppressedRoles}
}

// frameworkRecord is what etcd keeps of a framework.
type frameworkRecord struct {
	Info             api.FrameworkInfo `json:"info"`
	RegisteredTime   time.Time         `json:"registered_time"`
	ReregisteredTime *time.Time        `json:"reregistered_time,omitempty"`
}

func frameworkPath(id string) string { return keyFrameworksPrefix + url.PathEscape(id) }

func (m *Master) persistFrameworkLocked(fw *framework) {
	m.wb.put(frameworkPath(fw.id), frameworkRecord{Info: fw.info, RegisteredTime: fw.registeredTime, ReregisteredTime: fw.reregisteredTime})
}

// validateFrameworkInfo checks a SUBSCRIBE's FrameworkInfo (Mesos
// validation of FrameworkInfo, the parts nodectl uses).
func validateFrameworkInfo(info api.FrameworkInfo) error {
	if info.Name == "" {
		return fmt.Errorf("%w: framework_info.name is required", ErrBadCall)
	}
	if info.ID != nil {
		if err := validateID(info.ID.Value); err != nil {
			return fmt.Errorf("%w: framework_info.id: %w", ErrBadCall, err)
		}
	}
	ft := info.FailoverTimeout
	if math.IsNaN(ft) || math.IsInf(ft, 0) || ft < 0 {
		return fmt.Errorf("%w: framework_info.failover_timeout %v must be a non-negative number of seconds", ErrBadCall, ft)
	}
	if len(info.Roles) > 0 && !info.HasCapability(api.CapabilityMultiRole) {
		return fmt.Errorf("%w: framework_info.roles needs the MULTI_ROLE capability (or use role)", ErrBadCall)
	}
	if len(info.Roles) > 0 && info.Role != "" {
		return fmt.Errorf("%w: framework_info.role and roles are mutually exclusive", ErrBadCall)
	}
	seen := map[string]bool{}
	for _, r := range info.AllRoles() {
		if err := api.ValidateRole(r); err != nil {
			return fmt.Errorf("%w: framework_info roles: %w", ErrBadCall, err)
		}
		if seen[r] {
			return fmt.Errorf("%w: framework_info.roles lists %q twice", ErrBadCall, r)
		}
		seen[r] = true
	}
	return nil
}

// Subscribe implements Scheduler.
func (m *Master) Subscribe(req SubscribeRequest) (Subscription, error) {
	if req.Sink == nil {
		return Subscription{}, fmt.Errorf("%w: no event sink", ErrBadCall)
	}
	if err := validateFrameworkInfo(req.Info); err != nil {
		return Subscription{}, err
	}
	roles := req.Info.AllRoles()
	if err := m.checkFrameworkRoles(roles); err != nil { // quota.go
		return Subscription{}, err
	}
	for _, r := range req.SuppressedRoles {
		if !contains(roles, r) {
			return Subscription{}, fmt.Errorf("%w: suppressed role %q is not one of the framework's roles", ErrBadCall, r)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return Subscription{}, ErrNotLeader
	}
	now := m.cfg.Now()
	info := req.Info
	var fw *framework
	failover := false
	if info.ID != nil && info.ID.Value != "" {
		if m.completedFrameworkLocked(info.ID.Value) != nil {
			return Subscription{}, fmt.Errorf("%w: %s", ErrFrameworkRemoved, info.ID.Value)
		}
		fw = m.frameworks[info.ID.Value]
	} else {
		info.ID = &api.ID{Value: fmt.Sprintf("%s-%04d", m.info.ID, m.nextFw)}
		m.nextFw++
	}
	if fw == nil {
		fw = newFramework(info, now)
		fw.suppressedRoles = append([]string(nil), req.SuppressedRoles...)
		fw.authz = req.Authz
		if err := m.alloc.AddFramework(fw.allocFramework()); err != nil {
			return Subscription{}, fmt.Errorf("%w: %w", ErrBadCall, err)
		}
		m.frameworks[fw.id] = fw
	} else {
		failover = true
		if fw.sink != nil {
			fw.sink.Send(api.Event{Type: api.EventError, Error: &api.ErrorEvent{Message: "Framework failed over"}})
			fw.sink.Close()
			fw.sink = nil
		}
		// The new scheduler does not know the old one's offers.
		m.rescindFrameworkOffersLocked(fw)
		fw.info = info
		fw.authz = req.Authz
		fw.suppressedRoles = append([]string(nil), req.SuppressedRoles...)
		if err := m.alloc.UpdateFramework(fw.allocFramework()); err != nil {
			return Subscription{}, fmt.Errorf("%w: %w", ErrBadCall, err)
		}
		if err := m.alloc.ActivateFramework(fw.id); err != nil {
			m.log.Warn("activate framework", "framework_id", fw.id, "err", err)
		}
		fw.reregisteredTime = &now
		fw.recovered = false
	}
	fw.sink = req.Sink
	fw.streamID = uuid.NewString()
	fw.failoverAt = time.Time{}
	leader := m.info.Mesos()
	fw.sink.Send(api.Event{Type: api.EventSubscribed, Subscribed: &api.SubscribedEvent{
		FrameworkID: *fw.info.ID, HeartbeatIntervalSeconds: m.cfg.HeartbeatInterval.Seconds(), MasterInfo: &leader,
	}})
	m.persistFrameworkLocked(fw)
	m.publishFrameworkLocked(fw, !failover)
	m.kick()
	if failover {
		m.log.Info("framework re-subscribed", "framework_id", fw.id, "name", fw.info.Name)
	} else {
		m.log.Info("framework subscribed", "framework_id", fw.id, "name", fw.info.Name, "roles", fw.info.AllRoles())
	}
	return Subscription{FrameworkID: fw.id, StreamID: fw.streamID}, nil
}

// Unsubscribe implements Scheduler.
func (m *Master) Unsubscribe(s Subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return
	}
	fw := m.frameworks[s.FrameworkID]
	if fw == nil || fw.streamID != s.StreamID || fw.sink == nil {
		return
	}
	m.disconnectLocked(fw, m.cfg.Now())
}

// disconnectLocked: the framework's stream is gone. Its offers are
// rescinded; it has failover_timeout to come back.
func (m *Master) disconnectLocked(fw *framework, now time.Time) {
	fw.sink.Close()
	fw.sink = nil
	m.rescindFrameworkOffersLocked(fw)
	if err := m.alloc.DeactivateFramework(fw.id); err != nil {
		m.log.Warn("deactivate framework", "framework_id", fw.id, "err", err)
	}
	fw.failoverAt = now.Add(fw.failoverTimeout())
	m.publishFrameworkLocked(fw, false)
	m.log.Info("framework disconnected", "framework_id", fw.id, "failover_timeout", fw.failoverTimeout())
	if fw.failoverTimeout() == 0 {
		m.teardownLocked(fw, now, "failover timeout 0")
	}
}

// expireFrameworksLocked tears down disconnected frameworks whose
// failover timeout has passed.
func (m *Master) expireFrameworksLocked(now time.Time) {
	for _, fw := range m.sortedFrameworksLocked() {
		if fw.sink == nil && !fw.failoverAt.IsZero() && !now.Before(fw.failoverAt) {
			m.teardownLocked(fw, now, "failover timeout expired")
		}
	}
}

// Teardown implements Scheduler.
func (m *Master) Teardown(s Subscription) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	m.teardownLocked(fw, m.cfg.Now(), "TEARDOWN call")
	return nil
}

// TeardownFramework is the operator's /master/teardown.
func (m *Master) TeardownFramework(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return ErrNotLeader
	}
	fw := m.frameworks[id]
	if fw == nil {
		return fmt.Errorf("%w: no framework found with id %q", ErrBadCall, id)
	}
	m.teardownLocked(fw, m.cfg.Now(), "operator teardown")
	return nil
}

// teardownLocked removes a framework: its tasks are killed (the agents get
// SHUTDOWN_FRAMEWORK and the tasks TASK_KILLED with
// REASON_FRAMEWORK_REMOVED), its offers rescinded, its resources
// recovered and its records deleted.
func (m *Master) teardownLocked(fw *framework, now time.Time, why string) {
	fw.removing = true
	if fw.sink != nil {
		fw.sink.Close()
		fw.sink = nil
	}
	m.rescindFrameworkOffersLocked(fw)
	agents := map[string]bool{}
	ids := make([]string, 0, len(fw.tasks))
	for id := range fw.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := fw.tasks[id]
		t.inAlloc = false // RemoveFramework recovers everything at once
		if !t.state.Terminal() {
			agents[t.agentID] = true
			_ = m.applyLocked(t, api.TaskKilled, ptr(m.masterStatus(t, api.TaskKilled, api.ReasonFrameworkRemoved, "Framework "+fw.id+" removed")))
		}
		m.completeLocked(fw, t)
	}
	for id := range agents {
		if a := m.agents[id]; a != nil {
			a.outbox.push(api.AgentMessage{Type: api.MsgShutdownFramework, ShutdownFramework: &api.ShutdownFramework{FrameworkID: api.ID{Value: fw.id}}})
		}
	}
	if err := m.alloc.RemoveFramework(fw.id); err != nil {
		m.log.Warn("remove framework from allocator", "framework_id", fw.id, "err", err)
	}
	delete(m.frameworks, fw.id)
	fw.unregisteredTime = &now
	m.completedFw = append(m.completedFw, fw)
	if n := len(m.completedFw) - m.cfg.MaxCompletedFrameworks; n > 0 {
		m.completedFw = append([]*framework(nil), m.completedFw[n:]...)
	}
	m.wb.del(frameworkPath(fw.id))
	m.wb.delPrefix(taskPrefix(fw.id))
	m.publishFrameworkRemovedLocked(fw)
	m.kick()
	m.log.Info("framework removed", "framework_id", fw.id, "name", fw.info.Name, "reason", why)
}

func (m *Master) completedFrameworkLocked(id string) *framework {
	for _, fw := range m.completedFw {
		if fw.id == id {
			return fw
		}
	}
	return nil
}

// callerLocked resolves the framework a call comes from.
func (m *Master) callerLocked(s Subscription) (*framework, error) {
	if !m.actingLocked() {
		return nil, ErrNotLeader
	}
	fw := m.frameworks[s.FrameworkID]
	if fw == nil || fw.sink == nil || fw.streamID != s.StreamID {
		return nil, ErrForbidden
	}
	return fw, nil
}

func (m *Master) sortedFrameworksLocked() []*framework {
	out := make([]*framework, 0, len(m.frameworks))
	for _, fw := range m.frameworks {
		out = append(out, fw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func ptr[T any](v T) *T { return &v }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
