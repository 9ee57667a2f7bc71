package node_test

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"nodectl/cluster"
	"nodectl/cluster/api"
	"nodectl/node/nodetest"
)

// An election entry of a previous run of this master (its address, another
// id: killed with kill -9) is not a live leader to the agent of the same
// process (LeaderKnownLive, which gates its first registration): it would
// be redirected to its own master and wait out its backoff. Leader still
// reports the entry, which is what the election holds. The entry here has
// no lease, so the new run cannot revoke it (as it does a real one at
// once) and the state holds until the test deletes it; then the new run
// leads and is a live leader.
func TestStaleOwnElectionEntryIsNoLiveLeader(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cli := oneMemberEtcd(t)
	port := nodetest.FreePort(t)
	listenAPI(t, port)
	stale, _ := json.Marshal(api.MasterInfo{ID: "previous-run", IP: "127.0.0.1", Port: port, Hostname: "127.0.0.1"})
	const key = "/nodectl/election/0000000000000001"
	if _, err := cli.Put(t.Context(), key, string(stale)); err != nil {
		t.Fatal(err)
	}

	m, _ := runMaster(t, cluster.Config{Etcd: cli, Hostname: "127.0.0.1", IP: "127.0.0.1", Port: port, Logger: log})
	nodetest.WaitFor(t, 30*time.Second, "the previous run's entry observed", func() bool {
		l, ok := m.Leader()
		return ok && l.ID == "previous-run"
	})
	if m.LeaderKnownLive() {
		t.Fatal("the previous run's entry taken for a live leader")
	}
	if _, err := cli.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 30*time.Second, "the new run elected", m.IsLeader)
	if !m.LeaderKnownLive() {
		t.Errorf("leading, yet no live leader known")
	}
}
