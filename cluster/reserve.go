package cluster

import (
	"fmt"
	"slices"

	"nodectl/cluster/api"
)

// Dynamic reservations and persistent volumes (https://mesos.apache.org/documentation/latest/reservation/,
// https://mesos.apache.org/documentation/latest/persistent-volume/).
//
// An agent's "checkpointed resources" are its dynamic reservations and
// volumes. They are kept in its registry record (etcd) beside the
// resources the agent reports, and its total is the reported resources
// with the checkpointed ones converted:
//
//	unreserved ──RESERVE──▶ reserved(role, principal, labels) ──CREATE──▶ volume(id, path)
//	           ◀─UNRESERVE─                                    ◀─DESTROY─
//
// An operation comes from a framework's ACCEPT (on offered resources) or
// from an operator endpoint (on free resources). Either way the master
// updates the allocator, writes the agent record, and sends the agent its
// complete checkpointed set (CHECKPOINT_RESOURCES), which creates and
// removes volume directories to match.

// conversion is one operation's effect: from becomes to.
type conversion struct {
	from, to api.Resources
}

// totalResources is the agent's total: what it reports, with its
// reservations and volumes applied.
func (a *agent) totalResources() api.Resources {
	if len(a.Checkpointed) == 0 {
		return a.Info.Resources
	}
	var plain api.Resources
	for _, r := range a.Checkpointed {
		plain = append(plain, r.Unreserved())
	}
	return a.Info.Resources.Subtract(plain).Add(a.Checkpointed)
}

// adoptCheckpointed is what a master takes from a registering agent it
// has not seen since it was elected (a new agent, or one recovered from
// the registry): the agent's own checkpointed reservations and volumes,
// as Mesos does. The registry's copy may lack a change whose write a
// failover cut short; taking it over would destroy a volume. A set that
// does not fit the agent's resources is refused (nil).
func adoptCheckpointed(total, reported api.Resources) api.Resources {
	cp, err := api.Validated(reported)
	if err != nil || len(cp.Reserved()) != len(cp) {
		return nil
	}
	var plain api.Resources
	for _, r := range cp {
		plain = append(plain, r.Unreserved())
	}
	if !total.Contains(plain) {
		return nil
	}
	return cp
}

// record is a copy of a's persisted fields, safe to marshal outside the
// lock.
func (a *agent) record() *agent {
	return &agent{Info: a.Info, RegisteredTime: a.RegisteredTime, ReregisteredTime: a.ReregisteredTime,
		UnreachableTime: a.UnreachableTime, Checkpointed: a.Checkpointed}
}

// convertOp validates an operation against agent a and returns its
// conversion. It does not check that from is available.
func convertOp(a *agent, op api.Operation) (conversion, error) {
	var in api.Resources
	switch op.Type {
	case api.OperationReserve, api.OperationUnreserve:
		body := op.Reserve
		if op.Type == api.OperationUnreserve {
			body = op.Unreserve
		}
		if body == nil || len(body.Resources) == 0 {
			return conversion{}, fmt.Errorf("%w: %s without resources", ErrBadCall, op.Type)
		}
		in = body.Resources
	case api.OperationCreate, api.OperationDestroy:
		body := op.Create
		if op.Type == api.OperationDestroy {
			body = op.Destroy
		}
		if body == nil || len(body.Volumes) == 0 {
			return conversion{}, fmt.Errorf("%w: %s without volumes", ErrBadCall, op.Type)
		}
		in = body.Volumes
	default:
		return conversion{}, fmt.Errorf("%w: operation %q is not supported", ErrBadCall, op.Type)
	}
	rs, err := api.Validated(in)
	if err != nil {
		return conversion{}, fmt.Errorf("%w: %w", ErrBadCall, err)
	}
	var c conversion
	for _, r := range rs {
		d := r.Dynamic()
		switch op.Type {
		case api.OperationReserve, api.OperationUnreserve:
			if d == nil {
				return conversion{}, fmt.Errorf("%w: %s: %s is not dynamically reserved", ErrBadCall, op.Type, r.Name)
			}
			if r.PersistenceID() != "" {
				return conversion{}, fmt.Errorf("%w: %s: %s is a persistent volume; DESTROY it first", ErrBadCall, op.Type, r.Name)
			}
			if op.Type == api.OperationReserve {
				c.from, c.to = append(c.from, r.Unreserved()), append(c.to, r)
			} else {
				c.from, c.to = append(c.from, r), append(c.to, r.Unreserved())
			}
		default:
			id := r.PersistenceID()
			if id == "" {
				return conversion{}, fmt.Errorf("%w: %s: %s has no disk.persistence", ErrBadCall, op.Type, r.Name)
			}
			if op.Type == api.OperationCreate {
				if r.Disk.Volume != nil && r.Disk.Volume.Mode != "" && r.Disk.Volume.Mode != api.VolumeRW {
					return conversion{}, fmt.Errorf("%w: CREATE: volume %s: mode must be RW", ErrBadCall, id)
				}
				if slices.ContainsFunc(a.Checkpointed, func(x api.Resource) bool { return x.PersistenceID() == id && x.Role == r.Role }) {
					return conversion{}, fmt.Errorf("%w: CREATE: persistence id %s already exists on agent %s", ErrConflict, id, a.Info.ID)
				}
				c.from, c.to = append(c.from, r.WithoutVolume()), append(c.to, r)
			} else {
				if !a.Checkpointed.Contains(api.Resources{r}) {
					return conversion{}, fmt.Errorf("%w: DESTROY: no volume %s on agent %s", ErrConflict, id, a.Info.ID)
				}
				c.from, c.to = append(c.from, r), append(c.to, r.WithoutVolume())
			}
		}
	}
	c.from, c.to = c.from.Add(nil), c.to.Add(nil)
	return c, nil
}

