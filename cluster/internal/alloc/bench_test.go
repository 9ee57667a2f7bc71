package alloc

import (
	"fmt"
	"testing"
	"time"
)

// benchCluster is 1,000 agents (benchClusterOf: n) and 10 frameworks in 5 roles (one of them
// weighted), agents carrying ports and, on every tenth, a reservation.
func benchCluster(b *testing.B) *Allocator { return benchClusterOf(b, 1000) }

func benchClusterOf(b *testing.B, n int) *Allocator {
	a := newAlloc(b)
	for i := range n {
		spec := "cpus:32;mem:131072;disk:1000000;ports:[31000-32000]"
		if i%10 == 0 {
			spec += ";cpus(r1):4;mem(r1):8192"
		}
		mustOK(b, a.AddAgent(Agent{ID: fmt.Sprintf("agent-%04d", i), Hostname: fmt.Sprintf("host-%04d", i), Resources: res(b, spec)}, nil))
	}
	for i := range 10 {
		mustOK(b, a.AddFramework(Framework{ID: fmt.Sprintf("fw-%02d", i), Roles: []string{fmt.Sprintf("r%d", i%5)}, Checkpoint: true}))
	}
	mustOK(b, a.UpdateWeights(map[string]float64{"r0": 2}))
	return a
}

func recoverAll(b *testing.B, a *Allocator, offers []Offer, refuse time.Duration, now time.Time) {
	for _, o := range offers {
		mustOK(b, a.RecoverResources(Recovery{FrameworkID: o.FrameworkID, AgentID: o.AgentID, Role: o.Role, Resources: o.Resources, Refuse: refuse}, now))
	}
}

// BenchmarkAllocate1000Agents times one Allocate round on 1,000 agents and
// 10 frameworks:
//   - offer-all: every agent is free and gets offered (1,000+ offers); the
//     offers are declined without a filter between rounds, off the clock.
//   - declined: every framework has filtered every agent, so the round
//     checks 10 filters per agent and offers nothing.
//   - idle: everything is already offered; the round finds nothing free.
//   - decline-cycle: a round plus declining all its offers, on the clock.
func BenchmarkAllocate1000Agents(b *testing.B) {
	b.Run("offer-all", func(b *testing.B) {
		a := benchCluster(b)
		b.ReportAllocs()
		for b.Loop() {
			offers := a.Allocate(epoch)
			b.StopTimer()
			if len(offers) < 1000 {
				b.Fatalf("got %d offers", len(offers))
			}
			recoverAll(b, a, offers, 0, epoch)
			b.StartTimer()
		}
	})
	b.Run("declined", func(b *testing.B) {
		a := benchCluster(b)
		for range 10 {
			recoverAll(b, a, a.Allocate(epoch), time.Hour, epoch)
		}
		if got := a.Allocate(epoch); len(got) != 0 {
			b.Fatalf("setup left %d offers", len(got))
		}
		b.ReportAllocs()
		for b.Loop() {
			if len(a.Allocate(epoch)) != 0 {
				b.Fatal("offered through a filter")
			}
		}
	})
	b.Run("idle", func(b *testing.B) {
		a := benchCluster(b)
		a.Allocate(epoch)
		b.ReportAllocs()
		for b.Loop() {
			a.Allocate(epoch)
		}
	})
	b.Run("decline-cycle", func(b *testing.B) {
		a := benchCluster(b)
		b.ReportAllocs()
		for b.Loop() {
			recoverAll(b, a, a.Allocate(epoch), 0, epoch)
		}
	})
}

// BenchmarkAllocateOneFreed times what a busy leader does most: one
// agent's resources come back (a task ended, an offer was declined) and a
// round offers them, everything else being offered already. The round
// should not cost more with more agents.
func BenchmarkAllocateOneFreed(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			a := benchClusterOf(b, n)
			out := a.Allocate(epoch)
			if len(out) < n {
				b.Fatalf("got %d offers", len(out))
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				o := out[i%len(out)]
				recoverAll(b, a, []Offer{o}, 0, epoch)
				got := a.Allocate(epoch)
				if len(got) != 1 {
					b.Fatalf("round offered %d, want the one freed", len(got))
				}
				out[i%len(out)] = got[0]
				i++
			}
		})
	}
}

// BenchmarkResources times the resource arithmetic the allocator leans on.
func BenchmarkResources(b *testing.B) {
	x := res(b, "cpus:32;mem:131072;disk:1000000;ports:[31000-32000]")
	y := res(b, "cpus:1;mem:1024;ports:[31005-31005]")
	b.Run("Add", func(b *testing.B) {
		for b.Loop() {
			_ = x.Add(y)
		}
	})
	b.Run("Subtract", func(b *testing.B) {
		for b.Loop() {
			_ = x.Subtract(y)
		}
	})
	b.Run("Contains", func(b *testing.B) {
		for b.Loop() {
			_ = x.Contains(y)
		}
	})
}

// BenchmarkAllocateQuota1000Agents is decline-cycle with quota: r1 is
// guaranteed a tenth of the cluster, r2 limited to a tenth, so every
// round runs both quota stages over all 1,000 agents.
func BenchmarkAllocateQuota1000Agents(b *testing.B) {
	a := benchCluster(b)
	mustOK(b, a.SetQuotas(map[string]Quota{
		"r1": {Guarantees: map[string]float64{"cpus": 3200, "mem": 13107200}},
		"r2": {Limits: map[string]float64{"cpus": 3200}},
	}))
	b.ReportAllocs()
	for b.Loop() {
		recoverAll(b, a, a.Allocate(epoch), 0, epoch)
	}
}
