package alloc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

func res(t testing.TB, s string) api.Resources {
	t.Helper()
	rs, err := api.ParseResources(s)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func newAlloc(t testing.TB) *Allocator {
	t.Helper()
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{MinAllocatable: []api.Resources{{api.RangesResource("ports", api.Range{Begin: 1, End: 2})}}}); err == nil {
		t.Error("New accepted a non-scalar minimum")
	}
	a, err := New(Config{MinAllocatable: []api.Resources{nil}})
	mustOK(t, err)
	mustOK(t, a.AddAgent(Agent{ID: "a1", Resources: res(t, "ports:[1-2]")}, nil))
	mustOK(t, a.AddFramework(Framework{ID: "f"}))
	if got := a.Allocate(epoch); len(got) != 1 || got[0].Role != "*" {
		t.Errorf("with no minimum, ports alone should be offered to role *: %v", got)
	}
}

// TestErrors drives each event into its failure and checks the sentinel.
func TestErrors(t *testing.T) {
	setup := func(t *testing.T) *Allocator {
		a := newAlloc(t)
		mustOK(t, a.AddAgent(Agent{ID: "a1", Resources: res(t, "cpus:4;mem:4096")}, nil))
		mustOK(t, a.AddFramework(Framework{ID: "f", Roles: []string{"r"}}))
		if offers := a.Allocate(epoch); len(offers) != 1 {
			t.Fatalf("setup: want one offer, got %v", offers)
		}
		return a
	}
	tests := []struct {
		name string
		do   func(a *Allocator) error
		want error
	}{
		{"add agent twice", func(a *Allocator) error { return a.AddAgent(Agent{ID: "a1"}, nil) }, ErrExists},
		{"add agent no id", func(a *Allocator) error { return a.AddAgent(Agent{}, nil) }, ErrUnknownAgent},
		{"add agent bad used role", func(a *Allocator) error {
			return a.AddAgent(Agent{ID: "a2"}, []Allocation{{FrameworkID: "f", Role: "-x"}})
		}, api.ErrBadResources},
		{"update unknown agent", func(a *Allocator) error { return a.UpdateAgent(Agent{ID: "zz"}) }, ErrUnknownAgent},
		{"remove unknown agent", func(a *Allocator) error { return a.RemoveAgent("zz") }, ErrUnknownAgent},
		{"activate unknown agent", func(a *Allocator) error { return a.ActivateAgent("zz") }, ErrUnknownAgent},
		{"add framework twice", func(a *Allocator) error { return a.AddFramework(Framework{ID: "f"}) }, ErrExists},
		{"add framework no id", func(a *Allocator) error { return a.AddFramework(Framework{}) }, ErrUnknownFramework},
		{"add framework bad role", func(a *Allocator) error { return a.AddFramework(Framework{ID: "g", Roles: []string{"a b"}}) }, api.ErrBadResources},
		{"add framework suppressing other role", func(a *Allocator) error {
			return a.AddFramework(Framework{ID: "g", Roles: []string{"r"}, SuppressedRoles: []string{"s"}})
		}, ErrNotSubscribed},
		{"update unknown framework", func(a *Allocator) error { return a.UpdateFramework(Framework{ID: "zz"}) }, ErrUnknownFramework},
		{"remove unknown framework", func(a *Allocator) error { return a.RemoveFramework("zz") }, ErrUnknownFramework},
		{"activate unknown framework", func(a *Allocator) error { return a.ActivateFramework("zz") }, ErrUnknownFramework},
		{"deactivate unknown framework", func(a *Allocator) error { return a.DeactivateFramework("zz") }, ErrUnknownFramework},
		{"suppress unknown framework", func(a *Allocator) error { return a.Suppress("zz") }, ErrUnknownFramework},
		{"revive other role", func(a *Allocator) error { return a.Revive("f", "s") }, ErrNotSubscribed},
		{"bad weight", func(a *Allocator) error { return a.UpdateWeights(map[string]float64{"r": 0}) }, ErrBadWeight},
		{"bad weight role", func(a *Allocator) error { return a.UpdateWeights(map[string]float64{"": 2}) }, api.ErrBadResources},
		{"allocated more than offered", func(a *Allocator) error {
			return a.Allocated("f", "a1", "r", res(t, "cpus:5"))
		}, ErrNotAllocated},
		{"allocated wrong role", func(a *Allocator) error {
			return a.Allocated("f", "a1", "s", res(t, "cpus:1"))
		}, ErrNotAllocated},
		{"allocated unknown agent", func(a *Allocator) error { return a.Allocated("f", "zz", "r", nil) }, ErrUnknownAgent},
		{"recover unknown agent", func(a *Allocator) error {
			return a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "zz", Role: "r"}, epoch)
		}, ErrUnknownAgent},
		{"recover from used before launch", func(a *Allocator) error {
			return a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "a1", Role: "r", Resources: res(t, "cpus:1"), From: Used}, epoch)
		}, ErrNotAllocated},
		{"recover more than offered", func(a *Allocator) error {
			return a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "a1", Role: "r", Resources: res(t, "cpus:4;mem:4097")}, epoch)
		}, ErrNotAllocated},
		{"recover bad pool", func(a *Allocator) error {
			return a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "a1", Role: "r", From: Pool(7)}, epoch)
		}, ErrBadPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := setup(t)
			before := snapshot(a)
			err := tt.do(a)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if after := snapshot(a); after != before {
				t.Errorf("a failed event changed state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshot renders what the allocator holds, to compare states.
func snapshot(a *Allocator) string {
	var b strings.Builder
	for _, n := range a.order {
		r, _ := a.Agent(n.info.ID)
		fmt.Fprintf(&b, "%s active=%v offered=%s used=%s free=%s; ", n.info.ID, r.Active, r.Offered, r.Used, r.Free)
	}
	for _, s := range a.Shares() {
		fmt.Fprintf(&b, "%s w=%g %.4f %v; ", s.Role, s.Weight, s.Share, s.Frameworks)
	}
	return b.String()
}

func TestAllocatedAndRecover(t *testing.T) {
	a := newAlloc(t)
	mustOK(t, a.AddAgent(Agent{ID: "a1", Hostname: "h1", Resources: res(t, "cpus:4;mem:4096;ports:[31000-31009]")}, nil))
	mustOK(t, a.AddFramework(Framework{ID: "f", Roles: []string{"r"}}))
	offers := a.Allocate(epoch)
	want := []Offer{{FrameworkID: "f", Role: "r", AgentID: "a1", Hostname: "h1", Resources: res(t, "cpus:4;mem:4096;ports:[31000-31009]")}}
	if fmt.Sprint(offers) != fmt.Sprint(want) {
		t.Fatalf("Allocate = %v, want %v", offers, want)
	}
	task := res(t, "cpus:1;mem:512;ports:[31000-31000]")
	mustOK(t, a.Allocated("f", "a1", "r", task))
	mustOK(t, a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "a1", Role: "r", Resources: offers[0].Resources.Subtract(task), From: Offered}, epoch))
	got, ok := a.Agent("a1")
	if !ok || got.Offered != nil || got.Used.String() != task.String() || got.Free.String() != "cpus:3;mem:3584;ports:[31001-31009]" {
		t.Fatalf("after launch: %+v", got)
	}
	if s := a.Shares(); len(s) != 1 || s[0].Share != 0.25 {
		t.Errorf("shares after launch: %+v", s)
	}
	mustOK(t, a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "a1", Role: "r", Resources: task, From: Used}, epoch))
	got, _ = a.Agent("a1")
	if got.Used != nil || !got.Free.Equal(got.Total) {
		t.Fatalf("after the task ended: %+v", got)
	}
	if _, ok := a.Agent("zz"); ok {
		t.Error("Agent(zz) found an unknown agent")
	}
}

