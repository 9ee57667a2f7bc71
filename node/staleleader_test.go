package node_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
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
	listenAPI(t, port)
	// The previous run's campaign, as concurrency.Election writes it.
	lease, err := cli.Grant(t.Context(), 60)
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := json.Marshal(api.MasterInfo{ID: "previous-run", IP: "127.0.0.1", Port: port, Hostname: "127.0.0.1"})
	if _, err := cli.Put(t.Context(), fmt.Sprintf("/nodectl/election/%x", lease.ID), string(stale), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}

	m, _ := runMaster(t, cluster.Config{Etcd: cli, Hostname: "127.0.0.1", IP: "127.0.0.1", Port: port, Logger: log})
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
