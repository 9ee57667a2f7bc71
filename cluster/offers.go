package cluster

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/internal/alloc"
)

// offer is an outstanding offer: resources of one agent, allocated by the
// allocator to one framework in one role. It ends accepted, declined,
// rescinded or timed out; its resources then go back through the
// allocator.
type offer struct {
	id        string
	fw        *framework
	agent     *agent
	role      string
	resources api.Resources
	created   time.Time
}

func (o *offer) apiOffer() api.Offer {
	return api.Offer{
		ID: api.ID{Value: o.id}, FrameworkID: api.ID{Value: o.fw.id}, AgentID: api.ID{Value: o.agent.Info.ID},
		Hostname: o.agent.Info.Hostname, Resources: o.resources, Attributes: o.agent.Info.Attributes.List(),
		AllocationInfo: &api.AllocationInfo{Role: o.role},
	}
}

// allocate runs one allocation round and sends the offers it makes, one
// OFFERS event per framework.
func (m *Master) allocate() {
	m.refreshAgentWhitelist() // quota.go
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return
	}
	now := m.cfg.Now()
	m.sendInverseOffersLocked(now) // inverse.go
	if m.quotaPausedLocked(now) {  // quota.go
		return
	}
	made := m.alloc.Allocate(now)
	if len(made) == 0 {
		return
	}
	byFw := map[*framework][]api.Offer{}
	var order []*framework
	for _, ao := range made {
		fw, a := m.frameworks[ao.FrameworkID], m.agents[ao.AgentID]
		if fw == nil || fw.sink == nil || a == nil || !a.active {
			// The allocator and the master disagree; hand it back.
			m.log.Warn("allocator offered to an unknown party", "framework_id", ao.FrameworkID, "agent_id", ao.AgentID)
			m.recoverOfferedLocked(ao.FrameworkID, ao.AgentID, ao.Role, ao.Resources, 0)
			continue
		}
		o := &offer{id: fmt.Sprintf("%s-O%d", m.info.ID, m.nextOffer), fw: fw, agent: a, role: ao.Role, resources: ao.Resources, created: now}
		m.nextOffer++
		m.offers[o.id], fw.offers[o.id], a.offers[o.id] = o, o, o
		if _, ok := byFw[fw]; !ok {
			order = append(order, fw)
		}
		wire := o.apiOffer()
		wire.Unavailability = m.unavailabilityLocked(a) // maintenance.go
		byFw[fw] = append(byFw[fw], wire)
	}
	for _, fw := range order {
		fw.sink.Send(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: byFw[fw]}})
	}
}

// recoverOfferedLocked gives offered resources back, filtering the agent
// for the framework for refuse (zero: no filter).
func (m *Master) recoverOfferedLocked(fwID, agentID, role string, rs api.Resources, refuse time.Duration) {
	err := m.alloc.RecoverResources(alloc.Recovery{
		FrameworkID: fwID, AgentID: agentID, Role: role, Resources: rs, From: alloc.Offered, Refuse: refuse,
	}, m.cfg.Now())
	if err != nil && !errors.Is(err, alloc.ErrUnknownAgent) {
		m.log.Warn("recover offered resources", "framework_id", fwID, "agent_id", agentID, "err", err)
	}
}

// dropOfferLocked forgets an offer without touching its resources.
func (m *Master) dropOfferLocked(o *offer) {
	delete(m.offers, o.id)
	delete(o.fw.offers, o.id)
	delete(o.agent.offers, o.id)
}

// rescindLocked withdraws an offer: the framework hears RESCIND and the
// resources go back with no filter.
func (m *Master) rescindLocked(o *offer) {
	m.dropOfferLocked(o)
	if o.agent.inAlloc {
		m.recoverOfferedLocked(o.fw.id, o.agent.Info.ID, o.role, o.resources, 0)
	}
	if o.fw.sink != nil {
		o.fw.sink.Send(api.Event{Type: api.EventRescind, Rescind: &api.RescindEvent{OfferID: api.ID{Value: o.id}}})
	}
	m.kick()
}

