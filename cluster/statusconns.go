package cluster

import (
	"context"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// statusConns are the connections the quorum reads (readQuorum, every
// QuorumCheckInterval) ask each etcd member's status on, one per member
// endpoint, kept open. clientv3's Maintenance.Status dials the endpoint it
// is given anew at every call: a TLS handshake per member per read, which
// was most of an idle master's CPU (a 3-master cluster made nine a second).
type statusConns struct {
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// status asks the member at ep for its status on ep's kept connection,
// dialled (without waiting for it to connect) on first use. Once closed it
// dials for the call alone, as clientv3 does.
func (s *statusConns) status(ctx context.Context, cli *clientv3.Client, ep string) (*clientv3.StatusResponse, error) {
	s.mu.Lock()
	conn, closed := s.conns[ep], s.closed
	s.mu.Unlock()
	if closed {
		return cli.Status(ctx, ep)
	}
	if conn == nil {
		c, err := cli.Dial(ep)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			c.Close()
			return cli.Status(ctx, ep)
		case s.conns[ep] != nil: // dialled meanwhile
			conn = s.conns[ep]
			s.mu.Unlock()
			c.Close()
		default:
			if s.conns == nil {
				s.conns = map[string]*grpc.ClientConn{}
			}
			s.conns[ep], conn = c, c
			s.mu.Unlock()
		}
	}
	return clientv3.NewMaintenanceFromMaintenanceClient(pb.NewMaintenanceClient(conn), cli).Status(ctx, ep)
}

// keep closes the connections to endpoints not in eps (members gone, or
// moved).
func (s *statusConns) keep(eps map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ep, c := range s.conns {
		if !eps[ep] {
			c.Close()
			delete(s.conns, ep)
		}
	}
}

// close closes every connection; later reads dial per call.
func (s *statusConns) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ep, c := range s.conns {
		c.Close()
		delete(s.conns, ep)
	}
	s.closed = true
}