// TestFilterExpiry pins the filter boundary: live before now+refuse, gone
// at it, and refuse capped at MaxRefuse.
func TestFilterExpiry(t *testing.T) {
	tests := []struct {
		refuse, at time.Duration
		offered    bool
	}{
		{refuse: 5 * time.Second, at: 0, offered: false},
		{refuse: 5 * time.Second, at: 5*time.Second - 1, offered: false},
		{refuse: 5 * time.Second, at: 5 * time.Second, offered: true},
		{refuse: 0, at: 0, offered: true},
		{refuse: -time.Second, at: 0, offered: true},
		{refuse: 1000 * 24 * time.Hour, at: MaxRefuse - 1, offered: false},
		{refuse: 1000 * 24 * time.Hour, at: MaxRefuse, offered: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("refuse %v at %v", tt.refuse, tt.at), func(t *testing.T) {
			a := newAlloc(t)
			mustOK(t, a.AddAgent(Agent{ID: "a1", Resources: res(t, "cpus:1")}, nil))
			mustOK(t, a.AddFramework(Framework{ID: "f"}))
			o := a.Allocate(epoch)[0]
			mustOK(t, a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "a1", Role: o.Role, Resources: o.Resources, Refuse: tt.refuse}, epoch))
			if got := len(a.Allocate(epoch.Add(tt.at))) == 1; got != tt.offered {
				t.Errorf("offered = %v, want %v", got, tt.offered)
			}
		})
	}
}

