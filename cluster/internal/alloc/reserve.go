package alloc

import (
	"fmt"

	"nodectl/cluster/api"
)

// Reservations and persistent volumes change what kind of resources an
// agent has (unreserved → reserved for a role → volume) but never how
// much, so the DRF sums stay as they are: only the agent's total, its free
// pool or an offer change. Reserved resources are offered to frameworks
// of their role only (offerableTo).

// UpdateAllocation applies an offer operation (RESERVE, UNRESERVE, CREATE,
// DESTROY) to resources offered to a framework in role: from, which must be
// part of the offer, becomes to, in the offer and in the agent's total.
func (a *Allocator) UpdateAllocation(frameworkID, agentID, role string, from, to api.Resources) error {
	n, ok := a.agents[agentID]
	if !ok {
		return fmt.Errorf("update allocation on agent %s: %w", agentID, ErrUnknownAgent)
	}
	if err := sameQuantities(from, to); err != nil {
		return err
	}
	al := n.allocs[allocKey{frameworkID, role}]
	if al == nil || !al.offered.Contains(from) {
		return fmt.Errorf("convert %s of framework %s role %s on agent %s: %w", from, frameworkID, role, agentID, ErrNotAllocated)
	}
	al.offered = al.offered.Subtract(from).Add(to)
	n.info.Resources = n.info.Resources.Subtract(from).Add(to)
	n.recompute()
	return nil
}

// UpdateAvailable applies an operator's operation to an agent's free
// resources: from, which must be free (not offered, not used), becomes to.
func (a *Allocator) UpdateAvailable(agentID string, from, to api.Resources) error {
	n, ok := a.agents[agentID]
	if !ok {
		return fmt.Errorf("update available on agent %s: %w", agentID, ErrUnknownAgent)
	}
	if err := sameQuantities(from, to); err != nil {
		return err
	}
	if !n.free.Contains(from) {
		return fmt.Errorf("convert %s on agent %s (free %s): %w", from, agentID, n.free, ErrNotAllocated)
	}
	n.info.Resources = n.info.Resources.Subtract(from).Add(to)
	n.recompute()
	return nil
}

// sameQuantities guards the rule above: a conversion that changed amounts
// would put the DRF sums out of step.
func sameQuantities(from, to api.Resources) error {
	for _, r := range append(from.Add(nil), to...) {
		if r.Type == api.Scalar && from.Scalar(r.Name) != to.Scalar(r.Name) {
			return fmt.Errorf("convert %s to %s: %w", from, to, ErrBadConversion)
		}
	}
	return nil
}
