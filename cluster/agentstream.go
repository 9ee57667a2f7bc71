package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"nodectl/cluster/api"
)

// outbox is the queue of messages to one agent's stream. A registration
// gets a fresh outbox (reconciliation decides what it must hold), and the
// old one is closed. One stream consumes it at a time: a newer stream of
// the same agent replaces the older.
type outbox struct {
	mu     sync.Mutex // guards the fields below
	msgs   []api.AgentMessage
	closed bool
	cur    *consumer
}

// consumer is one stream reading an outbox.
type consumer struct {
	wake chan struct{} // a message is waiting
	stop chan struct{} // closed when replaced or the outbox closes
}

func newOutbox() *outbox { return &outbox{} }

// push queues a message; on a closed outbox it is dropped (the agent
// re-registers and reconciliation re-sends what matters).
func (o *outbox) push(msg api.AgentMessage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.msgs = append(o.msgs, msg)
	if o.cur != nil {
		select {
		case o.cur.wake <- struct{}{}:
		default:
		}
	}
}

func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.cur != nil {
		close(o.cur.stop)
		o.cur = nil
	}
}

// attach makes a new consumer current, stopping the previous one.
func (o *outbox) attach() *consumer {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := &consumer{wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if o.closed {
		close(c.stop)
		return c
	}
	if o.cur != nil {
		close(o.cur.stop)
	}
	o.cur = c
	c.wake <- struct{}{}
	return c
}

// detach ends c's turn if it is still current.
func (o *outbox) detach(c *consumer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == c {
		o.cur = nil
		close(c.stop)
	}
}

// take returns the queued messages if c is still the consumer.
func (o *outbox) take(c *consumer) ([]api.AgentMessage, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur != c {
		return nil, false
	}
	out := o.msgs
	o.msgs = nil
	return out, true
}

// handleStream serves GET PathStream?agent_id=ID: the master→agent
// messages as newline-delimited JSON, flushed one batch at a time, with a
// HEARTBEAT when idle. It ends when the agent goes away, re-registers,
// opens another stream, or this master stops leading.
func (m *Master) handleStream(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("agent_id")
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, ErrNotLeader.Error())
		return
	}
	if _, gone := m.removals.gone[id]; gone {
		m.mu.Unlock()
		m.m.fenced.Inc()
		writeErr(w, agentGoneError(id))
		return
	}
	a := m.agents[id]
	if a == nil || a.recovered || a.UnreachableTime != nil {
		m.mu.Unlock()
		writeError(w, http.StatusNotFound, "unknown agent "+id+": register first")
		return
	}
	ob, done := a.outbox, m.termCtx.Done()
	m.mu.Unlock()
	m.closeStreamsOnShutdown(r)
	c := ob.attach()
	defer ob.detach(c)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	enc := json.NewEncoder(w)
	// A HEARTBEAT only after an interval without messages: a stream that
	// carries others needs none (10,000 agents' streams heartbeating
	// regardless were 2,000 writes a second on the leader).
	hb := time.NewTimer(m.cfg.AgentHeartbeatInterval)
	defer hb.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-done:
			return
		case <-m.closing:
			return
		case <-c.stop:
			return
		case <-hb.C:
			if err := enc.Encode(api.AgentMessage{Type: api.MsgHeartbeat}); err != nil {
				return
			}
		case <-c.wake:
			msgs, ok := ob.take(c)
			if !ok {
				return
			}
			for i := range msgs {
				if err := enc.Encode(&msgs[i]); err != nil {
					return
				}
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
		hb.Reset(m.cfg.AgentHeartbeatInterval)
	}
}

// handleStatus serves POST PathStatus: one status update from an agent.
func (m *Master) handleStatus(w http.ResponseWriter, r *http.Request) {
	var u api.StatusUpdate
	if !readJSON(w, r, &u) {
		m.m.invalidUpdates.Inc()
		return
	}
	if err := m.statusUpdate(u); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// handleStatuses serves POST PathStatuses: a batch of status updates
// from one agent, each handled as handleStatus handles one. It answers 200
// with what it took and refused; a malformed or oversized batch is a 400.
func (m *Master) handleStatuses(w http.ResponseWriter, r *http.Request) {
	var b api.StatusBatch
	if !readJSON(w, r, &b) {
		m.m.invalidUpdates.Inc()
		return
	}
	if len(b.Updates) > api.MaxStatusBatch {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("a status batch holds at most %d updates, not %d", api.MaxStatusBatch, len(b.Updates)))
		return
	}
	res := api.StatusBatchResult{}
	for _, u := range b.Updates {
		if err := m.statusUpdate(u); err != nil {
			res.Refused = append(res.Refused, api.StatusBatchError{TaskID: u.Status.TaskID.Value, Code: errStatus(err), Message: err.Error()})
			continue
		}
		res.Accepted++
	}
	writeJSON(w, http.StatusOK, res)
}

// errStatus maps master errors to HTTP status codes: by their kind
// (api.HTTPStatus).
func errStatus(err error) int { return api.HTTPStatus(err) }
