package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster"
	"nodectl/cluster/api"
	"nodectl/node/nodetest"
)

// An election entry of a previous run of this master (its address, another
// id: killed with kill -9, its lease not yet expired) is no leader: the new
// master revokes it and leads, and never reports it as the leader meanwhile
// (an agent in the same process would register with it and be redirected
// to its own master, then wait out its backoff).
func TestStaleOwnElectionEntryIsNoLeader(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cli := oneMemberEtcd(t)
	port := nodetest.FreePort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	// The previous run's campaign, as concurrency.Election writes it.
	lease, err := cli.Grant(t.Context(), 60)
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := json.Marshal(api.MasterInfo{ID: "previous-run", IP: "127.0.0.1", Port: port, Hostname: "127.0.0.1"})
	if _, err := cli.Put(t.Context(), fmt.Sprintf("/nodectl/election/%x", lease.ID), string(stale), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}

	m, err := cluster.New(cluster.Config{Etcd: cli, Hostname: "127.0.0.1", IP: "127.0.0.1", Port: port, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	nodetest.WaitFor(t, 30*time.Second, "the new run elected", func() bool {
		if l, ok := m.Leader(); ok && l.ID == "previous-run" {
			t.Fatalf("the previous run's entry reported as the leader: %+v", l)
		}
		return m.IsLeader()
	})
	if l, ok := m.Leader(); !ok || l.ID == "previous-run" {
		t.Errorf("leader %+v, %v: want this run", l, ok)
	}
}
