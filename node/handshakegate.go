package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// handshakeSlots is how many TLS handshakes the master port runs at once.
// A handshake is ~1–2 ms of the server's CPU plus round trips to its
// client, so this many keep two cores busy even with slow clients, and
// bound the wait of any one to well under its timeout.
const handshakeSlots = 256

// handshakeGate runs the TLS handshakes of a listener's connections before
// http.Server is handed them: at most n at once, in the order the
// connections arrived, each within timeout from its start (http.Server's
// own bound of a handshake, ReadHeaderTimeout, then finds it done).
//
// Without it every accepted connection handshakes at once. When a new
// leader's 10,000 agents re-register together, each handshake then gets a
// 10,000th of the CPU: most pass the 10 s bound, are closed half done, and
// their agents back off and retry (their CPU spent for nothing), so a
// storm that the CPU clears in ~15 s took close to a minute. Through the
// gate, handshakes finish at the rate the CPU does them, first come first
// served; the others wait, accepted, for a slot (the connection limit
// still bounds how many). http.Server gets every connection, its
// handshake done or failed.
type handshakeGate struct {
	inner   net.Listener // yields *tls.Conn (tls.NewListener)
	timeout time.Duration
	sem     *semaphore.Weighted

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	ready  chan accepted
	once   sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

func newHandshakeGate(inner net.Listener, n int, timeout time.Duration) *handshakeGate {
	ctx, cancel := context.WithCancel(context.Background())
	g := &handshakeGate{inner: inner, timeout: timeout, sem: semaphore.NewWeighted(int64(n)),
		ctx: ctx, cancel: cancel, ready: make(chan accepted)}
	go g.acceptLoop()
	return g
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
	if err := g.sem.Acquire(g.ctx, 1); err != nil {
		_ = tc.Close() // the listener closed while it waited
		return
	}
	_ = tc.SetDeadline(time.Now().Add(g.timeout))
	// A failed handshake goes to http.Server all the same: its own
	// Handshake call returns the same error, and it answers a plain HTTP
	// request with 400 "Client sent an HTTP request to an HTTPS server",
	// logs the rest (serverErrorLog) and closes the connection.
	_ = tc.HandshakeContext(g.ctx)
	g.sem.Release(1)
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
