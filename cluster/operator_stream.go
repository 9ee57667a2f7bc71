package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

// The operator API's SUBSCRIBE (master.proto's Call.SUBSCRIBE and Event;
// Mesos' docs/operator-http-api.md): 200 and a RecordIO stream of events,
// in JSON or protobuf as the Accept header asks. The first event is
// SUBSCRIBED with the state GET_STATE would answer and the heartbeat
// interval; then, as the master changes them, TASK_ADDED, TASK_UPDATED,
// AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED and
// FRAMEWORK_REMOVED, with a HEARTBEAT every heartbeat interval.
//
// Each subscriber sees what its principal may see, as with GET_STATE:
// task events need view_frameworks on the task's framework and view_tasks
// on the task, framework events view_frameworks (Mesos filters its
// operator stream with the same ACLs). Agent events go to every
// subscriber.
//
// Events are built under the master's lock where the state changes (one
// publish call at each site) and queued to each subscriber in a bounded
// queue: a subscriber that falls opQueueLen events behind is disconnected
// rather than let its queue grow; it subscribes again and gets a fresh
// SUBSCRIBED. The stream ends when this master stops leading.

// opQueueLen bounds each operator subscriber's queue of encoded events.
const opQueueLen = 1024

// opSub is one operator API subscriber.
type opSub struct {
	v      view
	events chan []byte   // JSON events, each a whole master.proto Event
	full   chan struct{} // closed when the queue overflowed
}

// publishLocked sends the event typ, whose body build makes, to every
// subscriber that may see it: fw and t are the framework and task it is
// about (nil for agent events). build runs only when someone subscribes.
func (m *Master) publishLocked(typ string, fw *framework, t *task, build func() any) {
	m.dns.changedLocked() // every event may change DNS records (dnsrecords.go)
	if len(m.opSubs) == 0 {
		return
	}
	var ev []byte
	for s := range m.opSubs {
		if fw != nil && !s.v.framework(fw) || t != nil && !s.v.task(fw, t) {
			continue
		}
		if ev == nil {
			b, err := json.Marshal(map[string]any{"type": typ, strings.ToLower(typ): build()})
			if err != nil {
				m.log.Error("operator stream: encode event", "type", typ, "err", err)
				return
			}
			ev = b
		}
		select {
		case s.events <- ev:
		default:
			close(s.full)
			delete(m.opSubs, s)
		}
	}
}

// frameworkOf is the live or completed framework of t.
func (m *Master) frameworkOfLocked(t *task) *framework {
	if fw := m.frameworks[t.frameworkID]; fw != nil {
		return fw
	}
	return m.completedFrameworkLocked(t.frameworkID)
}

// publishTaskAddedLocked: t is new (launched or adopted).
func (m *Master) publishTaskAddedLocked(fw *framework, t *task) {
	m.publishLocked("TASK_ADDED", fw, t, func() any { return map[string]any{"task": v1Task(t)} })
}

// publishTaskUpdatedLocked: t got status st (nil: a state the agent
// reported without a status of its own).
func (m *Master) publishTaskUpdatedLocked(t *task, st *api.TaskStatus) {
	fw := m.frameworkOfLocked(t)
	if fw == nil {
		return
	}
	m.publishLocked("TASK_UPDATED", fw, t, func() any {
		s := api.TaskStatus{TaskID: t.info.TaskID, State: t.state, Source: api.SourceMaster, Timestamp: epoch(m.cfg.Now())}
		if st != nil {
			s = *st
		}
		if s.AgentID == nil && t.agentID != "" {
			s.AgentID = &api.ID{Value: t.agentID}
		}
		return map[string]any{"framework_id": map[string]any{"value": fw.id}, "status": s, "state": t.state}
	})
}

// publishFrameworkLocked: fw subscribed for the first time (added) or
// changed (re-subscribed, disconnected).
func (m *Master) publishFrameworkLocked(fw *framework, added bool) {
	typ := "FRAMEWORK_UPDATED"
	if added {
		typ = "FRAMEWORK_ADDED"
	}
	m.publishLocked(typ, fw, nil, func() any { return map[string]any{"framework": v1Framework(fw)} })
}

