package alloc

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"nodectl/cluster/api"
)

// Allocate runs one allocation round at time now and returns the offers it
// made, in the order made.
//
// Agents are walked in id order (Mesos shuffles them; a fixed order keeps
// transcripts stable). Each active agent's free resources go to roles in
// order of weighted dominant share, lowest first, and within a role to the
// subscribed, active, unsuppressed framework with the lowest dominant share
// that passes the checkpoint and GPU rules and has no filter covering them.
// That framework is offered everything free on the agent that the role may
// use: unreserved resources and those reserved for the role. Other roles may
// then still get what is reserved for them. Shares are updated after every
// offer, so the next agent goes to whoever is now furthest behind. Ties go
// to the smaller role name or framework id. Free resources below every
// MinAllocatable quantity are not offered.
func (a *Allocator) Allocate(now time.Time) []Offer {
	cands := a.candidates()
	if len(cands) == 0 {
		return nil
	}
	if len(a.quotas) > 0 {
		// The next round without quotas looks at every agent.
		a.walkedAll = false
		return a.allocateQuota(now, cands) // quota.go
	}
	walk := a.toWalk(now)
	defer a.walked()
	var offers []Offer
	sorted := true
	for _, n := range walk {
		if !n.active || !a.listed(n) {
			continue
		}
		if b := n.blocked; !a.noCache && b.set && b.version == n.version && b.epoch == a.epoch && (b.until.IsZero() || now.Before(b.until)) {
			a.expiring(b.until)
			continue // nobody could take it last time, and nothing has changed since
		}
		if !a.allocatable(n.free) {
			continue
		}
		if !sorted {
			a.sortCandidates()
			sorted = true
		}
		var until time.Time // earliest expiry of a filter that stood in the way
		for _, r := range cands {
			rs := offerableTo(n.free, r.name)
			if len(rs) != len(n.free) && !a.allocatable(rs) {
				continue
			}
			i, exp := a.pick(r, n, rs, now)
			if !exp.IsZero() && (until.IsZero() || exp.Before(until)) {
				until = exp
			}
			if i < 0 {
				continue
			}
			offers = append(offers, a.offer(n, r, i, rs))
			sorted = false
			if !a.allocatable(n.free) {
				break
			}
		}
		// Whatever is left, every role was offered it or turned it down.
		n.blocked = blocked{set: true, version: n.version, epoch: a.epoch, until: until}
		a.expiring(until)
	}
	return offers
}

// toWalk is the agents a round at now looks at, in id order: every agent,
// or only those changed since the last round (the others are as the
// blocked check below would find them: skipped).
func (a *Allocator) toWalk(now time.Time) []*agent {
	if a.noCache || !a.walkedAll || a.walkedEpoch != a.epoch || (!a.expiry.IsZero() && !now.Before(a.expiry)) {
		a.walkedAll, a.walkedEpoch, a.expiry = true, a.epoch, time.Time{}
		return a.order
	}
	a.changed = slices.DeleteFunc(a.changed, func(n *agent) bool { return a.agents[n.info.ID] != n }) // removed since
	slices.SortFunc(a.changed, func(x, y *agent) int { return cmp.Compare(x.info.ID, y.info.ID) })
	return a.changed
}

// expiring notes that a blocked agent is to be looked at again at until
// (zero: never for that reason).
func (a *Allocator) expiring(until time.Time) {
	if !until.IsZero() && (a.expiry.IsZero() || until.Before(a.expiry)) {
		a.expiry = until
	}
}

// walked ends a round: what changed before it has been looked at, and
// what the round itself changed (the agents it offered) is in their
// blocked state.
func (a *Allocator) walked() {
	for _, n := range a.changed {
		n.inChanged = false
	}
	a.changed = a.changed[:0]
}

// blocked remembers that no framework could be offered an agent's free
// resources: skip the agent until they change (version), a framework may
// have become eligible (epoch), or a filter in the way expires (until; zero
// when no filter was involved).
type blocked struct {
	set     bool
	version uint64
	epoch   uint64
	until   time.Time
}

// candidate is a framework that may be offered resources in a role, with
// its dominant share in that role.
type candidate struct {
	f     *framework
	share float64
}

// candidates collects the roles that have a framework to offer to, with
// their shares, sorted; each role's frameworks sorted too.
func (a *Allocator) candidates() []*role {
	a.cands = a.cands[:0]
	for _, r := range a.roles {
		r.fws = r.fws[:0]
		for _, f := range r.subscribers {
			if f.active && !f.suppressed[r.name] {
				r.fws = append(r.fws, candidate{f: f, share: a.dominant(r.held(f.info.ID))})
			}
		}
		if len(r.fws) == 0 {
			continue
		}
		r.share = a.dominant(r.alloc) / a.Weight(r.name)
		r.dirty = true
		a.cands = append(a.cands, r)
	}
	a.sortCandidates()
	return a.cands
}

// shareKey quantises a share so that shares equal up to floating-point
// noise (4/18 against 2/9) compare equal and fall to the name tie-break.
func shareKey(s float64) float64 { return math.Round(s * 1e9) }

