package alloc

import (
	"fmt"
	"slices"

	"nodectl/cluster/api"
)

// AddFramework adds an active framework. Allocations already reported for
// its id (by AddAgent) become its own.
func (a *Allocator) AddFramework(f Framework) error {
	if f.ID == "" {
		return fmt.Errorf("add framework: empty id: %w", ErrUnknownFramework)
	}
	if _, ok := a.frameworks[f.ID]; ok {
		return fmt.Errorf("add framework %s: %w", f.ID, ErrExists)
	}
	n := &framework{active: true, filters: map[string]map[string][]*filter{}}
	if err := a.setFramework(n, f); err != nil {
		return fmt.Errorf("add framework %s: %w", f.ID, err)
	}
	a.frameworks[f.ID] = n
	a.epoch++
	return nil
}

// UpdateFramework replaces a framework's roles, capabilities, checkpoint
// flag and suppressed roles (Mesos UPDATE_FRAMEWORK, or a re-SUBSCRIBE).
// Allocations in roles it leaves stay tracked there until recovered.
func (a *Allocator) UpdateFramework(f Framework) error {
	n, ok := a.frameworks[f.ID]
	if !ok {
		return fmt.Errorf("update framework %s: %w", f.ID, ErrUnknownFramework)
	}
	if err := a.setFramework(n, f); err != nil {
		return fmt.Errorf("update framework %s: %w", f.ID, err)
	}
	a.epoch++
	return nil
}

func (a *Allocator) setFramework(n *framework, f Framework) error {
	roles := slices.Clone(f.Roles)
	if len(roles) == 0 {
		roles = []string{"*"}
	}
	slices.Sort(roles)
	roles = slices.Compact(roles)
	for _, r := range roles {
		if err := api.ValidateRole(r); err != nil {
			return err
		}
	}
	suppressed := map[string]bool{}
	for _, r := range f.SuppressedRoles {
		if !slices.Contains(roles, r) {
			return fmt.Errorf("suppress %s: %w", r, ErrNotSubscribed)
		}
		suppressed[r] = true
	}
	for _, r := range n.roles {
		if !slices.Contains(roles, r) {
			delete(a.roles[r].subscribers, f.ID)
			n.dropFilters(r)
			a.dropRoleIfIdle(r)
		}
	}
	f.Roles = roles
	f.SuppressedRoles = nil
	f.Capabilities = slices.Clone(f.Capabilities)
	n.info, n.roles, n.suppressed = f, roles, suppressed
	n.gpu = slices.Contains(f.Capabilities, GPUResources)
	for _, r := range roles {
		a.role(r).subscribers[f.ID] = n
	}
	return nil
}

// RemoveFramework forgets a framework, its filters and everything allocated
// to it, offered or used: the master has rescinded its offers and is
// killing its tasks.
func (a *Allocator) RemoveFramework(id string) error {
	n, ok := a.frameworks[id]
	if !ok {
		return fmt.Errorf("remove framework %s: %w", id, ErrUnknownFramework)
	}
	for _, ag := range a.order {
		for k, al := range ag.allocs {
			if k.framework != id {
				continue
			}
			rs := al.offered.Add(al.used)
			a.add(&a.used, al.used, -1)
			delete(ag.allocs, k)
			ag.give(rs)
			a.untrack(k, rs)
		}
	}
	delete(a.frameworks, id)
	for _, r := range n.roles {
		delete(a.roles[r].subscribers, id)
		a.dropRoleIfIdle(r)
	}
	return nil
}

// ActivateFramework resumes offers to a framework (it re-subscribed).
func (a *Allocator) ActivateFramework(id string) error {
	n, ok := a.frameworks[id]
	if !ok {
		return fmt.Errorf("activate framework %s: %w", id, ErrUnknownFramework)
	}
	n.active = true
	a.epoch++
	return nil
}

// DeactivateFramework stops offers to a framework (it disconnected) and, as
// in Mesos, drops its filters. Its allocations keep counting for DRF.
func (a *Allocator) DeactivateFramework(id string) error {
	n, ok := a.frameworks[id]
	if !ok {
		return fmt.Errorf("deactivate framework %s: %w", id, ErrUnknownFramework)
	}
	n.active = false
	clear(n.filters)
	return nil
}

// Suppress stops offers to a framework for the given roles, or for all its
// roles if none are given (Mesos SUPPRESS).
func (a *Allocator) Suppress(frameworkID string, roles ...string) error {
	n, roles, err := a.frameworkRoles("suppress", frameworkID, roles)
	if err != nil {
		return err
	}
	for _, r := range roles {
		n.suppressed[r] = true
	}
	return nil
}

// Revive resumes offers to a framework for the given roles, or all its roles
// if none are given, and clears its filters for them (Mesos REVIVE).
func (a *Allocator) Revive(frameworkID string, roles ...string) error {
	n, roles, err := a.frameworkRoles("revive", frameworkID, roles)
	if err != nil {
		return err
	}
	for _, r := range roles {
		delete(n.suppressed, r)
		n.dropFilters(r)
	}
	a.epoch++
	return nil
}

func (a *Allocator) frameworkRoles(verb, id string, roles []string) (*framework, []string, error) {
	n, ok := a.frameworks[id]
	if !ok {
		return nil, nil, fmt.Errorf("%s framework %s: %w", verb, id, ErrUnknownFramework)
	}
	if len(roles) == 0 {
		return n, n.roles, nil
	}
	for _, r := range roles {
		if !slices.Contains(n.roles, r) {
			return nil, nil, fmt.Errorf("%s framework %s role %s: %w", verb, id, r, ErrNotSubscribed)
		}
	}
	return n, roles, nil
}
