package node

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"
	"time"

	"nodectl/cluster/pki"
)

// handshakeSlots is how many TLS handshakes the master port runs at once.
// A handshake is ~1–2 ms of the server's CPU plus round trips to its
// client, so this many keep two cores busy even with slow clients, and
// bound the wait of any one to well under its timeout.
const handshakeSlots = 256

// handshakeGate runs the TLS handshakes of a listener's connections before
// http.Server is handed them: past the ClientHello, at most n at once,
// each within timeout (http.Server's own bound of a handshake,
// ReadHeaderTimeout, then finds it done).
//
// Without it every accepted connection handshakes at once. When a new
// leader's 10,000 agents re-register together, each handshake then gets a
// 10,000th of the CPU: most pass the 10 s bound, are closed half done, and
// their agents back off and retry (their CPU spent for nothing), so a
// storm that the CPU clears in ~15 s took close to a minute. Through the
// gate, handshakes finish at the rate the CPU does them; the others wait,
// accepted, for a slot (the connection limit still bounds how many).
// http.Server gets every connection, its handshake done or failed.
//
// A handshake takes its slot once the ClientHello is in (its reading is
// bounded by timeout too, and costs no CPU to speak of), so the gate
// knows who asks: clients that are not nodes (people, the CLI, the UI,
// frameworks: no pki.NodeProto offered) go before nodes waiting, each in
// the order they came. A new leader's reconnecting agents otherwise queued
// an operator's request behind thousands of their handshakes: the first
// write after a failover waited 18 s once at 10,000 agents (make
// bench-scale), its client's tries timing out and queueing again.
type handshakeGate struct {
	inner   net.Listener // yields *tls.Conn (tls.NewListener with gateTLS)
	timeout time.Duration
	slots   *gateSlots
	// held are the connections (tls.ClientHelloInfo.Conn) whose handshake
	// holds a slot.
	held sync.Map

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	ready  chan accepted
	once   sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

// newHandshakeGate gates the TLS handshakes of raw's connections, made
// with cfg, n at once.
func newHandshakeGate(raw net.Listener, cfg *tls.Config, n int, timeout time.Duration) *handshakeGate {
	ctx, cancel := context.WithCancel(context.Background())
	g := &handshakeGate{timeout: timeout, slots: newGateSlots(n), ctx: ctx, cancel: cancel, ready: make(chan accepted)}
	g.inner = tls.NewListener(raw, g.gateTLS(cfg))
	go g.acceptLoop()
	return g
}

// gateTLS is cfg taking a slot for each handshake once its ClientHello is
// in, clients that are not nodes first; cfg's own GetConfigForClient runs
// in the slot.
func (g *handshakeGate) gateTLS(cfg *tls.Config) *tls.Config {
	out := cfg.Clone()
	next := cfg.GetConfigForClient
	out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		q := gatePeople
		if slices.Contains(hello.SupportedProtos, pki.NodeProto) {
			q = gateNodes
		}
		if err := g.slots.acquire(g.ctx, q); err != nil {
			return nil, err // the listener closed while it waited
		}
		g.held.Store(hello.Conn, struct{}{})
		// The handshake's own bound runs from here, not from the accept.
		_ = hello.Conn.SetDeadline(time.Now().Add(g.timeout))
		if next == nil {
			return nil, nil
		}
		return next(hello)
	}
	return out
}

// acceptLoop accepts until the listener fails for good. Errors go to
// Accept's caller as they are: http.Server retries temporary ones.
func (g *handshakeGate) acceptLoop() {
	for {
		c, err := g.inner.Accept()
		if err != nil {
			if !g.deliver(accepted{err: err}) {
				return
			}
			var ne net.Error
			if errors.Is(err, net.ErrClosed) || !errors.As(err, &ne) || !ne.Timeout() && !isTemporary(ne) {
				return
			}
			continue
		}
		tc, ok := c.(*tls.Conn)
		if !ok {
			if !g.deliver(accepted{c: c}) {
				_ = c.Close()
				return
			}
			continue
		}
		go g.handshake(tc)
	}
}

// isTemporary is net.Error's deprecated Temporary, which http.Server's
// accept loop still honours (EMFILE, ENFILE).
func isTemporary(ne net.Error) bool {
	t, ok := ne.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (g *handshakeGate) handshake(tc *tls.Conn) {
	// Until the ClientHello is in; gateTLS sets it again once the
	// handshake has its slot.
	_ = tc.SetDeadline(time.Now().Add(g.timeout))
	// A failed handshake goes to http.Server all the same: its own
	// Handshake call returns the same error, and it answers a plain HTTP
	// request with 400 "Client sent an HTTP request to an HTTPS server",
	// logs the rest (serverErrorLog) and closes the connection.
	_ = tc.HandshakeContext(g.ctx)
	if _, ok := g.held.LoadAndDelete(tc.NetConn()); ok {
		g.slots.release()
	}
	_ = tc.SetDeadline(time.Time{})
	if !g.deliver(accepted{c: tc}) {
		_ = tc.Close()
	}
}

// deliver hands a to Accept; false once the listener is closed.
func (g *handshakeGate) deliver(a accepted) bool {
	select {
	case g.ready <- a:
		return true
	case <-g.ctx.Done():
		return false
	}
}

// Accept returns the next connection whose handshake is done.
func (g *handshakeGate) Accept() (net.Conn, error) {
	select {
	case a := <-g.ready:
		return a.c, a.err
	case <-g.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close closes the listener; connections waiting for a slot are closed,
// handshakes under way end.
func (g *handshakeGate) Close() error {
	var err error
	g.once.Do(func() {
		g.cancel()
		err = g.inner.Close()
	})
	return err
}

func (g *handshakeGate) Addr() net.Addr { return g.inner.Addr() }

// The gate's queues, served in this order.
const (
	gatePeople = iota // clients that are not nodes
	gateNodes
)

// gateSlots is a counting semaphore whose waiters are served from two
// FIFO queues, the first before the second (golang.org/x/sync/semaphore
// has one queue).
type gateSlots struct {
	mu    sync.Mutex
	free  int
	queue [2]list.List // of chan struct{}, closed when granted
	// queued, when set (tests), hears the queue of each waiter that joins
	// one; set and read under mu.
	queued chan<- int
}

func newGateSlots(n int) *gateSlots { return &gateSlots{free: n} }

// acquire takes a slot, waiting in queue q; an error only when ctx ends
// first.
func (s *gateSlots) acquire(ctx context.Context, q int) error {
	s.mu.Lock()
	if s.takeFreeLocked() {
		s.mu.Unlock()
		return nil
	}
	granted := make(chan struct{})
	e := s.queue[q].PushBack(granted)
	if s.queued != nil {
		s.queued <- q // buffered by the test for every waiter it makes
	}
	s.mu.Unlock()
	select {
	case <-granted:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	select {
	case <-granted: // granted meanwhile: pass it on
		s.mu.Unlock()
		s.release()
	default:
		s.queue[q].Remove(e)
		s.mu.Unlock()
	}
	return ctx.Err()
}

// takeFreeLocked takes a slot if one is free and nobody waits.
func (s *gateSlots) takeFreeLocked() bool {
	if s.free > 0 && s.queue[gatePeople].Len() == 0 && s.queue[gateNodes].Len() == 0 {
		s.free--
		return true
	}
	return false
}

// release gives a slot back: to the first waiter of the first queue that
// has one, else to the free ones.
func (s *gateSlots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for q := range s.queue {
		if e := s.queue[q].Front(); e != nil {
			s.queue[q].Remove(e)
			close(e.Value.(chan struct{}))
			return
		}
	}
	s.free++
}