// TestFailover: an agent re-registering after a master failover reports
// what its tasks hold, before their frameworks re-subscribe. That counts
// for DRF at once and becomes the framework's own when it comes back.
func TestFailover(t *testing.T) {
	a := newAlloc(t)
	mustOK(t, a.AddAgent(Agent{ID: "a1", Resources: res(t, "cpus:4;mem:4096")}, []Allocation{
		{FrameworkID: "old", Role: "r", Resources: res(t, "cpus:3;mem:1024")},
	}))
	mustOK(t, a.AddAgent(Agent{ID: "a2", Resources: res(t, "cpus:4;mem:4096")}, nil))
	mustOK(t, a.AddFramework(Framework{ID: "new", Roles: []string{"s"}}))
	offers := a.Allocate(epoch)
	if len(offers) != 2 || offers[0].Resources.String() != "cpus:1;mem:3072" {
		t.Fatalf("offers = %v", offers)
	}
	mustOK(t, a.AddFramework(Framework{ID: "old", Roles: []string{"r"}}))
	if s := a.Shares(); s[0].Role != "r" || s[0].Share != 0.375 || s[0].Frameworks[0] != (FrameworkShare{"old", 0.375}) {
		t.Errorf("shares = %+v", s)
	}
	mustOK(t, a.RecoverResources(Recovery{FrameworkID: "old", AgentID: "a1", Role: "r", Resources: res(t, "cpus:3;mem:1024"), From: Used}, epoch))
	mustOK(t, a.RemoveFramework("new"))
	if got := a.Allocate(epoch); len(got) != 2 || got[0].FrameworkID != "old" || !got[0].Resources.Equal(res(t, "cpus:4;mem:4096")) {
		t.Errorf("after recovery: %v", got)
	}
}

// TestUpdateFramework: leaving a role keeps its allocations tracked there
// and drops the framework's filters in it.
func TestUpdateFramework(t *testing.T) {
	a := newAlloc(t)
	mustOK(t, a.AddAgent(Agent{ID: "a1", Resources: res(t, "cpus:4;mem:4096")}, nil))
	mustOK(t, a.AddAgent(Agent{ID: "a2", Resources: res(t, "cpus:4;mem:4096")}, nil))
	mustOK(t, a.AddFramework(Framework{ID: "f", Roles: []string{"r", "s"}}))
	offers := a.Allocate(epoch)
	if len(offers) != 2 || offers[0].Role != "r" || offers[1].Role != "s" {
		t.Fatalf("offers = %v", offers)
	}
	mustOK(t, a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "a2", Role: "s", Resources: offers[1].Resources, Refuse: time.Hour}, epoch))
	mustOK(t, a.UpdateFramework(Framework{ID: "f", Roles: []string{"r"}}))
	if got := a.Allocate(epoch); len(got) != 1 || got[0].AgentID != "a2" || got[0].Role != "r" {
		t.Errorf("after leaving s: %v", got)
	}
	if s := a.Shares(); len(s) != 1 || s[0].Role != "r" {
		t.Errorf("role s should be gone: %+v", s)
	}
	mustOK(t, a.UpdateFramework(Framework{ID: "f", Roles: []string{"s"}}))
	if s := a.Shares(); len(s) != 2 || s[0].Role != "r" || s[0].Share != 1 || len(s[0].Frameworks) != 1 {
		t.Errorf("allocations in r should stay tracked: %+v", s)
	}
}

// TestDeactivateFrameworkDropsFilters follows Mesos: a framework that
// disconnects loses its filters, so it sees everything when it is back.
func TestDeactivateFrameworkDropsFilters(t *testing.T) {
	a := newAlloc(t)
	mustOK(t, a.AddAgent(Agent{ID: "a1", Resources: res(t, "cpus:1")}, nil))
	mustOK(t, a.AddFramework(Framework{ID: "f"}))
	o := a.Allocate(epoch)[0]
	mustOK(t, a.RecoverResources(Recovery{FrameworkID: "f", AgentID: "a1", Role: "*", Resources: o.Resources, Refuse: time.Hour}, epoch))
	mustOK(t, a.DeactivateFramework("f"))
	if got := a.Allocate(epoch); got != nil {
		t.Fatalf("inactive framework offered %v", got)
	}
	mustOK(t, a.ActivateFramework("f"))
	if got := a.Allocate(epoch); len(got) != 1 {
		t.Fatalf("reactivated framework should see a1 again: %v", got)
	}
}

