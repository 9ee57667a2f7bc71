package cluster

import (
	"testing"
	"time"

	"nodectl/cluster/api"
)

func TestRaftTransferee(t *testing.T) {
	member := func(id, name string, leader bool) api.Member {
		return api.Member{ID: id, Name: name, Started: true, Healthy: true, Leader: leader, Master: name + ":5050"}
	}
	three := func(mutate func(ms []api.Member)) api.Quorum {
		ms := []api.Member{member("a1", "m1", true), member("b2", "m2", false), member("c3", "m3", false)}
		if mutate != nil {
			mutate(ms)
		}
		return api.Quorum{Members: ms, Voters: 3}
	}
	for _, c := range []struct {
		name string
		q    api.Quorum
		own  string
		want uint64 // 0: none
	}{
		{"own member leads: the first other voter", three(nil), "m1", 0xb2},
		{"another member leads: nothing to do", three(nil), "m2", 0},
		{"own member unknown", three(nil), "", 0},
		{"an unhealthy voter is skipped", three(func(ms []api.Member) { ms[1].Healthy = false }), "m1", 0xc3},
		{"a learner is skipped", three(func(ms []api.Member) { ms[1].Learner = true }), "m1", 0xc3},
		{"a member without a running master is skipped", three(func(ms []api.Member) { ms[1].Master = "" }), "m1", 0xc3},
		{"a member not started is skipped", three(func(ms []api.Member) { ms[1].Started = false }), "m1", 0xc3},
		{"no voter to take it", three(func(ms []api.Member) { ms[1].Healthy, ms[2].Healthy = false, false }), "m1", 0},
		{"fewer than three voters: left where it is", api.Quorum{Members: []api.Member{member("a1", "m1", true), member("b2", "m2", false)}, Voters: 2}, "m1", 0},
	} {
		got, ok := raftTransferee(c.q, c.own)
		if ok != (c.want != 0) || got != c.want {
			t.Errorf("%s: got %x (%t), want %x", c.name, got, ok, c.want)
		}
	}
}

func TestRaftMoveSpacing(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	if got := nextRaftMoveSpacing(t0, time.Time{}, 0); got != raftMoveSpacing {
		t.Errorf("first hand-over: spacing %s, want %s", got, raftMoveSpacing)
	}
	// Leadership keeps coming back: each hand-over waits twice as long.
	sp, last := raftMoveSpacing, t0
	for _, want := range []time.Duration{20 * time.Second, 40 * time.Second, 80 * time.Second} {
		now := last.Add(sp)
		sp, last = nextRaftMoveSpacing(now, last, sp), now
		if sp != want {
			t.Fatalf("hand-over soon after the last: spacing %s, want %s", sp, want)
		}
	}
	if got := nextRaftMoveSpacing(t0, t0.Add(-time.Second), raftMoveSpacingMax); got != raftMoveSpacingMax {
		t.Errorf("spacing grew past its bound: %s", got)
	}
	if got := nextRaftMoveSpacing(t0, t0.Add(-raftMoveCalm), 80*time.Second); got != raftMoveSpacing {
		t.Errorf("after a calm %s: spacing %s, want %s", raftMoveCalm, got, raftMoveSpacing)
	}
}
