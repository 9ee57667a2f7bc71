package node

import (
	"container/list"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// connLimiter bounds a listener's open connections. At the bound a new
// connection evicts the connection that has waited longest on its client
// (in its TLS handshake, sending its headers or its body, or idle between
// requests); connections running a request (streams included) are never
// evicted. With every connection busy a new one is closed at once. Slow
// clients thus cost the server at most max connections' memory, and a
// client that completes its request promptly still gets in: it is never
// the oldest waiting.
type connLimiter struct {
	net.Listener
	max int

	mu      sync.Mutex
	open    int
	waiting list.List // of *limitedConn, oldest first
	evicted atomic.Int64
	refused atomic.Int64
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l}
		l.mu.Lock()
		var victim *limitedConn
		if l.open >= l.max {
			if e := l.waiting.Front(); e != nil {
				victim = e.Value.(*limitedConn)
				l.removeLocked(victim)
			}
		}
		full := l.open >= l.max
		if !full {
			l.open++
			lc.counted = true
			lc.elem = l.waiting.PushBack(lc)
		}
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			_ = victim.Conn.Close()
		}
		if full {
			l.refused.Add(1)
			_ = c.Close()
			continue
		}
		return lc, nil
	}
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
// or not; a no-op without a connLimiter.
func waitingOnClient(r *http.Request, waiting bool) {
	if lc, _ := r.Context().Value(limitedConnKey{}).(*limitedConn); lc != nil {
		lc.l.setWaiting(lc, waiting)
	}
}
