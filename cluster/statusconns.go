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
// dialled (without waiting for it to connect) on first use. A connection a
// call fails on is dropped and the call made once more on a new one: gRPC
// would reconnect a broken one only after its back-off (a second and
// more), and a member restarted meanwhile (a rolling upgrade's) must read
// healthy as soon as it serves, as it did when every read dialled. Once
// closed it dials for the call alone, as clientv3 does.
func (s *statusConns) status(ctx context.Context, cli *clientv3.Client, ep string) (*clientv3.StatusResponse, error) {
	st, conn, err := s.statusOn(ctx, cli, ep)
	if err == nil || conn == nil {
		return st, err
	}
	s.drop(ep, conn)
	st, conn, err = s.statusOn(ctx, cli, ep)
	if err != nil && conn != nil {
		s.drop(ep, conn)
	}
	return st, err
}

// drop closes conn, ep's kept connection unless another replaced it.
func (s *statusConns) drop(ep string, conn *grpc.ClientConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[ep] == conn {
		delete(s.conns, ep)
		conn.Close()
	}
}

// statusOn is one status call on ep's kept connection (nil when closed: a
// call of its own).
func (s *statusConns) statusOn(ctx context.Context, cli *clientv3.Client, ep string) (*clientv3.StatusResponse, *grpc.ClientConn, error) {
	s.mu.Lock()
	conn, closed := s.conns[ep], s.closed
	s.mu.Unlock()
	if closed {
		st, err := cli.Status(ctx, ep)
		return st, nil, err
	}
	if conn == nil {
		c, err := cli.Dial(ep)
		if err != nil {
			return nil, nil, err
		}
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			c.Close()
			st, err := cli.Status(ctx, ep)
			return st, nil, err
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
	// Not clientv3's call options: they wait for a connection that is not
	// ready (WaitForReady), which on a broken one is its reconnect back-off
	// or the whole deadline; failing at once leaves the time for a new one.
	resp, err := pb.NewMaintenanceClient(conn).Status(ctx, &pb.StatusRequest{}, grpc.WaitForReady(false))
	if err != nil {
		return nil, conn, err
	}
	return (*clientv3.StatusResponse)(resp), conn, nil
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
