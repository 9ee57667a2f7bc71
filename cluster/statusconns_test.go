package cluster

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// fakeMember answers etcd's Maintenance.Status on a port of its own and
// counts the connections it accepts.
type fakeMember struct {
	pb.UnimplementedMaintenanceServer
	addr     string
	accepted atomic.Int32
	srv      *grpc.Server
}

func (f *fakeMember) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	return &pb.StatusResponse{Leader: 1, RaftTerm: 2}, nil
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// serve starts (or starts again) f on addr ("127.0.0.1:0" the first time).
func (f *fakeMember) serve(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.srv = grpc.NewServer()
	pb.RegisterMaintenanceServer(f.srv, f)
	go func() { _ = f.srv.Serve(countingListener{ln, &f.accepted}) }()
	t.Cleanup(f.srv.Stop)
}

// A quorum read asks each member on the connection kept for its endpoint:
// the same one read after read (clientv3's Status dialled anew each time);
// one a read fails on is dropped, so a member that comes back reads
// healthy at the next read (a rolling upgrade restarts members in turn);
// a member gone is closed, and after close every read dials its own.
func TestStatusConnsKept(t *testing.T) {
	m := &fakeMember{}
	m.serve(t, "127.0.0.1:0")
	// The client's own endpoint refuses: every connection the member
	// accepts is one of the status reads'.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	base := m.accepted.Load()
	var s statusConns
	ask := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := s.status(ctx, cli, m.addr)
		if err == nil && st.RaftTerm != 2 {
			t.Fatalf("status %+v", st)
		}
		return err
	}
	for i := range 3 {
		if err := ask(); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if got := m.accepted.Load() - base; got != 1 {
		t.Fatalf("three reads made %d connections, want 1 kept", got)
	}

	m.srv.Stop() // the member restarts
	if err := ask(); err == nil {
		t.Fatal("a read of a stopped member succeeded")
	}
	if s.conns[m.addr] != nil {
		t.Fatal("the connection a read failed on is still kept")
	}
	m.serve(t, m.addr)
	if err := ask(); err != nil {
		t.Fatalf("the member back: %v", err)
	}

	// Restarted between two reads: the kept connection is broken and in
	// gRPC's reconnect back-off (a second or more) when the member is back;
	// the next read, with readQuorum's half second, must still find it.
	conn := s.conns[m.addr]
	m.srv.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for conn.GetState() != connectivity.TransientFailure {
		if time.Now().After(deadline) {
			t.Fatalf("kept connection %v, not in back-off", conn.GetState())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		conn.WaitForStateChange(ctx, conn.GetState())
		cancel()
	}
	m.serve(t, m.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	if _, err := s.status(ctx, cli, m.addr); err != nil {
		t.Fatalf("the member back while its kept connection waits to reconnect: %v", err)
	}
	cancel()

	s.keep(map[string]bool{})
	if len(s.conns) != 0 {
		t.Fatalf("a member gone keeps its connection: %v", s.conns)
	}
	s.close()
	before := m.accepted.Load()
	if err := ask(); err != nil {
		t.Fatal(err)
	}
	if err := ask(); err != nil {
		t.Fatal(err)
	}
	if got := m.accepted.Load() - before; got != 2 || len(s.conns) != 0 {
		t.Fatalf("after close: %d connections for two reads, %d kept", got, len(s.conns))
	}
}
