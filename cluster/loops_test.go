package cluster

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/cluster/api"
)

// TestLeaderLoops runs the real leader loops (allocation, timers, state
// writer) on the fake clock of a synctest bubble.
func TestLeaderLoops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		m, err := newMaster(Config{
			Port: 5050, AgentPingTimeout: time.Second, MaxAgentPingTimeouts: 3, OfferTimeout: 30 * time.Second,
			AllocationInterval: time.Second, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		must(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		must(t, m.becomeLeader(ctx, st, nil))
		done := make(chan error, 1)
		go func() { done <- m.lead(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("lead: %v", err)
			}
			m.stepDown()
		}()

		resp, err := m.register(api.RegisterRequest{Agent: api.AgentInfo{Hostname: "a", Port: 1, Resources: mustRes(t, "cpus:1;mem:256")}})
		must(t, err)
		q := NewEventQueue()
		sub, err := m.Subscribe(SubscribeRequest{Info: api.FrameworkInfo{Name: "f", FailoverTimeout: 10}, Sink: q})
		must(t, err)
		// A new framework is offered at once, not at the next interval.
		synctest.Wait()
		evs := mustPoll(q)
		if len(evs) != 2 || evs[1].Type != api.EventOffers {
			t.Fatalf("events %v, want SUBSCRIBED, OFFERS without waiting", eventTypes(evs))
		}
		start := time.Now()
		// The agent pings every second while the test waits.
		wait := func(d time.Duration) {
			for end := time.Now().Add(d); time.Now().Before(end); {
				time.Sleep(min(time.Second, time.Until(end)))
				must(t, m.ping(resp.AgentID))
			}
		}
		// The offer is rescinded at 30s.
		wait(30 * time.Second)
		synctest.Wait()
		evs = mustPoll(q)
		if len(evs) < 2 || evs[0].Type != api.EventRescind || evs[1].Type != api.EventOffers {
			t.Fatalf("events at %s: %v, want RESCIND then a new OFFERS", time.Since(start), eventTypes(evs))
		}
		// The framework disconnects: torn down 10s later.
		m.Unsubscribe(sub)
		wait(9 * time.Second)
		synctest.Wait()
		if m.metrics.Snapshot()["master/frameworks_disconnected"] != 1 {
			t.Fatal("framework gone before its failover timeout")
		}
		wait(1500 * time.Millisecond)
		synctest.Wait()
		if m.metrics.Snapshot()["master/frameworks_disconnected"] != 0 {
			t.Fatal("framework not torn down after its failover timeout")
		}
		// The agent stops pinging: inactive after 3 × 1s.
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()
		if got := m.metrics.Snapshot()["master/slaves_inactive"]; got != 1 {
			t.Fatalf("slaves_inactive %v", got)
		}
		// The writer committed the framework's record and its removal.
		if keys := st.keys(keyFrameworksPrefix); len(keys) != 0 || st.commits == 0 {
			t.Errorf("framework records %v after %d commits", keys, st.commits)
		}
	})
}
