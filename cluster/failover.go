package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// Leader fencing and fast failover.
//
// A leader acts only while etcd has confirmed that its election lease
// outlives the present: confirmLease/guardLease ask etcd for the lease's
// remaining TTL (whole seconds, rounded down) and set leaseUntil to the
// time the question was sent plus that TTL. The lease cannot expire before
// then, so no successor can be elected before then; past it, the leader
// stops launching and killing (actingLocked) and its term ends. Its store
// writes are fenced as well: each transaction compares the election key's
// create revision (etcdStore).
//
// After kill -9 the lease would live on for up to its TTL. Standbys
// shorten that: probeLeader dials the leader's API port, and when the
// port refuses connections (the process is gone; a hung or partitioned
// leader times out instead and is left to its lease) it revokes the
// leader's lease, which deletes its election key and lets the next
// campaigner in at once.

// Lease TTLs by cluster size, when Config.LeaseTTL leaves it open.
const (
	// HALeaseTTL is the lease of a master whose etcd has several voting
	// members: a hung leader is replaced within it.
	HALeaseTTL = 3 * time.Second
	// SoloLeaseTTL is the lease of a master whose etcd is one member
	// (one voter, no learner). No other master can take over, so its
	// length costs no failover time (a restarted master revokes its
	// previous incarnation's lease at once: revokeOwnStaleCampaign); it
	// is long enough that neither a keep-alive starved of CPU nor etcd
	// stalled on a slow fdatasync (12 s measured with dd writers beside
	// it on the same filesystem), nor the whole process stopped for
	// tens of seconds, ends the term. When others join, the leader moves
	// to HALeaseTTL before they can vote (leasefit.go).
	SoloLeaseTTL = 60 * time.Second
)

// termLeaseTTL is the lease TTL of a new term: Config.LeaseTTL when set,
// else fitted to the etcd membership (fittingTTL; HALeaseTTL when it
// cannot be read: failover stays fast when in doubt). A leading term
// re-fits it when the membership changes (leasefit.go).
func (m *Master) termLeaseTTL(ctx context.Context) time.Duration {
	ttl, err := m.fittingTTL(ctx, 0, clientv3.WithSerializable())
	if err != nil {
		m.log.Warn("etcd members unknown; leadership lease for a multi-master cluster", "ttl", HALeaseTTL, "err", err)
		return HALeaseTTL
	}
	return ttl
}

// confirmLease sets leaseUntil from etcd's view of the lease, a lease of
// ttl.
func (m *Master) confirmLease(ctx context.Context, lease clientv3.LeaseID, ttl time.Duration) error {
	sent := time.Now()
	cctx, cancel := context.WithTimeout(ctx, max(ttl/4, 100*time.Millisecond))
	defer cancel()
	r, err := m.cfg.Etcd.TimeToLive(cctx, lease)
	if err != nil {
		return fmt.Errorf("confirm leadership lease: %w", err)
	}
	if r.TTL < 0 {
		return fmt.Errorf("%w: election lease expired", ErrLostLeadership)
	}
	// TTL is rounded down: the lease lives at least that long from when
	// the question was sent. 0 (under a second left) extends nothing.
	m.mu.Lock()
	if until := sent.Add(time.Duration(r.TTL) * time.Second); until.After(m.leaseUntil) {
		m.leaseUntil = until
	}
	m.mu.Unlock()
	return nil
}

// guardLease keeps leaseUntil fresh, on whichever lease backs the term
// now, until ctx ends; it returns ErrLostLeadership once the lease is gone
// or could not be confirmed in time, which ends the term.
func (m *Master) guardLease(ctx context.Context, tl *termLease) error {
	_, ttl, _ := tl.current()
	iv := max(ttl/6, 50*time.Millisecond)
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		m.leaseMu.Lock()
		sess, cur, _ := tl.current()
		err := m.confirmLease(ctx, sess.Lease(), cur)
		m.leaseMu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if cur != ttl { // moved to a lease of another TTL
			ttl = cur
			t.Reset(max(ttl/6, 50*time.Millisecond))
		}
		if errors.Is(err, ErrLostLeadership) {
			m.log.Warn("leadership lease gone; stepping down")
			return err
		}
		m.mu.Lock()
		until := m.leaseUntil
		m.mu.Unlock()
		if time.Now().After(until) {
			m.log.Warn("leadership lease not confirmed before it could expire; stepping down", "err", err)
			return fmt.Errorf("%w: lease unconfirmed since %s", ErrLostLeadership, until.Format(time.RFC3339Nano))
		}
	}
}

// probeLeader watches the leader's API port until ctx ends; when the
// process behind it is gone, it revokes the leader's lease (if the leader
// still holds the same election key).
func (m *Master) probeLeader(ctx context.Context, leader api.MasterInfo, key string, createRev int64, lease clientv3.LeaseID) {
	if lease == 0 {
		return
	}
	t := time.NewTicker(m.cfg.DeadLeaderProbe)
	defer t.Stop()
	refused := 0
	d := net.Dialer{Timeout: max(2*m.cfg.DeadLeaderProbe, 200*time.Millisecond)}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, err := d.DialContext(ctx, "tcp", leader.Address())
		if err == nil {
			c.Close()
			refused = 0
			continue
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			refused = 0 // a timeout says nothing: the leader may only be slow
			continue
		}
		if refused++; refused < 3 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		// Revoke the lease that backs this election key now (the
		// leader may have moved it to another: leasefit.go), if it is
		// still the same key.
		resp, err := m.cfg.Etcd.Get(rctx, key)
		if err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].CreateRevision == createRev {
			if _, err = m.cfg.Etcd.Revoke(rctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err == nil {
				m.log.Warn("leader's API refuses connections: revoked its election lease", "leader", leader.PID, "leader_id", leader.ID)
				m.m.deadLeaderRevokes.Inc()
			}
		}
		cancel()
		if err == nil {
			return
		}
		refused = 0
	}
}
