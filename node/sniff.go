package node

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// sniffListener serves TLS and, for now, plain HTTP on one port: a
// connection whose first byte starts a TLS handshake (0x16) is wrapped in
// tls.Server, any other is handed over as is. It is the master port's
// transition while agents and the test harness still speak plain HTTP;
// node endpoints that need a node certificate refuse plain requests
// anyway (pki.RequireNode). Dropping plain HTTP is swapping this for
// tls.NewListener.
type sniffListener struct {
	net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func newSniffListener(ln net.Listener, cfg *tls.Config) *sniffListener {
	s := &sniffListener{Listener: ln, cfg: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// acceptLoop accepts raw connections and sorts each in a goroutine of
// its own, so a client that sends nothing holds up no one.
func (s *sniffListener) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			s.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sort(c)
		}()
	}
}

func (s *sniffListener) sort(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	b, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if b[0] == 0x16 {
		out = tls.Server(out, s.cfg)
	}
	select {
	case s.conns <- out:
	case <-s.done:
		out.Close()
	}
}

func (s *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *sniffListener) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.Listener.Close()
	})
	return err
}

// peekedConn reads first what was peeked.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