// publishFrameworkRemovedLocked: fw was torn down.
func (m *Master) publishFrameworkRemovedLocked(fw *framework) {
	m.publishLocked("FRAMEWORK_REMOVED", fw, nil, func() any { return map[string]any{"framework_info": fw.info} })
}

// publishAgentAddedLocked: a registered or re-registered.
func (m *Master) publishAgentAddedLocked(a *agent) {
	m.publishLocked("AGENT_ADDED", nil, nil, func() any { return map[string]any{"agent": v1AgentLocked(a)} })
}

// publishAgentRemovedLocked: the agent id was removed (gone, replaced, or
// marked unreachable).
func (m *Master) publishAgentRemovedLocked(id string) {
	m.publishLocked("AGENT_REMOVED", nil, nil, func() any { return map[string]any{"agent_id": map[string]any{"value": id}} })
}

// serveOperatorSubscribe answers the operator SUBSCRIBE call.
func (m *Master) serveOperatorSubscribe(w http.ResponseWriter, r *http.Request) {
	out, ok := streamCodec(r.Header)
	if !ok {
		writeError(w, http.StatusNotAcceptable, fmt.Sprintf("operator call SUBSCRIBE: Accept %q is not supported; accept application/json or application/x-protobuf", r.Header.Get("Accept")))
		return
	}
	v := m.viewOf(r)
	s := &opSub{v: v, events: make(chan []byte, opQueueLen), full: make(chan struct{})}
	m.mu.Lock()
	if !m.elected || m.termCtx == nil {
		m.mu.Unlock()
		writeErr(w, ErrNotLeader)
		return
	}
	term := m.termCtx
	state := map[string]any{
		"get_tasks": m.getTasksLocked(v), "get_executors": map[string]any{"executors": []any{}, "orphan_executors": []any{}},
		"get_frameworks": m.getFrameworksLocked(v), "get_agents": m.getAgentsLocked(),
	}
	first, err := json.Marshal(map[string]any{"type": "SUBSCRIBED", "subscribed": map[string]any{
		"get_state": state, "heartbeat_interval_seconds": m.cfg.HeartbeatInterval.Seconds(),
	}})
	if err == nil {
		if m.opSubs == nil {
			m.opSubs = map[*opSub]struct{}{}
		}
		m.opSubs[s] = struct{}{}
	}
	m.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("operator call SUBSCRIBE: encode SUBSCRIBED: %v", err))
		return
	}
	defer func() {
		m.mu.Lock()
		delete(m.opSubs, s)
		m.mu.Unlock()
	}()
	m.closeStreamsOnShutdown(r)
	out.setStreamHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(ev []byte) bool {
		b, err := out.encode(mesospb.OperatorEvent, ev)
		if err != nil {
			// Only a gap in nodectl's .proto files gets here: end the
			// stream rather than skip an event.
			m.log.Error("operator stream", "err", err)
			return false
		}
		return api.WriteRecord(w, b) == nil
	}
	if !write(first) || rc.Flush() != nil {
		return
	}
	hb := time.NewTicker(m.cfg.HeartbeatInterval)
	defer hb.Stop()
	heartbeat := []byte(`{"type":"HEARTBEAT"}`)
	for {
		var ev []byte
		select {
		case <-r.Context().Done():
			return
		case <-m.closing:
			return
		case <-term.Done():
			return
		case <-s.full:
			m.log.Warn("operator stream: subscriber too slow, disconnected", "queued", opQueueLen)
			return
		case <-hb.C:
			ev = heartbeat
		case ev = <-s.events:
		}
		if !write(ev) {
			return
		}
		// Write what else is queued before flushing.
		for more := true; more; {
			select {
			case ev = <-s.events:
				if !write(ev) {
					return
				}
			default:
				more = false
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}