func sortedOffers(offers map[string]*offer) []*offer {
	out := make([]*offer, 0, len(offers))
	for _, o := range offers {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (m *Master) rescindAgentOffersLocked(a *agent) {
	for _, o := range sortedOffers(a.offers) {
		m.rescindLocked(o)
	}
}

func (m *Master) rescindFrameworkOffersLocked(fw *framework) {
	for _, o := range sortedOffers(fw.offers) {
		m.rescindLocked(o)
	}
}

// expireOffersLocked rescinds offers older than OfferTimeout.
func (m *Master) expireOffersLocked(now time.Time) {
	if m.cfg.OfferTimeout <= 0 {
		return
	}
	for _, o := range sortedOffers(m.offers) {
		if now.Sub(o.created) >= m.cfg.OfferTimeout {
			m.rescindLocked(o)
		}
	}
}

// refuseDuration is a Filters' refuse_seconds: default 5s, at most a year.
func refuseDuration(f *api.Filters) (time.Duration, error) {
	if f == nil || f.RefuseSeconds == nil {
		return alloc.DefaultRefuse, nil
	}
	s := *f.RefuseSeconds
	if math.IsNaN(s) || math.IsInf(s, -1) {
		return 0, fmt.Errorf("%w: refuse_seconds %v is not a number", ErrBadCall, s)
	}
	if s <= 0 {
		return 0, nil
	}
	return time.Duration(min(s*float64(time.Second), float64(alloc.MaxRefuse))), nil
}

// Decline implements Scheduler: unknown offer ids are ignored, as in Mesos.
func (m *Master) Decline(s Subscription, call api.DeclineCall) error {
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
	for _, id := range call.OfferIDs {
		o := fw.offers[id.Value]
		if o == nil {
			continue
		}
		m.dropOfferLocked(o)
		m.recoverOfferedLocked(fw.id, o.agent.Info.ID, o.role, o.resources, refuse)
	}
	m.kick()
	return nil
}

// Accept implements Scheduler: the offers (all of one agent, all the
// framework's) are used for LAUNCH operations; what is left is declined
// with the call's filters. Tasks that cannot launch get a master-generated
// update: TASK_ERROR (REASON_TASK_INVALID) for an invalid task, TASK_LOST
// (TASK_DROPPED for partition-aware frameworks, REASON_INVALID_OFFERS)
// when the offers are not valid.
func (m *Master) Accept(s Subscription, call api.AcceptCall) error {
	refuse, err := refuseDuration(call.Filters)
	if err != nil {
		return err
	}
	for _, o := range call.Operations {
		switch o.Type {
		case api.OperationLaunch:
			if o.Launch == nil {
				return fmt.Errorf("%w: LAUNCH operation without launch", ErrBadCall)
			}
		case api.OperationLaunchGroup:
			if o.LaunchGroup == nil {
				return fmt.Errorf("%w: LAUNCH_GROUP operation without launch_group", ErrBadCall)
			}
		case api.OperationReserve, api.OperationUnreserve, api.OperationCreate, api.OperationDestroy:
			if o.Reserve == nil && o.Unreserve == nil && o.Create == nil && o.Destroy == nil {
				return fmt.Errorf("%w: %s operation without its body", ErrBadCall, o.Type)
			}
		default:
			return fmt.Errorf("%w: operation %q is not supported", ErrBadCall, o.Type)
		}
	}
	secrets := m.resolveSecrets(call) // etcd reads: before the lock
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	var offs []*offer
	var problems []string
	seen := map[string]bool{}
	if len(call.OfferIDs) == 0 {
		problems = append(problems, "no offer ids given")
	}
	for _, id := range call.OfferIDs {
		o := m.offers[id.Value]
		switch {
		case seen[id.Value]:
			problems = append(problems, fmt.Sprintf("offer %s is given twice", id.Value))
		case o == nil:
			problems = append(problems, fmt.Sprintf("offer %s is no longer valid", id.Value))
		case o.fw != fw:
			problems = append(problems, fmt.Sprintf("offer %s belongs to another framework", id.Value))
		default:
			offs = append(offs, o)
		}
		seen[id.Value] = true
	}
	for _, o := range offs[min(1, len(offs)):] {
		if o.agent != offs[0].agent {
			problems = append(problems, fmt.Sprintf("offers %s and %s are on different agents", offs[0].id, o.id))
			break
		}
	}
	// The offers are used up either way.
	avail := map[string]api.Resources{}
	var roles []string
	for _, o := range offs {
		m.dropOfferLocked(o)
		if _, ok := avail[o.role]; !ok {
			roles = append(roles, o.role)
		}
		avail[o.role] = avail[o.role].Add(o.resources)
	}
	sort.Strings(roles)
	if len(problems) > 0 {
		for _, o := range offs {
			m.recoverOfferedLocked(fw.id, o.agent.Info.ID, o.role, o.resources, 0)
		}
		msg := "Task launched with invalid offers: " + strings.Join(problems, "; ")
		for _, op := range call.Operations {
			m.operationErrorLocked(fw, op, "Operation attempted with invalid offers: "+strings.Join(problems, "; "))
			for _, ti := range launchedTasks(op) {
				m.dropLaunchLocked(fw, ti, fw.lostState(api.TaskDropped), api.ReasonInvalidOffers, msg)
			}
		}
		m.kick()
		return nil
	}
	a := offs[0].agent
	batch := map[string]bool{}
	for _, op := range call.Operations {
		if m.refuseLaunchIDLocked(fw, op) { // opfeedback.go
			continue
		}
		if op.Type == api.OperationLaunchGroup {
			m.launchGroupLocked(fw, a, avail, roles, op.LaunchGroup, batch, secrets, now)
			continue
		}
		if op.Type != api.OperationLaunch {
			m.applyWithFeedbackLocked(fw, a, avail, roles, op) // opfeedback.go
			continue
		}
		for _, ti := range op.Launch.TaskInfos {
			ti, err := validateTask(ti, fw, a, batch)
			if err == nil {
				err = m.validateTaskNetworks(ti) // ipam.go
			}
			if err != nil {
				m.dropLaunchLocked(fw, ti, api.TaskError, api.ReasonTaskInvalid, err.Error())
				continue
			}
			if err := m.mayRunAsLocked(fw, ti); err != nil {
				m.dropLaunchLocked(fw, ti, api.TaskError, api.ReasonTaskUnauthorized, err.Error())
				continue
			}
			if err := m.maySeeSecretsLocked(fw, ti); err != nil {
				m.dropLaunchLocked(fw, ti, api.TaskError, api.ReasonTaskUnauthorized, err.Error())
				continue
			}
			wire := ti
			if r, ok := secrets[ti.TaskID.Value]; ok {
				if r.err != nil {
					m.dropLaunchLocked(fw, ti, api.TaskError, api.ReasonTaskInvalid, secretRefusal(r.err))
					continue
				}
				wire = r.wire
				wire.Resources, wire.AgentID = ti.Resources, ti.AgentID // as validated
			}
			ti = withExecutorResourcesLocked(fw, a, ti) // executor.go
			wire.Resources = ti.Resources
			role := ""
			for _, r := range roles {
				if rs, err := withMinimums(ti.Resources, avail[r]); err == nil && avail[r].Contains(rs) {
					role, ti.Resources = r, rs
					break
				}
			}
			if role == "" {
				var total api.Resources
				for _, r := range roles {
					total = total.Add(avail[r])
				}
				m.dropLaunchLocked(fw, ti, api.TaskError, api.ReasonTaskInvalid,
					fmt.Sprintf("Task uses more resources (%s) than the offers have left (%s)", ti.Resources, total))
				continue
			}
			if err := m.alloc.Allocated(fw.id, a.Info.ID, role, ti.Resources); err != nil {
				m.log.Error("allocator refused an accepted offer's resources", "framework_id", fw.id, "agent_id", a.Info.ID, "err", err)
				m.dropLaunchLocked(fw, ti, fw.lostState(api.TaskDropped), api.ReasonResourcesUnknown, err.Error())
				continue
			}
			avail[role] = avail[role].Subtract(ti.Resources)
			batch[ti.TaskID.Value] = true
			m.launchLocked(fw, a, role, ti, wire, nil, now)
		}
	}
	for _, r := range roles {
		if len(avail[r]) > 0 {
			m.recoverOfferedLocked(fw.id, a.Info.ID, r, avail[r], refuse)
		}
	}
	m.kick()
	return nil
}

// launchLocked creates a STAGING task and sends LAUNCH to its agent: the
// task kept is ti without secret values, the one sent is wire (ti with
// its secrets resolved). A task of a group carries the group (group
// non-nil).
func (m *Master) launchLocked(fw *framework, a *agent, role string, ti, wire api.TaskInfo, group *api.GroupLaunch, now time.Time) {
	ti = ti.Redacted()
	if ti.AgentID.Value == a.Info.ID {
		ti.AgentID.Value = a.Info.ID // the agent's string, not a copy of its own (shareIDsLocked)
	}
	t := &task{info: ti, frameworkID: fw.id, agentID: a.Info.ID, role: role, state: api.TaskStaging, launched: unixNano(now), inAlloc: true}
	t.record(m.masterStatus(t, api.TaskStaging, "", ""))
	m.addTaskLocked(fw, a, t)
	m.m.launches.Inc()
	info := fw.info
	a.outbox.push(api.AgentMessage{Type: api.MsgLaunch, Launch: &api.LaunchMessage{Framework: info, Task: wire, Group: group}})
}

// dropLaunchLocked answers a task that was not launched with a terminal
// (or, for TASK_LOST, final) master-generated update.
func (m *Master) dropLaunchLocked(fw *framework, ti api.TaskInfo, state api.TaskState, reason, msg string) {
	t := &task{info: ti}
	st := m.masterStatus(t, state, reason, msg)
	m.m.countState(state)
	m.forwardLocked(fw, st)
}

// Revive implements Scheduler.
func (m *Master) Revive(s Subscription, roles []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	if err := m.alloc.Revive(fw.id, roles...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCall, err)
	}
	fw.suppressedRoles = removeAll(fw.suppressedRoles, roles, fw.info.AllRoles())
	m.kick()
	return nil
}

// Suppress implements Scheduler.
func (m *Master) Suppress(s Subscription, roles []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	if err := m.alloc.Suppress(fw.id, roles...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCall, err)
	}
	if len(roles) == 0 {
		roles = fw.info.AllRoles()
	}
	for _, r := range roles {
		if !contains(fw.suppressedRoles, r) {
			fw.suppressedRoles = append(fw.suppressedRoles, r)
		}
	}
	return nil
}

// removeAll returns list without roles (all when roles is empty).
func removeAll(list, roles, all []string) []string {
	if len(roles) == 0 {
		roles = all
	}
	var out []string
	for _, r := range list {
		if !contains(roles, r) {
			out = append(out, r)
		}
	}
	return out
}
