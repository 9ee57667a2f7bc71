package cluster

import (
	"context"
	"errors"
	"sync"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// Errors of the framework interface; the v1 HTTP API maps them to status
// codes (ErrBadCall 400, ErrForbidden 403, ErrNotLeader 307/503).
var (
	// ErrBadCall is wrapped by errors in a call's content.
	ErrBadCall = api.Kind(api.ErrInvalid, "bad call")
	// ErrForbidden: the framework is not subscribed, or the stream id is
	// not its current one.
	ErrForbidden = api.Kind(api.ErrForbidden, "framework not subscribed on this stream")
	// ErrFrameworkRemoved: the framework was torn down; it cannot come back.
	ErrFrameworkRemoved = api.Kind(api.ErrForbidden, "framework has been removed")
)

// Scheduler is the one way frameworks drive the master: the Mesos v1
// scheduler API as Go calls. The public HTTP API (POST /api/v1/scheduler)
// wraps it, and built-in frameworks (the apps framework, and through HTTP
// the execute CLI) use it directly. Every offer comes from the allocator
// and every launch goes back through Accept: nothing bypasses it.
//
// Calls other than Subscribe name the subscription they come from; a
// stale one (the framework failed over to another) gets ErrForbidden.
// Calls are asynchronous in the Mesos sense: their outcome (task states,
// offers) arrives as events on the subscription's Sink.
type Scheduler interface {
	// Subscribe registers a framework (Info.ID unset) or re-registers one
	// (failover: a previous subscription gets an ERROR event and is
	// closed). SUBSCRIBED is the first event delivered to req.Sink.
	Subscribe(req SubscribeRequest) (Subscription, error)
	// Unsubscribe disconnects the subscription (its stream ended): the
	// framework's offers are rescinded and it is torn down unless it
	// re-subscribes within its failover_timeout.
	Unsubscribe(s Subscription)
	Accept(s Subscription, call api.AcceptCall) error
	Decline(s Subscription, call api.DeclineCall) error
	Kill(s Subscription, call api.KillCall) error
	Acknowledge(s Subscription, call api.AcknowledgeCall) error
	Reconcile(s Subscription, call api.ReconcileCall) error
	Revive(s Subscription, roles []string) error
	Suppress(s Subscription, roles []string) error
	// Teardown kills the framework's tasks and removes it for good.
	Teardown(s Subscription) error
}

// SubscribeRequest is a SUBSCRIBE call plus where its events go.
type SubscribeRequest struct {
	Info            api.FrameworkInfo
	SuppressedRoles []string
	Sink            Sink
	// Authz is the authenticated principal of an HTTP scheduler, whose
	// rights its launches are checked with (run_tasks); nil for
	// frameworks inside the master.
	Authz *auth.Principal
}

// Subscription identifies one subscription of a framework.
type Subscription struct {
	FrameworkID string
	StreamID    string
}

// Sink receives a subscription's events. The master calls it with its
// lock held: Send must not block and must not call back into the master.
type Sink interface {
	Send(ev api.Event)
	// Close ends the stream: the master sends nothing more.
	Close()
}

var _ Scheduler = (*Master)(nil)

// maxQueuedEvents bounds an EventQueue: a subscriber that stops reading
// is cut off instead of growing the master's memory without limit.
const maxQueuedEvents = 100_000

// EventQueue is an unbounded (up to maxQueuedEvents) FIFO Sink: Send
// never blocks, Next waits for events.
type EventQueue struct {
	mu       sync.Mutex // guards the fields below
	events   []api.Event
	closed   bool
	overflow bool
	ready    chan struct{}
}

// NewEventQueue returns an empty, open queue.
func NewEventQueue() *EventQueue { return &EventQueue{ready: make(chan struct{}, 1)} }

// Send queues ev; after Close, or once the queue overflowed, it is dropped.
func (q *EventQueue) Send(ev api.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if len(q.events) >= maxQueuedEvents {
		q.closed, q.overflow = true, true
		q.events = nil
	} else {
		q.events = append(q.events, ev)
	}
	q.signal()
}

// Close ends the queue; Next returns what is queued, then io.EOF-like
// ErrQueueClosed.
func (q *EventQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.signal()
}

func (q *EventQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// ErrQueueClosed is returned by Next once a closed queue is drained.
var ErrQueueClosed = errors.New("event stream closed")

// ErrQueueOverflow is returned by Next when the reader fell too far behind.
var ErrQueueOverflow = errors.New("event stream overflowed: subscriber too slow")

// Next returns every queued event, waiting for at least one, until ctx
// ends or the queue is closed and drained.
func (q *EventQueue) Next(ctx context.Context) ([]api.Event, error) {
	for {
		q.mu.Lock()
		if len(q.events) > 0 {
			out := q.events
			q.events = nil
			q.mu.Unlock()
			return out, nil
		}
		closed, overflow := q.closed, q.overflow
		q.mu.Unlock()
		if overflow {
			return nil, ErrQueueOverflow
		}
		if closed {
			return nil, ErrQueueClosed
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.ready:
		}
	}
}

// poll returns what is queued without waiting; the error is set once the
// queue is closed (what is returned with it is the last of it).
func (q *EventQueue) poll() ([]api.Event, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.events
	q.events = nil
	switch {
	case q.overflow:
		return nil, ErrQueueOverflow
	case q.closed:
		return out, ErrQueueClosed
	}
	return out, nil
}

// Ready is signalled when events may be waiting (for select loops).
func (q *EventQueue) Ready() <-chan struct{} { return q.ready }
