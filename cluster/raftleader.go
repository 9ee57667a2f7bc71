package cluster

import (
	"context"
	"time"

	"nodectl/cluster/api"
)

// Raft leadership on another master than the leading one (docs/ha.md).
//
// A leading master whose etcd member is also etcd's Raft leader makes its
// machine's death two failures in series: etcd must first elect a new
// Raft leader (an election timeout, and more on a busy machine) before
// the standbys can revoke the dead leader's lease and take over. With
// etcd's leadership on another master, the leader's death is one: the
// standbys revoke its lease at once on a quorum that still has its Raft
// leader; and the Raft leader's death stalls writes for one election
// while the leading master keeps its lease (its TTL is longer). So the
// leading master hands etcd's leadership to a healthy voter that runs a
// master (etcd's MoveLeader, https://etcd.io/docs/v3.6/dev-guide/api_reference_v3/
// "Maintenance.MoveLeader"), checked with every quorum read.

// A hand-over is asked for at most every raftMoveSpacing. When etcd
// elects the leading master's member again soon after (a saturated
// machine: its member times out waiting for the Raft leader, campaigns
// and wins; 10,000 agents re-registering did that every few seconds),
// each hand-over is a write stall of its own, so the spacing doubles with
// each hand-over that follows the previous one within raftMoveCalm, up to
// raftMoveSpacingMax, and is back to raftMoveSpacing after a calm one.
const (
	raftMoveSpacing    = 10 * time.Second
	raftMoveSpacingMax = 10 * time.Minute
	raftMoveCalm       = 5 * time.Minute
)

// nextRaftMoveSpacing is the spacing after a hand-over at now, the
// previous one having been at last (zero: none) with spacing cur.
func nextRaftMoveSpacing(now, last time.Time, cur time.Duration) time.Duration {
	if last.IsZero() || now.Sub(last) >= raftMoveCalm || cur <= 0 {
		return raftMoveSpacing
	}
	return min(2*cur, raftMoveSpacingMax)
}

// raftTransferee is the member to hand etcd's leadership to: none (0,
// false) unless the member named own leads Raft and another voter is
// started, healthy and runs a master. Of several, the first by name (q's
// order), so masters asking at once agree.
func raftTransferee(q api.Quorum, own string) (uint64, bool) {
	if own == "" || q.Voters < 3 {
		return 0, false
	}
	leads := false
	for _, x := range q.Members {
		if x.Name == own {
			leads = x.Leader
		}
	}
	if !leads {
		return 0, false
	}
	for _, x := range q.Members {
		if x.Name != own && !x.Learner && x.Started && x.Healthy && x.Master != "" {
			id, err := ParseMemberID(x.ID)
			if err != nil {
				return 0, false
			}
			return id, true
		}
	}
	return 0, false
}

// placeRaftLeader hands etcd's Raft leadership away from this master's
// member when this master leads and q shows its member leading Raft.
func (m *Master) placeRaftLeader(ctx context.Context, q api.Quorum) {
	if !m.IsLeader() {
		return
	}
	to, ok := raftTransferee(q, m.cfg.EtcdMember)
	if !ok || time.Since(m.raftMoved) < m.raftSpacing {
		return
	}
	now := time.Now()
	m.raftSpacing = nextRaftMoveSpacing(now, m.raftMoved, m.raftSpacing)
	m.raftMoved = now
	mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	began := time.Now()
	// The master's etcd client talks to its own member, the Raft leader,
	// as MoveLeader requires.
	if _, err := m.cfg.Etcd.MoveLeader(mctx, to); err != nil {
		m.log.Warn("could not hand etcd's Raft leadership to another master", "to", memberID(to), "err", err)
		return
	}
	m.log.Info("handed etcd's Raft leadership to another master", "to", memberID(to), "took", time.Since(began).Round(time.Millisecond),
		"next_at_most_in", m.raftSpacing)
}
