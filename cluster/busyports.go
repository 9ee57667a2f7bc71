package cluster

import (
	"slices"

	"nodectl/cluster/api"
)

// Busy host ports: an agent reports the ports of its "ports" resource that
// other programs on its host hold (api.RegisterRequest.BusyPorts, and with
// every ping; runtime/ports.go). The master offers the agent's total less
// those ports, and rescinds outstanding offers holding one that became
// busy, so no framework is given a port its task could not bind.

// withoutBusyPorts is total less the busy ports, whatever their role.
func withoutBusyPorts(total api.Resources, busy []api.Range) api.Resources {
	if len(busy) == 0 {
		return total
	}
	var drop api.Resources
	for _, r := range total {
		if r.Name == "ports" && r.Type == api.Ranges {
			d := r
			d.Ranges = &api.RangesVal{Range: busy}
			drop = append(drop, d)
		}
	}
	return total.Subtract(drop)
}

// holdsBusyPort reports whether rs holds one of the busy ports.
func holdsBusyPort(rs api.Resources, busy []api.Range) bool {
	for _, r := range rs.RangesOf("ports") {
		for _, b := range busy {
			if r.Begin <= b.End && b.Begin <= r.End {
				return true
			}
		}
	}
	return false
}

// setBusyPortsLocked records an agent's busy ports; on a change it updates
// the allocator and rescinds the agent's offers that hold a busy port.
func (m *Master) setBusyPortsLocked(a *agent, busy []api.Range) {
	if slices.Equal(a.busyPorts, busy) {
		return
	}
	a.busyPorts = slices.Clone(busy)
	m.log.Info("agent reports host ports in use", "agent_id", a.Info.ID, "ports", api.Resources{api.RangesResource("ports", busy...)}.String())
	if !a.inAlloc {
		return
	}
	for _, o := range sortedOffers(a.offers) {
		if holdsBusyPort(o.resources, busy) {
			m.rescindLocked(o)
		}
	}
	if err := m.alloc.UpdateAgent(a.allocAgent()); err != nil {
		m.log.Error("update agent in allocator", "agent_id", a.Info.ID, "err", err)
	}
	m.kick()
}

// reportBusyPorts takes the busy ports a live agent's ping carries.
func (m *Master) reportBusyPorts(id string, busy []api.Range) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.agents[id]; ok && m.elected && a.active {
		m.setBusyPortsLocked(a, busy)
	}
}