func (a *Allocator) sortCandidates() {
	slices.SortFunc(a.cands, func(x, y *role) int {
		return cmp.Or(cmp.Compare(shareKey(x.share), shareKey(y.share)), cmp.Compare(x.name, y.name))
	})
	for _, r := range a.cands {
		if r.dirty {
			slices.SortFunc(r.fws, func(x, y candidate) int {
				return cmp.Or(cmp.Compare(shareKey(x.share), shareKey(y.share)), cmp.Compare(x.f.info.ID, y.f.info.ID))
			})
			r.dirty = false
		}
	}
}

// pick returns the index in r.fws of the first framework, in share order,
// that may be offered rs on agent n, or -1; and the earliest expiry of the
// filters that turned frameworks down before it.
func (a *Allocator) pick(r *role, n *agent, rs api.Resources, now time.Time) (int, time.Time) {
	var until time.Time
	for i, c := range r.fws {
		f := c.f
		if f.info.Checkpoint && n.info.NoCheckpoint {
			continue
		}
		if n.gpus && !f.gpu {
			continue
		}
		if exp := f.filtered(n, r.name, rs, now, a.noCache); !exp.IsZero() {
			if until.IsZero() || exp.Before(until) {
				until = exp
			}
			continue
		}
		return i, until
	}
	return -1, until
}

// offerableTo is the part of free that a framework in role may be offered:
// unreserved resources and those reserved for the role.
func offerableTo(free api.Resources, role string) api.Resources {
	mine := func(r api.Resource) bool { return r.Role == "*" || r.Role == "" || r.Role == role }
	if !slices.ContainsFunc(free, func(r api.Resource) bool { return !mine(r) }) {
		return free
	}
	out := make(api.Resources, 0, len(free))
	for _, r := range free {
		if mine(r) {
			out = append(out, r) // shares values with free, which is never changed in place
		}
	}
	return out
}

// allocatable reports whether rs holds at least one MinAllocatable quantity.
func (a *Allocator) allocatable(rs api.Resources) bool {
	if len(rs) == 0 {
		return false
	}
	for _, m := range a.minAlloc {
		if a.within(m, rs) {
			return true
		}
	}
	return false
}

// Allocated moves resources of an offer into use: the framework accepted
// the offer and launched them. DRF shares do not change.
func (a *Allocator) Allocated(frameworkID, agentID, role string, rs api.Resources) error {
	n, ok := a.agents[agentID]
	if !ok {
		return fmt.Errorf("allocated on agent %s: %w", agentID, ErrUnknownAgent)
	}
	al := n.allocs[allocKey{frameworkID, role}]
	if al == nil || !al.offered.Contains(rs) {
		return fmt.Errorf("allocated %s to framework %s role %s on agent %s: %w", rs, frameworkID, role, agentID, ErrNotAllocated)
	}
	al.offered = al.offered.Subtract(rs)
	al.used = al.used.Add(rs)
	a.add(&a.used, rs, 1)
	return nil
}

// RecoverResources gives resources of an allocation back to the agent's free
// pool, and filters the agent for the framework and role when asked to
// (DECLINE, or the unused rest of an ACCEPT). now dates the filter.
func (a *Allocator) RecoverResources(rc Recovery, now time.Time) error {
	n, ok := a.agents[rc.AgentID]
	if !ok {
		return fmt.Errorf("recover from agent %s: %w", rc.AgentID, ErrUnknownAgent)
	}
	k := allocKey{rc.FrameworkID, rc.Role}
	al := n.allocs[k]
	rs := rc.Resources.Add(nil)
	var pool *api.Resources
	switch {
	case rc.From != Offered && rc.From != Used:
		return fmt.Errorf("recover from agent %s: %w %v", rc.AgentID, ErrBadPool, rc.From)
	case al == nil:
	case rc.From == Offered:
		pool = &al.offered
	default:
		pool = &al.used
	}
	if len(rs) == 0 {
		// Mesos sets no filter for nothing: an offer used up entirely
		// leaves the agent open to the framework.
		return nil
	}
	whole := pool != nil && sameBag(rc.Resources, *pool) // a declined offer, as handed out
	if pool == nil || !whole && !pool.Contains(rs) {
		return fmt.Errorf("recover %s %s of framework %s role %s on agent %s: %w", rc.From, rs, rc.FrameworkID, rc.Role, rc.AgentID, ErrNotAllocated)
	}
	if whole {
		*pool = nil
	} else {
		*pool = pool.Subtract(rs)
	}
	if rc.From == Used {
		a.add(&a.used, rs, -1)
	}
	if len(al.offered) == 0 && len(al.used) == 0 {
		delete(n.allocs, k)
	}
	n.give(rs)
	a.untrack(k, rs)
	if f, ok := a.frameworks[rc.FrameworkID]; ok && rc.Refuse > 0 {
		f.addFilter(rc.AgentID, rc.Role, rs, now.Add(min(rc.Refuse, MaxRefuse)))
	}
	return nil
}

// sameBag reports whether x and y are the very same bag (not just equal):
// bags are never changed in place, so then they hold the same resources.
func sameBag(x, y api.Resources) bool {
	return len(x) == len(y) && len(x) > 0 && &x[0] == &y[0]
}
