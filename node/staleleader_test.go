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
// id: killed with kill -9, its lease not yet expired) is not a live leader
// to the agent of the same process (LeaderKnownLive, which gates its first
// registration): it would be redirected to its own master and wait out its
// backoff. The new run revokes the entry and leads; then it is.
func TestStaleOwnElectionEntryIsNoLiveLeader(t *testing.T) {
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
		l, ok := m.Leader()
		if ok && l.ID == "previous-run" && m.LeaderKnownLive() {
			t.Fatalf("the previous run's entry taken for a live leader: %+v", l)
		}
		return m.IsLeader()
	})
	if !m.LeaderKnownLive() {
		t.Errorf("leading, yet no live leader known")
	}
}
