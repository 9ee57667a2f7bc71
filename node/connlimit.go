package node

import (
	"container/list"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connLimiter bounds a listener's open connections. At the bound it
// accepts no more (they wait in the kernel's backlog) until one closes, or
// the connection waiting longest on its client (in its TLS handshake,
// sending its headers or its body, or idle between requests) has waited
// evictAfter: that one is closed to make room. Connections running a
// request (streams included) are never evicted. Slow clients thus cost
// the server at most max connections' memory, and every accepted
// connection gets at least evictAfter to send its request.
type connLimiter struct {
	net.Listener
	max        int
	evictAfter time.Duration

	mu      sync.Mutex
	open    int
	waiting list.List     // of *limitedConn, longest waiting first
	freed   chan struct{} // a connection was uncounted (buffered, 1)
	closed  chan struct{}
	once    sync.Once
	evicted atomic.Int64
}

func newConnLimiter(ln net.Listener, max int, evictAfter time.Duration) *connLimiter {
	return &connLimiter{Listener: ln, max: max, evictAfter: evictAfter, freed: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.open < l.max {
			break // l.mu held
		}
		var victim *limitedConn
		wait := l.evictAfter
		if e := l.waiting.Front(); e != nil {
			c := e.Value.(*limitedConn)
			if wait = l.evictAfter - time.Since(c.since); wait <= 0 {
				victim = c
				l.removeLocked(c)
			}
		}
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			_ = victim.Conn.Close()
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-l.freed:
		case <-t.C:
		case <-l.closed:
			t.Stop()
			return nil, net.ErrClosed
		}
		t.Stop()
	}
	l.open++ // reserved before Accept: Accept may block
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.open--
		return nil, err
	}
	lc := &limitedConn{Conn: c, l: l, counted: true, since: time.Now()}
	lc.elem = l.waiting.PushBack(lc)
	return lc, nil
}

// Close closes the listener; an Accept waiting for room returns.
func (l *connLimiter) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// removeLocked uncounts c; l.mu is held.
func (l *connLimiter) removeLocked(c *limitedConn) {
	if c.elem != nil {
		l.waiting.Remove(c.elem)
		c.elem = nil
	}
	if c.counted {
		c.counted = false
		l.open--
		select {
		case l.freed <- struct{}{}:
		default:
		}
	}
}

// setWaiting moves c to the back of the waiting list (waiting) or off it.
func (l *connLimiter) setWaiting(c *limitedConn, waiting bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !c.counted {
		return // closed or evicted
	}
	if c.elem != nil {
		l.waiting.Remove(c.elem)
		c.elem = nil
	}
	if waiting {
		c.since = time.Now()
		c.elem = l.waiting.PushBack(c)
	}
}

// limitedConn is a connection counted by its connLimiter.
type limitedConn struct {
	net.Conn
	l *connLimiter
	// Guarded by l.mu.
	counted bool
	elem    *list.Element
	since   time.Time // waiting on its client since
}

func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.removeLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// limitedConnOf is the limitedConn under c (a TLS connection over one
// included), nil if none.
func limitedConnOf(c net.Conn) *limitedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, _ := c.(*limitedConn)
	return lc
}

// connState is http.Server.ConnState: a connection running a request is
// not evictable; a new or idle one is.
func connState(c net.Conn, s http.ConnState) {
	lc := limitedConnOf(c)
	if lc == nil {
		return
	}
	switch s {
	case http.StateActive:
		lc.l.setWaiting(lc, false)
	case http.StateIdle:
		lc.l.setWaiting(lc, true)
	case http.StateHijacked, http.StateClosed:
		lc.l.mu.Lock()
		lc.l.removeLocked(lc)
		lc.l.mu.Unlock()
	}
}

type limitedConnKey struct{}

// connContext is http.Server.ConnContext: it lets a handler reach its
// limitedConn (waitingOnClient).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc := limitedConnOf(c); lc != nil {
		return context.WithValue(ctx, limitedConnKey{}, lc)
	}
	return ctx
}

// waitingOnClient marks r's connection evictable (while it reads a body)
// or not; a no-op without a connLimiter, and for HTTP/2, whose connection
// carries other requests (an agent's message stream) besides r.
func waitingOnClient(r *http.Request, waiting bool) {
	if r.ProtoMajor >= 2 {
		return
	}
	if lc, _ := r.Context().Value(limitedConnKey{}).(*limitedConn); lc != nil {
		lc.l.setWaiting(lc, waiting)
	}
}
