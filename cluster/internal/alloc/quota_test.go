package alloc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// cluster adds n agents a00..a<n-1> of the given resources.
func cluster(t *testing.T, a *Allocator, n int, resources string) {
	t.Helper()
	for i := range n {
		mustOK(t, a.AddAgent(Agent{ID: fmt.Sprintf("a%02d", i), Hostname: fmt.Sprintf("h%02d", i), Resources: res(t, resources)}, nil))
	}
}

// held sums, per role, what is offered and used on every agent.
func held(a *Allocator) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, ri := range a.Roles() {
		rs := ri.Offered.Add(ri.Used)
		out[ri.Role] = map[string]float64{"cpus": rs.Scalar("cpus"), "mem": rs.Scalar("mem")}
	}
	return out
}

// acceptAll turns every offer into use (a framework launching on all of it).
func acceptAll(t *testing.T, a *Allocator, offers []Offer) {
	t.Helper()
	for _, o := range offers {
		mustOK(t, a.Allocated(o.FrameworkID, o.AgentID, o.Role, o.Resources))
	}
}

func TestQuotaLimitNeverExceeded(t *testing.T) {
	a := newAlloc(t)
	cluster(t, a, 4, "cpus:4;mem:4096;ports:[31000-31009]")
	mustOK(t, a.SetQuotas(map[string]Quota{
		"lim": {Limits: map[string]float64{"cpus": 3, "mem": 2048}},
		"eng": {Limits: map[string]float64{"cpus": 2.5}},
	}))
	mustOK(t, a.AddFramework(Framework{ID: "f-lim", Roles: []string{"lim"}}))
	mustOK(t, a.AddFramework(Framework{ID: "f-eng", Roles: []string{"eng/web", "eng/db"}}))
	mustOK(t, a.AddFramework(Framework{ID: "f-free", Roles: []string{"free"}}))
	now := epoch
	for round := range 5 {
		offers := a.Allocate(now)
		acceptAll(t, a, offers)
		h := held(a)
		if h["lim"]["cpus"] > 3 || h["lim"]["mem"] > 2048 {
			t.Fatalf("round %d: role lim holds %v, above its limit cpus:3 mem:2048 (offers %v)", round, h["lim"], offers)
		}
		if eng := h["eng/web"]["cpus"] + h["eng/db"]["cpus"]; eng > 2.5 {
			t.Fatalf("round %d: eng's children hold %v cpus, above the parent's limit 2.5", round, eng)
		}
		now = now.Add(time.Second)
	}
	h := held(a)
	if h["lim"]["cpus"] != 3 || h["lim"]["mem"] != 2048 {
		t.Errorf("role lim should reach its limit exactly: %v", h["lim"])
	}
	if eng := h["eng/web"]["cpus"] + h["eng/db"]["cpus"]; eng != 2.5 {
		t.Errorf("eng should reach its limit: %v cpus", eng)
	}
	if got := h["free"]["cpus"]; got != 16-3-2.5 {
		t.Errorf("role free should get the rest: %v cpus", got)
	}
	if c := a.QuotaConsumed("eng"); c["cpus"] != 2.5 {
		t.Errorf("QuotaConsumed(eng) = %v", c)
	}
}

// TestQuotaGuaranteeWhileFlooded: role b floods the cluster (it takes
// every offer), role a has a guarantee but its framework is not asking
// yet. The guarantee is held back from b, and a gets it once it asks.
func TestQuotaGuaranteeWhileFlooded(t *testing.T) {
	a := newAlloc(t)
	cluster(t, a, 4, "cpus:4;mem:4096")
	mustOK(t, a.SetQuotas(map[string]Quota{"a": {Guarantees: map[string]float64{"cpus": 6, "mem": 6144}}}))
	mustOK(t, a.AddFramework(Framework{ID: "fa", Roles: []string{"a"}, SuppressedRoles: []string{"a"}}))
	mustOK(t, a.AddFramework(Framework{ID: "fb", Roles: []string{"b"}}))
	now := epoch
	for range 4 {
		acceptAll(t, a, a.Allocate(now))
		now = now.Add(time.Second)
	}
	if h := held(a)["b"]; h["cpus"] != 10 || h["mem"] != 10240 {
		t.Fatalf("b should get all but a's guarantee (10 cpus, 10240 mem): %v", h)
	}
	mustOK(t, a.Revive("fa"))
	acceptAll(t, a, a.Allocate(now))
	if h := held(a)["a"]; h["cpus"] != 6 || h["mem"] != 6144 {
		t.Fatalf("a should get its guarantee: %v", h)
	}
}

// TestQuotaGuaranteeFirst: with both roles asking, stage 1 serves the
// guarantee before DRF shares out the rest.
func TestQuotaGuaranteeFirst(t *testing.T) {
	a := newAlloc(t)
	cluster(t, a, 8, "cpus:1;mem:1024")
	mustOK(t, a.SetQuotas(map[string]Quota{"a": {Guarantees: map[string]float64{"cpus": 6}}}))
	mustOK(t, a.AddFramework(Framework{ID: "fa", Roles: []string{"a"}}))
	mustOK(t, a.AddFramework(Framework{ID: "fb", Roles: []string{"b"}}))
	acceptAll(t, a, a.Allocate(epoch))
	h := held(a)
	if h["a"]["cpus"] < 6 || h["a"]["cpus"]+h["b"]["cpus"] != 8 {
		t.Fatalf("a should hold its guarantee of 6 cpus, b the rest: %v", h)
	}
}

