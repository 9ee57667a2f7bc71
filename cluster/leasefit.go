package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// The leader's lease follows the cluster's size within a term.
//
// A term starts on a lease fitted to the etcd membership then (termLeaseTTL).
// Membership changes while a master leads: a lone master that others join
// would otherwise keep its long SoloLeaseTTL, and a paused leader would hold
// its successors off for a minute; a cluster shrunk to one master would
// keep the short HALeaseTTL and give up leadership to nobody whenever a
// keep-alive is late. So the leader re-fits its lease whenever the
// membership calls for another TTL: it grants a lease of the new TTL and,
// in one transaction conditioned on its election key's create revision (the
// term's fencing token), re-puts the election key and its presence key
// under that lease. A put keeps a key's create revision, so the term, its
// fence and the election order are unchanged; only the lease behind them
// is new. The old lease is then revoked; nothing is attached to it any
// more.
//
// Started learners count as members: a joining master is a learner that
// starts and catches up before it is promoted, so the leader has moved to
// the short lease before the new member can vote. The leader re-checks
// every QuorumCheckInterval, and Promote re-fits synchronously (counting
// the learner it promotes) before it promotes, when this master leads, so
// that no vote is cast while the leader holds a long lease.
//
// Safety does not depend on any of this: every write of a term is a
// transaction conditioned on the election key's create revision, and a
// successor is only elected once that key is gone, so a deposed leader
// commits nothing whatever its TTL. What the TTL decides is liveness: how
// long a hung leader holds its successors off, and how long a lone leader
// survives a stall (CPU starvation, a slow fdatasync) without ending its
// term.

// termLease is the session (lease) currently backing a term's keys; a
// re-fit replaces it.
type termLease struct {
	ctx context.Context // the term's: the sessions' keep-alives end with it

	mu      sync.Mutex // guards the fields below
	sess    *concurrency.Session
	ttl     time.Duration
	swapped chan struct{} // closed, and replaced, when sess is replaced
	// extra are sessions a failed move may have left keys on; they are
	// closed with the term.
	extra []*concurrency.Session
}

func newTermLease(ctx context.Context, sess *concurrency.Session, ttl time.Duration) *termLease {
	return &termLease{ctx: ctx, sess: sess, ttl: ttl, swapped: make(chan struct{})}
}

// current is the session backing the term now, its TTL, and a channel
// closed when it is replaced.
func (tl *termLease) current() (*concurrency.Session, time.Duration, <-chan struct{}) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.sess, tl.ttl, tl.swapped
}

// isCurrent reports whether s still backs the term.
func (tl *termLease) isCurrent(s *concurrency.Session) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.sess == s
}

// close revokes the term's leases (its keys go with them).
func (tl *termLease) close() {
	tl.mu.Lock()
	all := append([]*concurrency.Session{tl.sess}, tl.extra...)
	tl.mu.Unlock()
	for _, s := range all {
		_ = s.Close()
	}
}

