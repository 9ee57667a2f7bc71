package embed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type member struct {
	name, dir, client, peer string
	srv                     *Server
}

func newMember(t *testing.T, root, name string) *member {
	return &member{
		name: name, dir: filepath.Join(root, name),
		client: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		peer:   fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
	}
}

func (m *member) start(t *testing.T, initial string, existing, force bool) error {
	t.Helper()
	srv, err := New(Config{
		Name: m.name, Dir: m.dir, ClientURL: m.client, PeerURL: m.peer, InitialCluster: initial,
		Existing: existing, ForceNewCluster: force, ReadyTimeout: 20 * time.Second,
		HeartbeatInterval: 50 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	if err := srv.Start(context.Background()); err != nil {
		return err
	}
	m.srv = srv
	t.Cleanup(srv.Close)
	return nil
}

func client(t *testing.T, eps ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// join adds m as a learner through cli, starts it and promotes it once it
// has caught up, as the master's join flow does.
func join(t *testing.T, cli *clientv3.Client, m *member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resp *clientv3.MemberAddResponse
	for {
		var err error
		// etcd refuses ("unhealthy cluster") until every voter has been
		// connected for a while: poll.
		if resp, err = cli.MemberAddAsLearner(ctx, []string{m.peer}); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("add learner %s: %v", m.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var parts []string
	for _, x := range resp.Members {
		name := x.Name
		if x.ID == resp.Member.ID {
			name = m.name
		}
		for _, u := range x.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	if err := m.start(t, strings.Join(parts, ","), true, false); err != nil {
		t.Fatalf("start learner %s: %v", m.name, err)
	}
	for {
		_, err := cli.MemberPromote(ctx, resp.Member.ID)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("promote %s: %v", m.name, err)
		}
		time.Sleep(50 * time.Millisecond) // poll: etcd says "not ready" until the learner caught up
	}
}

func voters(t *testing.T, cli *clientv3.Client) (n, learners int) {
	t.Helper()
	resp, err := cli.MemberList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.Members {
		if m.IsLearner {
			learners++
		} else {
			n++
		}
	}
	return n, learners
}

// TestMembershipLearnerJoinRemoveForceNew grows a real cluster 1 → 3 by
// learner joins, removes a member (which stops, and is refused when it
// comes back with its old data), saves and verifies a snapshot, and
// brings the survivor back alone with ForceNewCluster.
func TestMembershipLearnerJoinRemoveForceNew(t *testing.T) {
	root := t.TempDir()
	m1, m2, m3 := newMember(t, root, "m1"), newMember(t, root, "m2"), newMember(t, root, "m3")
	if err := m1.start(t, "", false, false); err != nil {
		t.Fatal(err)
	}
	cli := client(t, m1.client)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "/nodectl/x", "1"); err != nil {
		t.Fatal(err)
	}
	join(t, cli, m2)
	join(t, cli, m3)
	if n, l := voters(t, cli); n != 3 || l != 0 {
		t.Fatalf("after joins: %d voters, %d learners; want 3, 0", n, l)
	}
	// The data reached the new member.
	// m3 may not have applied its own promotion yet (a learner refuses reads).
	c3 := client(t, m3.client)
	if err := poll(func() error {
		r, err := c3.Get(ctx, "/nodectl/x")
		if err == nil && len(r.Kvs) != 1 {
			err = fmt.Errorf("%d keys, want 1", len(r.Kvs))
		}
		return err
	}); err != nil {
		t.Fatalf("read on m3: %v", err)
	}

	// Remove m3: it stops on its own.
	if err := poll(func() error { _, err := cli.MemberRemove(ctx, m3.srv.MemberID()); return err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-m3.srv.Err():
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("removed member reported %v, want ErrStopped", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("removed member kept running")
	}
	m3.srv.Close()
	// It is refused when it comes back with its data.
	if err := m3.start(t, "", true, false); !errors.Is(err, ErrStopped) {
		t.Fatalf("removed member restarted: %v, want ErrStopped", err)
	}

	// Snapshot: saved through the maintenance API, verified, readable.
	snap := filepath.Join(root, "snap.db")
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Create(snap)
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rc.Close()
	info, err := VerifySnapshot(snap)
	if err != nil || info.Keys < 1 || info.Revision < 1 {
		t.Fatalf("verify: %+v %v", info, err)
	}
	kvs, err := ReadSnapshot(snap)
	if err != nil || !hasKey(kvs, "/nodectl/x", "1") {
		t.Fatalf("read snapshot: %v %v", kvs, err)
	}
	b, _ := os.ReadFile(snap)
	b[len(b)/2] ^= 0xff
	bad := filepath.Join(root, "bad.db")
	_ = os.WriteFile(bad, b, 0o600)
	if _, err := VerifySnapshot(bad); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("corrupted snapshot verified: %v", err)
	}

	// Lose quorum: stop m2; then bring m1 back alone.
	m2.srv.Close()
	m1.srv.Close()
	if err := m1.start(t, "", false, true); err != nil {
		t.Fatalf("force new cluster: %v", err)
	}
	cli = client(t, m1.client)
	if n, l := voters(t, cli); n != 1 || l != 0 {
		t.Fatalf("after force-new-cluster: %d voters, %d learners; want 1, 0", n, l)
	}
	if _, err := cli.Put(ctx, "/nodectl/y", "2"); err != nil {
		t.Fatalf("write after reset: %v", err)
	}
	if r, err := cli.Get(ctx, "/nodectl/x"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("data after reset: %v %v", r, err)
	}
}

// poll retries f while etcd calls it unhealthy (a member joined moments ago).
func poll(f func() error) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasKey(kvs []KeyValue, k, v string) bool {
	for _, kv := range kvs {
		if string(kv.Key) == k && string(kv.Value) == v {
			return true
		}
	}
	return false
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{ClientURL: "http://a:1", PeerURL: "http://a:2"},
		{Dir: "x", PeerURL: "http://a:2"},
		{Dir: "x", ClientURL: "http://a:1", PeerURL: "http://a:2", HeartbeatInterval: time.Second, ElectionTimeout: time.Second},
		{Dir: "x", ClientURL: "http://a:1", PeerURL: "http://a:2", Existing: true, ForceNewCluster: true},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestLoneMemberCampaigns starts a new one-member cluster with 9 s ticks
// and a 49 s election timeout (5 ticks; etcd refuses 50 s or more): raft
// alone would make its first election wait 9–45 s (one tick to the whole
// timeout, after etcd's fast-forward), past the 15 s readiness deadline;
// the lone member's campaign makes it ready at once (campaignAlone),
// without a warning from etcd (raft warns of a campaign
// before the bootstrap configuration is applied).
func TestLoneMemberCampaigns(t *testing.T) {
	m := newMember(t, t.TempDir(), "alone")
	logs := &lockedBuffer{}
	srv, err := New(Config{
		Name: m.name, Dir: m.dir, ClientURL: m.client, PeerURL: m.peer, InitialCluster: m.name + "=" + m.peer,
		ReadyTimeout:      15 * time.Second,
		HeartbeatInterval: 9 * time.Second, ElectionTimeout: 49 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client(t, m.client).Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}
	if out := logs.String(); out != "" {
		t.Errorf("warnings from a new lone member's start:\n%s", out)
	}
}

// TestLoneMemberRestartCampaigns restarts a one-member cluster that has a
// log (a few hundred writes) with the same slow timer as
// TestLoneMemberCampaigns: raft alone would wait 9–45 s for its first
// election after the restart; the member campaigns once raft has applied
// its log again, so it is ready at once, warns of nothing and keeps what
// was written.
func TestLoneMemberRestartCampaigns(t *testing.T) {
	m := newMember(t, t.TempDir(), "again")
	cfg := Config{Name: m.name, Dir: m.dir, ClientURL: m.client, PeerURL: m.peer, InitialCluster: m.name + "=" + m.peer}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := client(t, m.client)
	for i := range 300 {
		if _, err := c.Put(ctx, fmt.Sprintf("k%03d", i), "v"); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	c.Close()
	srv.Close()

	logs := &lockedBuffer{}
	cfg.ReadyTimeout, cfg.HeartbeatInterval, cfg.ElectionTimeout = 15*time.Second, 9*time.Second, 49*time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c = client(t, m.client)
	if _, err := c.Put(ctx, "after", "v"); err != nil {
		t.Fatalf("put after the restart: %v", err)
	}
	resp, err := c.Get(ctx, "k", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 300 {
		t.Fatalf("keys after the restart: %v %v", resp, err)
	}
	if out := logs.String(); out != "" {
		t.Errorf("warnings from a lone member's restart:\n%s", out)
	}
}

// lockedBuffer is a bytes.Buffer safe for slog's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A joining member's start is tried again when its peers did not answer in
// time or did not yet list it (etcd's wording of both), and not for other
// failures.
func TestJoinRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("error validating peerURLs {ClusterID:1}: %w", errors.New("member count is unequal")), true},
		{errors.New("incompatible with current running cluster"), true},
		{errors.New("member 3e82b0f5ae1fe657 has already been bootstrapped"), false},
		{errors.New("listen tcp 127.0.0.1:2380: bind: address already in use"), false},
	} {
		if got := joinRetryable(tc.err); got != tc.want {
			t.Errorf("joinRetryable(%q) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