// commitConversionLocked records an applied conversion: the agent's
// checkpointed set, its registry record and the agent's copy.
func (m *Master) commitConversionLocked(a *agent, c conversion) {
	a.Checkpointed = a.Checkpointed.Subtract(c.from.Reserved()).Add(c.to.Reserved())
	if m.wb != nil {
		m.wb.put(keyAgentsPrefix+a.Info.ID, a.record())
	}
	m.sendCheckpointLocked(a)
}

// sendCheckpointLocked queues the agent's complete checkpointed set.
func (m *Master) sendCheckpointLocked(a *agent) {
	a.outbox.push(api.AgentMessage{Type: api.MsgCheckpointResources,
		CheckpointResources: &api.CheckpointResources{Resources: a.Checkpointed}})
}

// applyOfferOpLocked applies a non-LAUNCH operation of an ACCEPT to the
// offered resources left in avail (by allocation role). A failing
// operation is dropped and the rest go on, as in Mesos: operations in one
// ACCEPT are not atomic.
func (m *Master) applyOfferOpLocked(fw *framework, a *agent, avail map[string]api.Resources, roles []string, op api.Operation) error {
	c, err := convertOp(a, op)
	if err != nil {
		return err
	}
	role := ""
	for _, r := range roles {
		if avail[r].Contains(c.from) {
			role = r
			break
		}
	}
	if role == "" {
		return fmt.Errorf("%w: %s: %s is not in the offers", ErrConflict, op.Type, c.from)
	}
	for _, r := range c.to.Reserved() {
		if rr := r.Dynamic().Role; rr != role {
			return fmt.Errorf("%w: %s: reservation role %q is not the offer's allocation role %q", ErrBadCall, op.Type, rr, role)
		}
	}
	if err := m.alloc.UpdateAllocation(fw.id, a.Info.ID, role, c.from, c.to); err != nil {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	avail[role] = avail[role].Subtract(c.from).Add(c.to)
	m.commitConversionLocked(a, c)
	m.log.Info("offer operation applied", "op", op.Type, "framework_id", fw.id, "agent_id", a.Info.ID, "resources", c.to.String())
	return nil
}

// ApplyOperation applies an operator's RESERVE, UNRESERVE, CREATE or
// DESTROY to an agent's free resources (the /master/reserve family).
// Outstanding offers of the agent are rescinded when the free resources
// alone do not suffice.
func (m *Master) ApplyOperation(agentID string, op api.Operation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return ErrNotLeader
	}
	a := m.agents[agentID]
	if a == nil {
		return fmt.Errorf("%w: No agent found with specified ID", ErrBadRequest)
	}
	c, err := convertOp(a, op)
	if err != nil {
		return err
	}
	if !a.inAlloc {
		return fmt.Errorf("%w: agent %s is not active", ErrConflict, agentID)
	}
	err = m.alloc.UpdateAvailable(agentID, c.from, c.to)
	if err != nil && len(a.offers) > 0 {
		m.rescindAgentOffersLocked(a)
		err = m.alloc.UpdateAvailable(agentID, c.from, c.to)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	m.commitConversionLocked(a, c)
	m.log.Info("operator operation applied", "op", op.Type, "agent_id", agentID, "resources", c.to.String())
	m.kick()
	return nil
}

// reservedJSON splits an agent's total for /state: reserved_resources
// (role → summary), reserved_resources_full (role → full resources, volumes
// included, in the shape DESTROY takes) and unreserved_resources.
func reservedJSON(total api.Resources) (map[string]any, map[string]api.Resources, map[string]any) {
	reserved, full := map[string]any{}, map[string]api.Resources{}
	var unreserved api.Resources
	for _, r := range total {
		if r.Role == "" || r.Role == "*" {
			unreserved = append(unreserved, r)
			continue
		}
		full[r.Role] = append(full[r.Role], r)
	}
	for role, rs := range full {
		reserved[role] = rs.Summary()
	}
	return reserved, full, unreserved.Summary()
}