// fittingTTL is the lease TTL the membership calls for: Config.LeaseTTL
// when set; else SoloLeaseTTL while etcd has one member that votes or may
// soon (a voter, a learner that has started, the learner being promoted),
// HALeaseTTL when it has more. A learner that never started (a join that
// died; Join removes it on a retry) does not count: it cannot vote before
// it starts and catches up, and the lone master keeps its long lease.
func (m *Master) fittingTTL(ctx context.Context, promoting uint64, opts ...clientv3.OpOption) (time.Duration, error) {
	if m.cfg.LeaseTTL > 0 {
		return m.cfg.LeaseTTL, nil
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := m.cfg.Etcd.MemberList(lctx, opts...)
	if err != nil {
		return 0, fmt.Errorf("etcd members: %w", err)
	}
	n := 0
	for _, x := range list.Members {
		if !x.IsLearner || x.Name != "" || x.ID == promoting {
			n++
		}
	}
	if n <= 1 {
		return SoloLeaseTTL, nil
	}
	return HALeaseTTL, nil
}

// leaseFit re-fits one leading term's lease.
type leaseFit struct {
	m    *Master
	tl   *termLease
	key  string            // the election key
	rev  int64             // its create revision: the term's fence
	keys map[string]string // every key on the term's lease, with its value
}

// errLeaseUnchanged: the membership could not be read, or a new lease not
// granted; the term is on the lease it was on.
var errLeaseUnchanged = errors.New("leadership lease unchanged")

// fit moves the term to a lease of the TTL the membership calls for, if it
// is not on one already. An error other than errLeaseUnchanged leaves
// the lease in doubt: the term must end (the caller's lease guard has
// already stopped it acting).
func (f *leaseFit) fit(ctx context.Context, promoting uint64) error {
	m := f.m
	want, err := m.fittingTTL(ctx, promoting)
	if err != nil {
		return fmt.Errorf("%w: %w", errLeaseUnchanged, err)
	}
	m.leaseMu.Lock()
	defer m.leaseMu.Unlock()
	old, ttl, _ := f.tl.current()
	if want == ttl {
		return nil
	}
	sent := time.Now()
	ns, err := concurrency.NewSession(m.cfg.Etcd, concurrency.WithTTL(int(want.Seconds()+0.5)), concurrency.WithContext(f.tl.ctx))
	if err != nil {
		return fmt.Errorf("%w: grant a %s lease: %w", errLeaseUnchanged, want, err)
	}
	// From the move on, the keys live only as long as the new lease: it
	// was granted for at least want after sent. Lowered before the move,
	// so no moment overstates it; confirmations wait for leaseMu.
	m.mu.Lock()
	if until := sent.Add(want); m.leaseFitter == f && until.Before(m.leaseUntil) {
		m.leaseUntil = until
	}
	m.mu.Unlock()
	tctx, cancel := context.WithTimeout(ctx, max(want/2, time.Second))
	defer cancel()
	ops := make([]clientv3.Op, 0, len(f.keys))
	for k, v := range f.keys {
		ops = append(ops, clientv3.OpPut(k, v, clientv3.WithLease(ns.Lease())))
	}
	resp, err := m.cfg.Etcd.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)).Then(ops...).Commit()
	if err != nil {
		// It may have committed: the keys may be on either lease. Keep
		// both until the term ends, and stop acting now.
		f.tl.mu.Lock()
		f.tl.extra = append(f.tl.extra, ns)
		f.tl.mu.Unlock()
		f.stopActing()
		return fmt.Errorf("move the leadership lease to %s: %w", want, err)
	}
	if !resp.Succeeded {
		_ = ns.Close()
		f.stopActing()
		return fmt.Errorf("%w: election key gone before the lease moved", ErrLostLeadership)
	}
	f.tl.mu.Lock()
	f.tl.sess, f.tl.ttl = ns, want
	close(f.tl.swapped)
	f.tl.swapped = make(chan struct{})
	f.tl.mu.Unlock()
	m.mu.Lock()
	ours := m.leaseFitter == f
	if ours {
		m.leaseTTL = want
	}
	m.mu.Unlock()
	// Nothing is attached to the old lease now; revoking it only saves
	// etcd the wait.
	old.Orphan()
	rctx, rcancel := context.WithTimeout(ctx, time.Second)
	_, _ = m.cfg.Etcd.Revoke(rctx, old.Lease())
	rcancel()
	m.m.leaseMoves.Inc()
	m.log.Info("leadership lease fitted to the etcd membership", "from", ttl, "to", want)
	if !ours {
		return nil // the term ended meanwhile
	}
	// A confirmation of the new lease can only raise leaseUntil to what
	// etcd vouches for.
	if err := m.confirmLease(ctx, ns.Lease(), want); err != nil && errors.Is(err, ErrLostLeadership) {
		return err
	}
	return nil
}

// stopActing ends acting at once: the lease behind the term is in doubt.
// A fit that outlived its term (Promote holds on to it) leaves the next
// term alone.
func (f *leaseFit) stopActing() {
	f.m.mu.Lock()
	if f.m.leaseFitter == f {
		f.m.leaseUntil = time.Time{}
	}
	f.m.mu.Unlock()
}

// loop re-fits the lease every QuorumCheckInterval until ctx ends; a move
// that failed ends the term.
func (f *leaseFit) loop(ctx context.Context) error {
	t := time.NewTicker(f.m.cfg.QuorumCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := f.fit(ctx, 0)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, errLeaseUnchanged) {
			f.m.log.Warn("leadership lease could not be fitted to the membership; stepping down", "err", err)
			return fmt.Errorf("%w: %w", ErrLostLeadership, err)
		}
	}
}

// refitLease re-fits the leading term's lease now, counting the member
// about to be promoted (a no-op when this master does not lead). Promote
// calls it before a learner becomes a voter.
func (m *Master) refitLease(ctx context.Context, promoting uint64) error {
	m.mu.Lock()
	fit := m.leaseFitter
	m.mu.Unlock()
	if fit == nil {
		return nil
	}
	return fit.fit(ctx, promoting)
}
