package cluster

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// A quorum read asks each member on the connection kept for its endpoint:
// the same one read after read (clientv3's Status dialled anew each time),
// closed once the member is gone, and none kept after close. No etcd runs
// here: the endpoints refuse, which is a member down.
func TestStatusConnsKept(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var s statusConns
	ask := func(ep string) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := s.status(ctx, cli, ep); err == nil {
			t.Fatalf("status of %s: no error from a refusing endpoint", ep)
		}
	}
	a, b := "127.0.0.1:1", "127.0.0.1:2"
	ask(a)
	ask(b)
	first := s.conns[a]
	if first == nil || s.conns[b] == nil {
		t.Fatalf("connections kept: %v", s.conns)
	}
	ask(a)
	if s.conns[a] != first {
		t.Fatal("a second read dialled the member again")
	}
	s.keep(map[string]bool{a: true})
	if len(s.conns) != 1 || s.conns[a] != first {
		t.Fatalf("after b left: %v", s.conns)
	}
	s.close()
	ask(a)
	if len(s.conns) != 0 {
		t.Fatalf("a connection kept after close: %v", s.conns)
	}
}
