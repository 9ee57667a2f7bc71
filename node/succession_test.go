package node_test

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster"
	"nodectl/node/nodetest"
)

// A registration answer lists the masters in the order they would lead,
// and the order holds: when the leader goes, the first of the others takes
// over. Agents try them in that order after losing their leader, so the
// first master they reach is the new leader, not a standby that redirects.
// The masters' addresses sort the other way from their queue.
func TestMastersListedInSuccessionOrder(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cli := oneMemberEtcd(t)

	campaigning := func() int64 {
		resp, err := cli.Get(t.Context(), "/nodectl/election/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return -1
		}
		return resp.Count
	}
	type running struct {
		m    *cluster.Master
		addr string
		stop func()
	}
	start := func(port int, queued int64) running {
		t.Helper()
		listenAPI(t, port)
		m, stop := runMaster(t, cluster.Config{Etcd: cli, Hostname: "127.0.0.1", IP: "127.0.0.1", Port: port, Logger: log})
		nodetest.WaitFor(t, 20*time.Second, fmt.Sprintf("master on port %d campaigning", port), func() bool { return campaigning() == queued })
		return running{m, fmt.Sprintf("127.0.0.1:%d", port), stop}
	}
	p1, p2, p3 := nodetest.FreePort(t), nodetest.FreePort(t), nodetest.FreePort(t)
	first := start(p1, 1)
	nodetest.WaitFor(t, 20*time.Second, "first master elected", first.m.IsLeader)
	// The next in line has the larger port: by address it would come last.
	next, last := start(max(p2, p3), 2), start(min(p2, p3), 3)

	want := []string{first.addr, next.addr, last.addr}
	nodetest.WaitFor(t, 10*time.Second, "all three masters present", func() bool { return len(first.m.MasterAddrs(t.Context())) == 3 })
	if got := first.m.MasterAddrs(t.Context()); !slices.Equal(got, want) {
		t.Fatalf("leader lists %v, want the election's order %v", got, want)
	}

	first.stop()
	nodetest.WaitFor(t, 30*time.Second, "a new leader", func() bool { return next.m.IsLeader() || last.m.IsLeader() })
	if last.m.IsLeader() {
		t.Fatalf("%s took over; the list said %s would", last.addr, next.addr)
	}
	// The old leader's presence lasts until its lease ends; it no longer
	// campaigns, so it comes after those that do.
	if got := next.m.MasterAddrs(t.Context()); len(got) < 2 || !slices.Equal(got[:2], []string{next.addr, last.addr}) {
		t.Errorf("new leader lists %v, want %s then %s first", got, next.addr, last.addr)
	}
}
