package runtime

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	"nodectl/cluster/api"
)

// Status update retry intervals, as Mesos' status update manager:
// 10s doubling to 10min until the head of a stream is acknowledged.
const (
	statusRetryMin = 10 * time.Second
	statusRetryMax = 10 * time.Minute
)

// streamKey names one task's update stream.
type streamKey struct{ framework, task string }

// updateStream is the ordered, not yet acknowledged updates of one task.
// Only the head is in flight.
type updateStream struct {
	pending []api.StatusUpdate
	sent    bool          // head has been handed to the master
	retryAt time.Time     // when to re-send the head if still unacked
	backoff time.Duration // next retry interval
}

// statusManager delivers status updates reliably: at least once, in order
// per task, retried with backoff until acknowledged. (The checkpoint of
// the streams arrives with the sqlite store.)
type statusManager struct {
	send func(context.Context, api.StatusUpdate) error
	// sendBatch, when set, sends the heads due together in one go
	// (Agent.sendStatuses: a burst of starts is a few requests).
	sendBatch func(context.Context, []api.StatusUpdate) error
	onDone    func(framework, task string) // the terminal update of a task was acked
	now       func() time.Time
	log       *slog.Logger

	mu      sync.Mutex // guards streams and online
	streams map[streamKey]*updateStream
	online  bool // registered with a master: sending makes sense
	wake    chan struct{}
}

func newStatusManager(send func(context.Context, api.StatusUpdate) error, onDone func(string, string), log *slog.Logger) *statusManager {
	return &statusManager{send: send, onDone: onDone, now: time.Now, log: log,
		streams: map[streamKey]*updateStream{}, wake: make(chan struct{}, 1)}
}

func (m *statusManager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// enqueue appends an update to its task's stream.
func (m *statusManager) enqueue(u api.StatusUpdate) {
	k := streamKey{u.FrameworkID.Value, u.Status.TaskID.Value}
	m.mu.Lock()
	s, ok := m.streams[k]
	if !ok {
		s = &updateStream{backoff: statusRetryMin}
		m.streams[k] = s
	}
	s.pending = append(s.pending, u)
	m.mu.Unlock()
	m.poke()
}

// setOnline marks whether a master is there to send to; going online
// re-sends every unacknowledged head at once, as Mesos does after
// (re-)registration.
func (m *statusManager) setOnline(on bool) {
	m.mu.Lock()
	m.online = on
	if on {
		for _, s := range m.streams {
			s.sent = false
			s.backoff = statusRetryMin
		}
	}
	m.mu.Unlock()
	m.poke()
}

// ack handles the master's relay of a framework acknowledgement. It reports
// whether the uuid matched the head of the task's stream.
func (m *statusManager) ack(framework, task string, uuid []byte) bool {
	k := streamKey{framework, task}
	m.mu.Lock()
	s, ok := m.streams[k]
	if !ok || len(s.pending) == 0 || !bytes.Equal(s.pending[0].Status.UUID, uuid) {
		m.mu.Unlock()
		return false
	}
	head := s.pending[0]
	s.pending = s.pending[1:]
	s.sent, s.backoff = false, statusRetryMin
	done := len(s.pending) == 0 && head.Status.State.Terminal()
	if len(s.pending) == 0 {
		delete(m.streams, k)
	}
	m.mu.Unlock()
	if done && m.onDone != nil {
		m.onDone(framework, task)
	}
	m.poke()
	return true
}

// unacked counts updates not yet acknowledged (for metrics and tests).
func (m *statusManager) unacked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.streams {
		n += len(s.pending)
	}
	return n
}

// head is the update to send for the stream: its first, carrying as
// latest_state the newest state queued behind it. The state is stamped at
// each send, as Mesos' agent does when it forwards an update, so a retry
// of a head nobody acknowledges (a detached framework, an ACK lost to a
// restart) still moves the master's view of the task to its newest state;
// the state stamped when the head was queued may be long stale.
func (s *updateStream) head() api.StatusUpdate {
	u := s.pending[0]
	tail := s.pending[len(s.pending)-1]
	u.LatestState = tail.LatestState
	if u.LatestState == "" {
		u.LatestState = tail.Status.State
	}
	return u
}

// due returns the heads to send now and the time of the next retry.
func (m *statusManager) due() ([]api.StatusUpdate, time.Time) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []api.StatusUpdate
	var next time.Time
	if !m.online {
		return nil, next
	}
	for _, s := range m.streams {
		if len(s.pending) == 0 {
			continue
		}
		if !s.sent || !now.Before(s.retryAt) {
			if s.sent { // a retry: back off further
				s.backoff = min(2*s.backoff, statusRetryMax)
			}
			s.sent, s.retryAt = true, now.Add(s.backoff)
			out = append(out, s.head())
		}
		if next.IsZero() || s.retryAt.Before(next) {
			next = s.retryAt
		}
	}
	return out, next
}

// run sends due heads until ctx ends.
func (m *statusManager) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		heads, next := m.due()
		if len(heads) > 1 && m.sendBatch != nil {
			if err := m.sendBatch(ctx, heads); err != nil {
				if ctx.Err() != nil {
					return
				}
				// Left in place: the retry timer or the next registration re-sends them.
				m.log.Debug("status updates not all delivered", "updates", len(heads), "err", err)
			}
			heads = nil
		}
		for _, u := range heads {
			if err := m.send(ctx, u); err != nil {
				if ctx.Err() != nil {
					return
				}
				// Left in place: the retry timer or the next registration re-sends it.
				m.log.Debug("status update not delivered", "task_id", u.Status.TaskID.Value, "state", u.Status.State, "err", err)
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-timer.C:
		}
	}
}

// reset drops every stream (the agent was removed; its updates are moot).
func (m *statusManager) reset() {
	m.mu.Lock()
	m.streams = map[streamKey]*updateStream{}
	m.mu.Unlock()
}
