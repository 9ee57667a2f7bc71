package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"nodectl/cluster/api"
)

func TestParseMemberID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"8c27004baf68b985", 0x8c27004baf68b985, true},
		{"0x1f", 0x1f, true},
		{"", 0, false},
		{"0", 0, false},
		{"xyz", 0, false},
		{"1ffffffffffffffff", 0, false},
	} {
		got, err := ParseMemberID(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseMemberID(%q) = %x, %v; want %x, ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParseMemberID(%q): %v is not ErrBadRequest", c.in, err)
		}
	}
}

func TestRetryableMembershipErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{rpctypes.ErrUnhealthy, true},
		{rpctypes.ErrMemberLearnerNotReady, true},
		{rpctypes.ErrTooManyLearners, true},
		{fmt.Errorf("add learner: %w", rpctypes.ErrUnhealthy), true},
		{errors.New(rpctypes.ErrMemberLearnerNotReady.Error()), true}, // as text, after gRPC
		{rpctypes.ErrMemberNotLearner, false},                         // promoted already: done, not retried
		{rpctypes.ErrMemberNotFound, false},
		{errors.New("connection refused"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestSameURLs(t *testing.T) {
	if !sameURLs([]string{"https://a:1/"}, []string{"x", "https://a:1"}) {
		t.Error("trailing slash makes URLs differ")
	}
	if sameURLs([]string{"https://a:1"}, []string{"https://a:2"}) {
		t.Error("different ports match")
	}
}

// A leader acts only while its lease is confirmed to outlive the present;
// a master without a lease (tests' memStore) acts while elected.
func TestActingNeedsConfirmedLease(t *testing.T) {
	m, err := newMaster(Config{Port: 5050})
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.elected = true
	if !m.actingLocked() {
		t.Error("elected master without a lease guard does not act")
	}
	m.leaseGuarded = true
	m.leaseUntil = time.Now().Add(time.Hour)
	if !m.actingLocked() {
		t.Error("leader with a confirmed lease does not act")
	}
	m.leaseUntil = time.Now().Add(-time.Millisecond)
	if m.actingLocked() {
		t.Error("leader acts after its lease may have expired")
	}
	// Nor does it name itself leader then: standbys' 307s must not point at it.
	info := m.info
	m.leader = &info
	m.mu.Unlock()
	_, ok := m.Leader()
	m.mu.Lock()
	if ok {
		t.Error("a leader with an unconfirmed lease reports itself as leader")
	}
}

func TestLeaseTTLBelowTwoSecondsRefused(t *testing.T) {
	if _, err := newMaster(Config{Port: 5050, LeaseTTL: time.Second}); err == nil {
		t.Error("lease TTL 1s accepted")
	}
}

// A term whose state took longer to load than the lease confirmed before
// it starts acting at once: becomeLeader confirms the lease after loading,
// so a framework woken by the term event finds IsLeader true (with
// thousands of agents the load took seconds and the built-in Marathon
// waited for its next recheck). A confirmation that fails starts no term.
func TestTermActsFromItsEvent(t *testing.T) {
	m, err := newMaster(Config{Port: 5050})
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	stale := time.Now().Add(-time.Second) // confirmed before a long load
	m.mu.Lock()
	m.leaseUntil = stale
	m.mu.Unlock()
	if err := m.becomeLeader(t.Context(), st, func() error { return errors.New("etcd unreachable") }); err == nil || m.IsLeader() {
		t.Fatalf("becomeLeader with a failed confirmation: err %v, leading %v", err, m.IsLeader())
	}
	ev := m.TermEvents()
	confirm := func() error {
		m.mu.Lock()
		m.leaseUntil = time.Now().Add(time.Hour)
		m.mu.Unlock()
		return nil
	}
	if err := m.becomeLeader(t.Context(), st, confirm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stepDown)
	select {
	case <-ev:
	default:
		t.Fatal("no term event")
	}
	m.mu.Lock()
	guarded := m.leaseGuarded
	m.mu.Unlock()
	if !guarded || !m.IsLeader() {
		t.Fatalf("after the term event: lease-guarded %v, leading %v; want both", guarded, m.IsLeader())
	}
}

// The masters an agent learns are in the order they would lead: the
// election's queue first, then those not campaigning, by address.
func TestSuccessionOrder(t *testing.T) {
	p := func(id, ip string) presence {
		return presence{MasterInfo: api.MasterInfo{ID: id, IP: ip, Port: 5050}}
	}
	infos := []presence{p("a", "10.0.0.1"), p("b", "10.0.0.2"), p("c", "10.0.0.3"), p("d", "10.0.0.4")}
	for _, tc := range []struct {
		queue []string
		want  string
	}{
		{[]string{"c", "a", "b", "d"}, "10.0.0.3:5050 10.0.0.1:5050 10.0.0.2:5050 10.0.0.4:5050"},
		{[]string{"b", "d"}, "10.0.0.2:5050 10.0.0.4:5050 10.0.0.1:5050 10.0.0.3:5050"},
		{nil, "10.0.0.1:5050 10.0.0.2:5050 10.0.0.3:5050 10.0.0.4:5050"},
		{[]string{"gone", "d"}, "10.0.0.4:5050 10.0.0.1:5050 10.0.0.2:5050 10.0.0.3:5050"},
	} {
		if got := strings.Join(successionOrder(infos, tc.queue), " "); got != tc.want {
			t.Errorf("queue %v: %s, want %s", tc.queue, got, tc.want)
		}
	}
	// The same address twice (a master's restart before its old presence
	// expired) is listed once.
	if got := successionOrder([]presence{p("a", "10.0.0.1"), p("a2", "10.0.0.1")}, []string{"a2"}); len(got) != 1 {
		t.Errorf("%v, want the address once", got)
	}
}
