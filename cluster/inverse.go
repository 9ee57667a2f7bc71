package cluster

import (
	"fmt"
	"sort"
	"time"

	"nodectl/cluster/api"
)

// Inverse offers (https://mesos.apache.org/documentation/latest/maintenance/,
// "Draining"): while a machine is DRAINING, every connected framework
// that runs tasks on one of its agents gets an inverse offer for that
// agent, carrying the window's unavailability. It answers with
// ACCEPT_INVERSE_OFFERS (it will be off the agent by the start) or
// DECLINE_INVERSE_OFFERS; the latest answer of each framework is shown in
// GET /maintenance/status as the machine's statuses (UNKNOWN until it
// answers), and it is not asked again about that agent for the answer's
// refuse_seconds (default 5). An inverse offer is rescinded
// (RESCIND_INVERSE_OFFER) when its agent's unavailability changes or the
// machine goes down; one whose framework disconnected or whose agent left
// is dropped. Like offers, inverse offers live in the leader's memory
// only: a new leader sends them afresh.

// inverseState is the leader's inverse offers; guarded by Master.mu.
type inverseState struct {
	offers   map[string]*inverseOffer // outstanding, by id
	byKey    map[inverseKey]*inverseOffer
	statuses map[api.MachineID]map[string]api.InverseOfferStatus // machine → framework id → latest
	filters  map[inverseKey]time.Time                            // not asked again before
	next     int
}

type inverseKey struct{ fw, agent string }

type inverseOffer struct {
	id       string
	key      inverseKey
	streamID string // of the subscription it was sent on
	agent    *agent
	machine  api.MachineID
	u        api.Unavailability
}

func (s *inverseState) init() {
	if s.offers == nil {
		s.offers, s.byKey = map[string]*inverseOffer{}, map[inverseKey]*inverseOffer{}
		s.statuses, s.filters = map[api.MachineID]map[string]api.InverseOfferStatus{}, map[inverseKey]time.Time{}
	}
}

func (s *inverseState) drop(o *inverseOffer) {
	delete(s.offers, o.id)
	delete(s.byKey, o.key)
}

// drainingMachineLocked is the DRAINING machine a runs on, with its
// window's unavailability.
func (m *Master) drainingMachineLocked(a *agent) (api.MachineID, *api.Unavailability, bool) {
	for _, w := range m.maint.Schedule.Windows {
		for _, id := range w.MachineIDs {
			if machineMatches(id, a.Info) && !m.maint.down(id) {
				return id, m.unavailabilityLocked(a), true
			}
		}
	}
	return api.MachineID{}, nil, false
}

// pruneInverseLocked drops inverse offers that no longer hold, telling
// still-connected frameworks (RESCIND_INVERSE_OFFER), and the statuses of
// machines no longer draining or frameworks no longer known.
func (m *Master) pruneInverseLocked() {
	inv := &m.inverse
	inv.init()
	ids := make([]string, 0, len(inv.offers))
	for id := range inv.offers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := inv.offers[id]
		fw := m.frameworks[o.key.fw]
		connected := fw != nil && fw.sink != nil && fw.streamID == o.streamID
		machine, u, draining := m.drainingMachineLocked(o.agent)
		valid := connected && m.agents[o.key.agent] == o.agent && o.agent.active && draining && machine == o.machine && sameUnavailability(u, &o.u)
		if valid {
			continue
		}
		inv.drop(o)
		if connected {
			fw.sink.Send(api.Event{Type: api.EventRescindInverseOffer, RescindInverseOffer: &api.RescindInverseOfferEvent{InverseOfferID: api.ID{Value: o.id}}})
		}
	}
	draining := map[api.MachineID]bool{}
	for _, id := range m.maint.machines() {
		draining[id] = !m.maint.down(id)
	}
	for machine, byFw := range inv.statuses {
		if !draining[machine] {
			delete(inv.statuses, machine)
			continue
		}
		for fwID := range byFw {
			if m.frameworks[fwID] == nil {
				delete(byFw, fwID)
			}
		}
	}
}

