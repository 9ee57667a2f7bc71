package alloc

import (
	"fmt"
	"slices"

	"nodectl/cluster/api"
)

func hasGPUs(rs api.Resources) bool { return rs.Scalar("gpus") > 0 }

// AddAgent adds an active agent. used is what its running tasks already hold
// (an agent re-registering after a master failover); the frameworks named
// there need not be known yet.
func (a *Allocator) AddAgent(ag Agent, used []Allocation) error {
	if ag.ID == "" {
		return fmt.Errorf("add agent: empty id: %w", ErrUnknownAgent)
	}
	i, found := a.agentIndex(ag.ID)
	if found {
		return fmt.Errorf("add agent %s: %w", ag.ID, ErrExists)
	}
	for _, u := range used {
		if err := api.ValidateRole(u.Role); err != nil {
			return fmt.Errorf("add agent %s: framework %s: %w", ag.ID, u.FrameworkID, err)
		}
	}
	ag.Resources = ag.Resources.Add(nil)
	n := &agent{info: ag, active: true, gpus: hasGPUs(ag.Resources), allocs: map[allocKey]*allocation{}, free: ag.Resources, owner: a}
	a.agents[ag.ID] = n
	a.order = slices.Insert(a.order, i, n)
	a.add(&a.total, ag.Resources, 1)
	for _, u := range used {
		a.track(n, allocKey{u.FrameworkID, u.Role}, Used, u.Resources.Add(nil))
	}
	n.recompute()
	return nil
}

// UpdateAgent replaces an agent's description and total resources (an agent
// re-registering with new resources, or a reservation changing them). What
// is allocated stays allocated; if the new total is smaller, the agent has
// nothing free until enough comes back.
func (a *Allocator) UpdateAgent(ag Agent) error {
	n, ok := a.agents[ag.ID]
	if !ok {
		return fmt.Errorf("update agent %s: %w", ag.ID, ErrUnknownAgent)
	}
	ag.Resources = ag.Resources.Add(nil)
	a.add(&a.total, n.info.Resources, -1)
	a.add(&a.total, ag.Resources, 1)
	n.info = ag
	n.gpus = hasGPUs(ag.Resources)
	n.recompute()
	return nil
}

// RemoveAgent forgets an agent, everything allocated on it and every filter
// naming it. The master rescinds its outstanding offers itself.
func (a *Allocator) RemoveAgent(id string) error {
	n, ok := a.agents[id]
	if !ok {
		return fmt.Errorf("remove agent %s: %w", id, ErrUnknownAgent)
	}
	for k, al := range n.allocs {
		a.untrack(k, al.offered.Add(al.used))
		a.add(&a.used, al.used, -1)
	}
	a.add(&a.total, n.info.Resources, -1)
	for _, f := range a.frameworks {
		delete(f.filters, id)
	}
	delete(a.agents, id)
	i, _ := a.agentIndex(id)
	a.order = slices.Delete(a.order, i, i+1)
	return nil
}

// ActivateAgent makes an agent's resources offerable again.
func (a *Allocator) ActivateAgent(id string) error {
	return a.setAgentActive(id, true)
}

// DeactivateAgent stops offers from an agent (disconnected, draining) while
// keeping its allocations, which still count for DRF.
func (a *Allocator) DeactivateAgent(id string) error {
	return a.setAgentActive(id, false)
}

func (a *Allocator) setAgentActive(id string, active bool) error {
	n, ok := a.agents[id]
	if !ok {
		return fmt.Errorf("set agent %s active=%v: %w", id, active, ErrUnknownAgent)
	}
	n.active = active
	n.touch()
	return nil
}

// AgentResources is an agent's resources as the allocator sees them; the
// master's /slaves reports them as resources, offered_resources and
// used_resources.
type AgentResources struct {
	Active  bool
	Total   api.Resources
	Offered api.Resources
	Used    api.Resources
	Free    api.Resources
}

// Agent returns an agent's resources, or false if it is unknown.
func (a *Allocator) Agent(id string) (AgentResources, bool) {
	n, ok := a.agents[id]
	if !ok {
		return AgentResources{}, false
	}
	out := AgentResources{Active: n.active, Total: n.info.Resources.Add(nil), Free: n.free.Add(nil)}
	for _, al := range n.allocs {
		out.Offered = out.Offered.Add(al.offered)
		out.Used = out.Used.Add(al.used)
	}
	return out, true
}

// recompute sets free from scratch: total minus all allocations.
func (n *agent) recompute() {
	var allocated api.Resources
	for _, al := range n.allocs {
		allocated = allocated.Add(al.offered).Add(al.used)
	}
	n.overcommitted = !n.info.Resources.Contains(allocated)
	n.free = n.info.Resources.Subtract(allocated)
	n.freeChanged()
}

// take removes rs, just allocated, from free.
func (n *agent) take(rs api.Resources) {
	if sameBag(rs, n.free) {
		n.free = nil // the usual case: all of free was offered
	} else {
		n.free = n.free.Subtract(rs)
	}
	n.freeChanged()
}

// give adds rs, just recovered, back to free. rs must be normalised and
// not shared with a caller: free may become rs, and is sorted in place.
func (n *agent) give(rs api.Resources) {
	if n.overcommitted {
		n.recompute()
		return
	}
	if len(n.free) == 0 {
		n.free = rs
	} else {
		n.free = n.free.Add(rs)
	}
	inTotalOrder(n.free, n.info.Resources)
	n.freeChanged()
}

// inTotalOrder sorts rs, which the caller owns, in the order of the agent's
// total, so offers list resources the same way whatever came back first.
func inTotalOrder(rs, total api.Resources) {
	pos := func(r api.Resource) int {
		for i, t := range total {
			if api.SameKind(t, r) {
				return i
			}
		}
		return len(total)
	}
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && pos(rs[j]) < pos(rs[j-1]); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// track adds rs (normalised) to an allocation's pool, and to the DRF sums.
func (a *Allocator) track(n *agent, k allocKey, p Pool, rs api.Resources) {
	if len(rs) == 0 {
		return
	}
	al := n.allocs[k]
	if al == nil {
		al = &allocation{}
		n.allocs[k] = al
	}
	pool := &al.offered
	if p == Used {
		pool = &al.used
		a.add(&a.used, rs, 1)
	}
	if len(*pool) == 0 {
		*pool = rs // bags are never changed in place, so sharing is safe
	} else {
		*pool = pool.Add(rs)
	}
	n.take(rs)
	r := a.role(k.role)
	a.add(&r.alloc, rs, 1)
	q := r.byFramework[k.framework]
	if q == nil {
		q = new(qty)
		r.byFramework[k.framework] = q
	}
	a.add(q, rs, 1)
}

// untrack takes rs off a role's DRF sums; the caller fixes the agent.
func (a *Allocator) untrack(k allocKey, rs api.Resources) {
	r, ok := a.roles[k.role]
	if !ok {
		return
	}
	a.add(&r.alloc, rs, -1)
	if q := r.byFramework[k.framework]; q != nil {
		a.add(q, rs, -1)
		if q.zero() {
			delete(r.byFramework, k.framework)
		}
	}
	a.dropRoleIfIdle(k.role)
}