// TestRandomInvariants throws random events at an allocator and checks its
// books after each: every agent's incrementally kept free resources equal
// total - offered - used, and the incremental DRF sums equal sums
// recomputed from scratch. A second allocator with its caches off (the
// blocked-agent skip and the filter answers) gets the same events and must
// make the same offers.
func TestRandomInvariants(t *testing.T) {
	for seed := range uint64(150) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomRun(t, seed, 500) })
	}
}

func randomRun(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 42))
	a, ref := newAlloc(t), newAlloc(t)
	ref.noCache = true
	// do applies an event to both allocators; they must agree.
	do := func(step int, event func(*Allocator) error) error {
		err, refErr := event(a), event(ref)
		if fmt.Sprint(err) != fmt.Sprint(refErr) {
			t.Fatalf("step %d: allocator said %v, reference %v", step, err, refErr)
		}
		return err
	}
	now := epoch
	type held struct {
		Offer
		used bool
	}
	var out []held // outstanding offers and launched tasks
	roles := []string{"r1", "r2", "*"}
	agentIDs := []string{"a0", "a1", "a2", "a3", "a4"}
	fwIDs := []string{"f0", "f1", "f2"}
	offers := 0
	for step := range steps {
		switch k := rng.IntN(12); k {
		case 0:
			id := agentIDs[rng.IntN(len(agentIDs))]
			rs := res(t, fmt.Sprintf("cpus:%d;mem:%d;ports:[%d-%d];cpus(r1):1", 1+rng.IntN(8), 512*(1+rng.IntN(8)), 1000, 1000+rng.IntN(20)))
			nocp := rng.IntN(4) == 0
			err := do(step, func(x *Allocator) error { return x.AddAgent(Agent{ID: id, Resources: rs, NoCheckpoint: nocp}, nil) })
			if errors.Is(err, ErrExists) && rng.IntN(2) == 0 {
				mustOK(t, do(step, func(x *Allocator) error { return x.RemoveAgent(id) }))
				out = slices.DeleteFunc(out, func(h held) bool { return h.AgentID == id })
			}
		case 1:
			id := fwIDs[rng.IntN(len(fwIDs))]
			f := Framework{ID: id, Roles: []string{roles[rng.IntN(3)], roles[rng.IntN(3)]}, Checkpoint: rng.IntN(2) == 0}
			if err := do(step, func(x *Allocator) error { return x.AddFramework(f) }); errors.Is(err, ErrExists) {
				if rng.IntN(2) == 0 {
					mustOK(t, do(step, func(x *Allocator) error { return x.RemoveFramework(id) }))
					out = slices.DeleteFunc(out, func(h held) bool { return h.FrameworkID == id })
				} else {
					mustOK(t, do(step, func(x *Allocator) error { return x.UpdateFramework(f) }))
				}
			}
		case 2:
			id := fwIDs[rng.IntN(len(fwIDs))]
			role := roles[rng.IntN(3)]
			switch rng.IntN(5) {
			case 0:
				do(step, func(x *Allocator) error { return x.Suppress(id) })
			case 1:
				do(step, func(x *Allocator) error { return x.Revive(id, role) })
			case 2:
				do(step, func(x *Allocator) error { return x.Revive(id) })
			case 3:
				do(step, func(x *Allocator) error { return x.DeactivateFramework(id) })
			case 4:
				do(step, func(x *Allocator) error { return x.ActivateFramework(id) })
			}
		case 3:
			id := agentIDs[rng.IntN(len(agentIDs))]
			if rng.IntN(3) == 0 {
				rs := res(t, fmt.Sprintf("cpus:%d;mem:%d;ports:[1000-%d]", 1+rng.IntN(8), 512*(1+rng.IntN(8)), 1000+rng.IntN(20)))
				do(step, func(x *Allocator) error { return x.UpdateAgent(Agent{ID: id, Resources: rs}) })
			} else if rng.IntN(2) == 0 {
				do(step, func(x *Allocator) error { return x.DeactivateAgent(id) })
			} else {
				do(step, func(x *Allocator) error { return x.ActivateAgent(id) })
			}
		case 4:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case 5:
			w := map[string]float64{roles[rng.IntN(3)]: float64(1 + rng.IntN(3))}
			mustOK(t, do(step, func(x *Allocator) error { return x.UpdateWeights(w) }))
		case 6, 7:
			got, want := a.Allocate(now), ref.Allocate(now)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: offers %v, reference %v", step, got, want)
			}
			for _, o := range got {
				if len(o.Resources) == 0 {
					t.Fatalf("step %d: empty offer %v", step, o)
				}
				out = append(out, held{Offer: o})
			}
			offers += len(got)
		default:
			if len(out) == 0 {
				continue
			}
			i := rng.IntN(len(out))
			h := out[i]
			out = slices.Delete(out, i, i+1)
			rc := Recovery{FrameworkID: h.FrameworkID, AgentID: h.AgentID, Role: h.Role, Resources: h.Resources,
				Refuse: time.Duration(rng.IntN(3)) * time.Second}
			if h.used {
				rc.From = Used
			} else if rng.IntN(2) == 0 {
				// Launch part of the offer, decline the rest.
				task := api.Resources{api.ScalarResource("cpus", h.Resources.Scalar("cpus")/2)}.Add(nil)
				if h.Resources.Contains(task) && len(task) > 0 {
					mustOK(t, do(step, func(x *Allocator) error { return x.Allocated(h.FrameworkID, h.AgentID, h.Role, task) }))
					out = append(out, held{Offer: Offer{FrameworkID: h.FrameworkID, AgentID: h.AgentID, Role: h.Role, Resources: task}, used: true})
					rc.Resources = h.Resources.Subtract(task)
				}
			}
			mustOK(t, do(step, func(x *Allocator) error { return x.RecoverResources(rc, now) }))
		}
		checkBooks(t, a, step)
		checkBooks(t, ref, step)
	}
	if offers < steps/20 {
		t.Errorf("only %d offers in %d steps: the run exercises too little", offers, steps)
	}
}

