package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster"
	"nodectl/embed"
	"nodectl/node/nodetest"
)

// leaseFitStack is a real master on a real one-member etcd.
type leaseFitStack struct {
	master  *cluster.Master
	etcd    *clientv3.Client
	peerURL string // of the one etcd member
	log     *slog.Logger
}

func startLeaseFitStack(t *testing.T, cfg cluster.Config) *leaseFitStack {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cport, pport := nodetest.FreePort(t), nodetest.FreePort(t)
	srv, err := embed.New(embed.Config{
		Name: "leasefit", Dir: t.TempDir(),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cport), PeerURL: fmt.Sprintf("http://127.0.0.1:%d", pport),
		ListenClientURL: fmt.Sprintf("http://127.0.0.1:%d", cport), ListenPeerURL: fmt.Sprintf("http://127.0.0.1:%d", pport),
		Logger: log.With("component", "etcd"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	cfg.Etcd, cfg.Hostname, cfg.IP, cfg.Port = cli, "127.0.0.1", "127.0.0.1", nodetest.FreePort(t)
	cfg.Logger = log
	master, _ := runMaster(t, cfg)
	nodetest.WaitFor(t, 20*time.Second, "master elected", master.IsLeader)
	return &leaseFitStack{master: master, etcd: cli, peerURL: fmt.Sprintf("http://127.0.0.1:%d", pport), log: log}
}

// startLearner adds a second etcd member as a learner and starts it; stop
// stops it.
func (s *leaseFitStack) startLearner(t *testing.T) (id uint64, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cport, pport := nodetest.FreePort(t), nodetest.FreePort(t)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pport)
	add, err := s.etcd.MemberAddAsLearner(ctx, []string{peer})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := embed.New(embed.Config{
		Name: "learner", Dir: t.TempDir(), Existing: true,
		InitialCluster: "leasefit=" + s.peerURL + ",learner=" + peer,
		ClientURL:      fmt.Sprintf("http://127.0.0.1:%d", cport), PeerURL: peer,
		ListenClientURL: fmt.Sprintf("http://127.0.0.1:%d", cport), ListenPeerURL: peer,
		Logger: s.log.With("component", "etcd-learner"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(srv.Close) }
	t.Cleanup(stop)
	return add.Member.ID, stop
}

func (s *leaseFitStack) metric(name string) float64 { return s.master.Metrics().Snapshot()[name] }

// electionKey is the leader's election key: its create revision (the
// term's fencing token) and the TTL granted to the lease it is on.
func (s *leaseFitStack) electionKey(t *testing.T) (createRev int64, grantedTTL int64, lease clientv3.LeaseID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.etcd.Get(ctx, "/nodectl/election/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("election key: %v (%d keys)", err, len(resp.Kvs))
	}
	kv := resp.Kvs[0]
	ttl, err := s.etcd.TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
	if err != nil {
		t.Fatalf("election key's lease: %v", err)
	}
	return kv.CreateRevision, ttl.GrantedTTL, clientv3.LeaseID(kv.Lease)
}

// fencedPut writes key in a transaction under the master's term fence,
// as the built-in Marathon does, and reports whether it committed.
func (s *leaseFitStack) fencedPut(t *testing.T, cmp clientv3.Cmp, key string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.etcd.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, "x")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	return resp.Succeeded
}

// TestLeaseFollowsMembership: a lone master leads on the long solo lease;
// once a learner has joined etcd and started, it moves to the short HA lease within the
// same term (same election key create revision, so the fence of the term
// still commits, and no leader change); once the learner is removed, back
// to the long one.
func TestLeaseFollowsMembership(t *testing.T) {
	// Not t.Parallel: the term must survive the move to the short HA
	// lease, which the other tests' load beside it can starve.
	s := startLeaseFitStack(t, cluster.Config{QuorumCheckInterval: 100 * time.Millisecond})
	if got := s.metric("master/leader_lease_ttl_secs"); got != cluster.SoloLeaseTTL.Seconds() {
		t.Fatalf("lone master's lease TTL %vs, want %v", got, cluster.SoloLeaseTTL)
	}
	rev0, ttl0, lease0 := s.electionKey(t)
	if ttl0 != int64(cluster.SoloLeaseTTL.Seconds()) {
		t.Errorf("election key's lease granted %ds, want %v", ttl0, cluster.SoloLeaseTTL)
	}
	fence, err := s.master.Fence()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A learner that has started: a master joining (etcd keeps its quorum
	// of one voter).
	learner, stopLearner := s.startLearner(t)
	nodetest.WaitFor(t, 30*time.Second, "the lease moved to the HA TTL", func() bool {
		return s.metric("master/leader_lease_ttl_secs") == cluster.HALeaseTTL.Seconds()
	})
	rev1, ttl1, _ := s.electionKey(t)
	if rev1 != rev0 || ttl1 != int64(cluster.HALeaseTTL.Seconds()) {
		t.Errorf("election key after the move: create revision %d, lease %ds; want %d, %v", rev1, ttl1, rev0, cluster.HALeaseTTL)
	}
	if !s.master.IsLeader() || !s.fencedPut(t, fence, "/leasefit/after-grow") {
		t.Error("the term's fence no longer commits after the lease moved")
	}

	stopLearner()
	if _, err := s.etcd.MemberRemove(ctx, learner); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 30*time.Second, "the lease back on the solo TTL", func() bool {
		return s.metric("master/leader_lease_ttl_secs") == cluster.SoloLeaseTTL.Seconds()
	})
	if rev2, _, _ := s.electionKey(t); rev2 != rev0 || !s.fencedPut(t, fence, "/leasefit/after-shrink") {
		t.Errorf("after the shrink: create revision %d (want %d), or the term's fence refused", rev2, rev0)
	}
	if got := s.metric("master/leader_changes"); got != 1 {
		t.Errorf("master/leader_changes = %v, want 1: the moves are within one term", got)
	}
	if got := s.metric("master/leader_lease_moves"); got != 2 {
		t.Errorf("master/leader_lease_moves = %v, want 2", got)
	}
	// The first lease was revoked when the term left it, not left to
	// run out.
	if ttl, err := s.etcd.TimeToLive(ctx, lease0); err != nil || ttl.TTL != -1 {
		t.Errorf("the term's first lease after the moves: %+v, %v; want revoked (TTL -1)", ttl, err)
	}
}

// TestLeaseFitBeforePromote: a learner that never started does not take
// the lone master's long lease away; the leader moves to the short lease
// when it is asked to promote a learner, before the promotion, even when
// its own periodic check would come much later.
func TestLeaseFitBeforePromote(t *testing.T) {
	// Not t.Parallel: the term must survive the move to the short HA
	// lease, which the other tests' load beside it can starve.
	s := startLeaseFitStack(t, cluster.Config{QuorumCheckInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	add, err := s.etcd.MemberAddAsLearner(ctx, []string{fmt.Sprintf("http://127.0.0.1:%d", nodetest.FreePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.metric("master/leader_lease_ttl_secs"); got != cluster.SoloLeaseTTL.Seconds() {
		t.Fatalf("lease TTL %vs before the promotion, want %v (periodic check off)", got, cluster.SoloLeaseTTL)
	}
	// The learner never started, so etcd refuses to promote it (not
	// caught up); the lease is fitted before that is even asked.
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if err := s.master.Promote(pctx, add.Member.ID); err == nil {
		t.Fatal("an unstarted learner was promoted")
	}
	if got := s.metric("master/leader_lease_ttl_secs"); got != cluster.HALeaseTTL.Seconds() {
		t.Errorf("lease TTL %vs after a promotion was asked, want %v", got, cluster.HALeaseTTL)
	}
	if _, ttl, _ := s.electionKey(t); ttl != int64(cluster.HALeaseTTL.Seconds()) {
		t.Errorf("election key's lease %ds, want %v", ttl, cluster.HALeaseTTL)
	}
	if !s.master.IsLeader() || s.metric("master/leader_changes") != 1 {
		t.Error("the move ended the term")
	}
}