// TestQuotaGuaranteeWithLimitBurst: a guarantee up to a limit; beyond the
// guarantee the role competes by DRF but never passes the limit.
func TestQuotaGuaranteeAndLimit(t *testing.T) {
	a := newAlloc(t)
	cluster(t, a, 2, "cpus:8;mem:8192")
	mustOK(t, a.SetQuotas(map[string]Quota{"a": {Guarantees: map[string]float64{"cpus": 2}, Limits: map[string]float64{"cpus": 4}}}))
	mustOK(t, a.AddFramework(Framework{ID: "fa", Roles: []string{"a"}}))
	acceptAll(t, a, a.Allocate(epoch))
	if h := held(a)["a"]; h["cpus"] != 4 {
		t.Fatalf("alone, a should burst to its limit of 4 cpus: %v", h)
	}
}

func TestWeightsShiftShares(t *testing.T) {
	a := newAlloc(t)
	cluster(t, a, 8, "cpus:1;mem:1024")
	mustOK(t, a.UpdateWeights(map[string]float64{"heavy": 3}))
	mustOK(t, a.AddFramework(Framework{ID: "fh", Roles: []string{"heavy"}}))
	mustOK(t, a.AddFramework(Framework{ID: "fl", Roles: []string{"light"}}))
	acceptAll(t, a, a.Allocate(epoch))
	h := held(a)
	if h["heavy"]["cpus"] != 6 || h["light"]["cpus"] != 2 {
		t.Fatalf("weights 3:1 should split 8 agents 6:2: %v", h)
	}
}

func TestValidateQuotas(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]Quota
		want string
	}{
		{"ok", map[string]Quota{"a": {Guarantees: map[string]float64{"cpus": 1}, Limits: map[string]float64{"cpus": 2}}}, ""},
		{"guarantee above limit", map[string]Quota{"a": {Guarantees: map[string]float64{"cpus": 3}, Limits: map[string]float64{"cpus": 2}}}, "above its limit"},
		{"negative", map[string]Quota{"a": {Limits: map[string]float64{"mem": -1}}}, "negative"},
		{"too large", map[string]Quota{"a": {Limits: map[string]float64{"cpus": 2e12}}}, "largest supported"},
		{"bad role", map[string]Quota{"a b": {Limits: map[string]float64{"cpus": 1}}}, "role 'a b'"},
		{"children above parent", map[string]Quota{
			"p":   {Guarantees: map[string]float64{"cpus": 2}},
			"p/x": {Guarantees: map[string]float64{"cpus": 1.5}},
			"p/y": {Guarantees: map[string]float64{"cpus": 1}},
		}, "sum of its children"},
		{"children within parent", map[string]Quota{
			"p":   {Guarantees: map[string]float64{"cpus": 3}},
			"p/x": {Guarantees: map[string]float64{"cpus": 1.5}},
			"p/y": {Guarantees: map[string]float64{"cpus": 1}},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateQuotas(tc.in)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadQuota)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestQuotaRandomLimits drives random launches, ends and declines and
// checks after every round that no role's subtree passes a limit and
// that the books stay balanced.
func TestQuotaRandomLimits(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		a := newAlloc(t)
		cluster(t, a, 5, "cpus:4;mem:4096;disk:1000")
		limits := map[string]Quota{
			"x":   {Limits: map[string]float64{"cpus": 5, "mem": 3000}, Guarantees: map[string]float64{"cpus": 2}},
			"y/z": {Limits: map[string]float64{"disk": 1500}},
			"y":   {Limits: map[string]float64{"cpus": 7}},
			"w":   {Guarantees: map[string]float64{"cpus": 4, "mem": 4096}},
		}
		mustOK(t, a.SetQuotas(limits))
		for i, roles := range [][]string{{"x"}, {"y/z", "y"}, {"v"}, {"w", "x"}} {
			mustOK(t, a.AddFramework(Framework{ID: fmt.Sprintf("f%d", i), Roles: roles}))
		}
		var used []Offer
		now := epoch
		for step := range 60 {
			for _, o := range a.Allocate(now) {
				switch rng.IntN(3) {
				case 0: // decline
					mustOK(t, a.RecoverResources(Recovery{FrameworkID: o.FrameworkID, AgentID: o.AgentID, Role: o.Role, Resources: o.Resources, From: Offered, Refuse: time.Second}, now))
				default: // launch all of it
					mustOK(t, a.Allocated(o.FrameworkID, o.AgentID, o.Role, o.Resources))
					used = append(used, o)
				}
			}
			if len(used) > 0 && rng.IntN(2) == 0 {
				i := rng.IntN(len(used))
				o := used[i]
				used = append(used[:i], used[i+1:]...)
				mustOK(t, a.RecoverResources(Recovery{FrameworkID: o.FrameworkID, AgentID: o.AgentID, Role: o.Role, Resources: o.Resources, From: Used}, now))
			}
			for role, q := range limits {
				sum := map[string]float64{}
				for _, ri := range a.Roles() {
					if inSubtree(ri.Role, role) {
						rs := ri.Offered.Add(ri.Used)
						for n := range q.Limits {
							sum[n] += rs.Scalar(n)
						}
					}
				}
				for n, l := range q.Limits {
					if millis(sum[n]) > millis(l) {
						t.Fatalf("seed %d step %d: role %s's subtree holds %s:%v, above its limit %v", seed, step, role, n, sum[n], l)
					}
				}
			}
			checkBooks(t, a, step)
			now = now.Add(700 * time.Millisecond)
		}
	}
}