func checkBooks(t *testing.T, a *Allocator, step int) {
	t.Helper()
	var total, used qty
	roleSums := map[string]*qty{}
	for _, n := range a.order {
		a.add(&total, n.info.Resources, 1)
		var sum api.Resources
		for k, al := range n.allocs {
			if len(al.offered) == 0 && len(al.used) == 0 {
				t.Fatalf("step %d: empty allocation %v kept on %s", step, k, n.info.ID)
			}
			sum = sum.Add(al.offered).Add(al.used)
			if roleSums[k.role] == nil {
				roleSums[k.role] = new(qty)
			}
			a.add(roleSums[k.role], al.offered, 1)
			a.add(roleSums[k.role], al.used, 1)
			a.add(&used, al.used, 1)
		}
		if over := !n.info.Resources.Contains(sum); over != n.overcommitted {
			t.Fatalf("step %d: agent %s overcommitted=%v, but allocated %s against total %s", step, n.info.ID, n.overcommitted, sum, n.info.Resources)
		}
		if want := n.info.Resources.Subtract(sum); !n.free.Equal(want) {
			t.Fatalf("step %d: agent %s free %s, want total %s - allocated %s = %s", step, n.info.ID, n.free, n.info.Resources, sum, want)
		}
	}
	if !sameQty(total, a.total) {
		t.Fatalf("step %d: total %v, recomputed %v", step, a.total, total)
	}
	if !sameQty(used, a.used) {
		t.Fatalf("step %d: used %v, recomputed %v", step, a.used, used)
	}
	for i, name := range a.kinds {
		var want int64
		if i < len(used) {
			want = used[i]
		}
		if got := a.UsedScalar(name); got != float64(want)/1000 {
			t.Fatalf("step %d: UsedScalar(%s) = %v, recomputed %v", step, name, got, float64(want)/1000)
		}
	}
	for name, r := range a.roles {
		var want qty
		if q := roleSums[name]; q != nil {
			want = *q
		}
		if !sameQty(r.alloc, want) {
			t.Fatalf("step %d: role %s allocation %v, recomputed %v", step, name, r.alloc, want)
		}
		delete(roleSums, name)
	}
	for name, q := range roleSums {
		if !q.zero() {
			t.Fatalf("step %d: role %s holds %v but is not tracked", step, name, *q)
		}
	}
}

// sameQty compares vectors, missing entries being zero.
func sameQty(x, y qty) bool {
	for i := range max(len(x), len(y)) {
		var a, b int64
		if i < len(x) {
			a = x[i]
		}
		if i < len(y) {
			b = y[i]
		}
		if a != b {
			return false
		}
	}
	return true
}