// sendInverseOffersLocked sends the inverse offers due: one per connected
// framework running tasks on an agent of a DRAINING machine, unless one
// is outstanding or its last answer's filter holds. Called with every
// allocation round.
func (m *Master) sendInverseOffersLocked(now time.Time) {
	if len(m.maint.Schedule.Windows) == 0 && len(m.inverse.offers) == 0 {
		return
	}
	m.pruneInverseLocked()
	inv := &m.inverse
	byFw := map[*framework][]api.InverseOffer{}
	var order []*framework
	for _, a := range m.sortedAgentsLocked() {
		if !a.active || a.recovered {
			continue
		}
		machine, u, ok := m.drainingMachineLocked(a)
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, k := range sortedTaskKeys(a.tasks) {
			t := a.tasks[k]
			fw := m.frameworks[t.frameworkID]
			if t.state.Terminal() || seen[t.frameworkID] || fw == nil || fw.sink == nil {
				continue
			}
			seen[t.frameworkID] = true
			key := inverseKey{fw.id, a.Info.ID}
			if inv.byKey[key] != nil || now.Before(inv.filters[key]) {
				continue
			}
			o := &inverseOffer{id: fmt.Sprintf("%s-IO%d", m.info.ID, inv.next), key: key, streamID: fw.streamID, agent: a, machine: machine, u: *u}
			inv.next++
			inv.offers[o.id], inv.byKey[key] = o, o
			if inv.statuses[machine] == nil {
				inv.statuses[machine] = map[string]api.InverseOfferStatus{}
			}
			if _, ok := inv.statuses[machine][fw.id]; !ok {
				inv.statuses[machine][fw.id] = api.InverseOfferStatus{Status: "UNKNOWN", FrameworkID: api.ID{Value: fw.id}, Timestamp: api.TimeInfo{Nanoseconds: now.UnixNano()}}
			}
			if _, ok := byFw[fw]; !ok {
				order = append(order, fw)
			}
			byFw[fw] = append(byFw[fw], api.InverseOffer{ID: api.ID{Value: o.id}, FrameworkID: api.ID{Value: fw.id}, AgentID: api.ID{Value: a.Info.ID}, Unavailability: o.u})
		}
	}
	for _, fw := range order {
		fw.sink.Send(api.Event{Type: api.EventInverseOffers, InverseOffers: &api.InverseOffersEvent{InverseOffers: byFw[fw]}})
	}
}

// AnswerInverseOffers is ACCEPT_INVERSE_OFFERS (accept) or
// DECLINE_INVERSE_OFFERS: the framework's answer is recorded for the
// machine and the agent is not inverse-offered to it again for the
// filter's refuse_seconds. Unknown ids are ignored, as in Mesos.
func (m *Master) AnswerInverseOffers(s Subscription, call api.InverseOffersCall, accept bool) error {
	refuse, err := refuseDuration(call.Filters)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	inv := &m.inverse
	inv.init()
	status := "DECLINE"
	if accept {
		status = "ACCEPT"
	}
	now := m.cfg.Now()
	for _, id := range call.InverseOfferIDs {
		o := inv.offers[id.Value]
		if o == nil || o.key.fw != fw.id {
			continue
		}
		inv.drop(o)
		inv.filters[o.key] = now.Add(refuse)
		if inv.statuses[o.machine] == nil {
			inv.statuses[o.machine] = map[string]api.InverseOfferStatus{}
		}
		inv.statuses[o.machine][fw.id] = api.InverseOfferStatus{Status: status, FrameworkID: api.ID{Value: fw.id}, Timestamp: api.TimeInfo{Nanoseconds: now.UnixNano()}}
	}
	m.kick()
	return nil
}

// inverseStatusesLocked are the frameworks' latest answers for machine.
func (m *Master) inverseStatusesLocked(machine api.MachineID) []api.InverseOfferStatus {
	out := []api.InverseOfferStatus{}
	byFw := m.inverse.statuses[machine]
	for _, id := range sortedStringKeys(byFw) {
		out = append(out, byFw[id])
	}
	return out
}

// inverseOffersOfLocked are fw's outstanding inverse offers, for
// GET_FRAMEWORKS.
func (m *Master) inverseOffersOfLocked(fw *framework) []api.InverseOffer {
	out := []api.InverseOffer{}
	ids := make([]string, 0)
	for id, o := range m.inverse.offers {
		if o.key.fw == fw.id {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := m.inverse.offers[id]
		out = append(out, api.InverseOffer{ID: api.ID{Value: o.id}, FrameworkID: api.ID{Value: fw.id}, AgentID: api.ID{Value: o.key.agent}, Unavailability: o.u})
	}
	return out
}
