package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"

	"nodectl/cluster/api"
)

// Maintenance primitives, as Mesos has them
// (https://mesos.apache.org/documentation/latest/maintenance/, the
// maintenance calls of https://mesos.apache.org/documentation/latest/operator-http-api/,
// Mesos' src/master/maintenance.cpp for the validation rules):
//
//	UP ──POST /maintenance/schedule──▶ DRAINING ──POST /machine/down──▶ DOWN
//	 ▲       (machine in a window)                                       │
//	 └────────────────────────POST /machine/up───────────────────────────┘
//	                     (machine leaves the schedule)
//
//   - The schedule is a list of windows, each machines ({hostname, ip})
//     with an unavailability {start, duration}; a machine is in at most
//     one window. Posting a schedule replaces the old one; a DOWN machine
//     cannot be left out of it.
//   - DRAINING: offers of the machine's agents carry the window's
//     unavailability (Offer.unavailability), and the frameworks running
//     tasks there get inverse offers (inverse.go).
//   - POST /machine/down (only DRAINING machines): the machine's agents
//     are removed as an operator's MARK_AGENT_GONE removes one (removal.go):
//     their tasks end TASK_GONE_BY_OPERATOR (TASK_LOST for frameworks that
//     are not partition-aware), their ids are fenced, so the agents kill
//     what they run and register anew; and those registrations, by
//     hostname or IP of the machine, are refused until the machine is up.
//   - POST /machine/up (only DOWN machines): the machine leaves the
//     schedule; its agents may register again.
//
// Mesos matches an agent to a machine by its exact {hostname, ip} pair;
// nodectl matches a machine entry to every agent whose hostname (case
// insensitive) equals the entry's when it has one and whose IP equals the
// entry's when it has one, so an entry naming both matches as in Mesos.
//
// The schedule and the DOWN machines are one registry record, written
// fenced before any effect, as Mesos' registrar writes them.

// keyMaintenance holds the maintenance record (Mesos' Registry.schedules
// and Registry.machines).
const keyMaintenance = "/nodectl/registry/maintenance"

// ErrMachineDown refuses a registration from a machine that is down for
// maintenance.
var ErrMachineDown = api.Kind(api.ErrForbidden, "machine is down for maintenance")

// maintenanceRecord is the registry's maintenance state.
type maintenanceRecord struct {
	Schedule api.MaintenanceSchedule `json:"schedule"`
	Down     []api.MachineID         `json:"down,omitempty"`
}

// clone copies r deeply: the master hands the copy to the store.
func (r maintenanceRecord) clone() maintenanceRecord {
	out := maintenanceRecord{Down: slices.Clone(r.Down)}
	for _, w := range r.Schedule.Windows {
		w.MachineIDs = slices.Clone(w.MachineIDs)
		out.Schedule.Windows = append(out.Schedule.Windows, w)
	}
	return out
}

func (r maintenanceRecord) down(id api.MachineID) bool { return slices.Contains(r.Down, id) }

// window is the window that schedules id, or nil.
func (r maintenanceRecord) window(id api.MachineID) *api.MaintenanceWindow {
	for i := range r.Schedule.Windows {
		if slices.Contains(r.Schedule.Windows[i].MachineIDs, id) {
			return &r.Schedule.Windows[i]
		}
	}
	return nil
}

// machines are the scheduled machines, in schedule order.
func (r maintenanceRecord) machines() []api.MachineID {
	var out []api.MachineID
	for _, w := range r.Schedule.Windows {
		out = append(out, w.MachineIDs...)
	}
	return out
}

// machineMatches says whether an agent runs on machine id.
func machineMatches(id api.MachineID, a api.AgentInfo) bool {
	return (id.Hostname == "" || strings.EqualFold(id.Hostname, a.Hostname)) && (id.IP == "" || id.IP == a.IP)
}

// normalizeMachine validates id (Mesos' validation::machine) and returns
// it with a lower-case hostname and a canonical IP.
func normalizeMachine(id api.MachineID) (api.MachineID, error) {
	id.Hostname = strings.ToLower(strings.TrimSpace(id.Hostname))
	id.IP = strings.TrimSpace(id.IP)
	if id.Hostname == "" && id.IP == "" {
		return id, fmt.Errorf("%w: both 'hostname' and 'ip' for a machine are empty", ErrBadRequest)
	}
	if id.IP != "" {
		ip := net.ParseIP(id.IP)
		if ip == nil {
			return id, fmt.Errorf("%w: machine ip '%s' is not an IP address", ErrBadRequest, id.IP)
		}
		id.IP = ip.String()
	}
	return id, nil
}

// normalizeMachines validates a list of machines (Mesos'
// validation::machines): not empty, each valid, none twice.
func normalizeMachines(ids []api.MachineID) ([]api.MachineID, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: list of machines is empty", ErrBadRequest)
	}
	out := make([]api.MachineID, 0, len(ids))
	for _, id := range ids {
		n, err := normalizeMachine(id)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%w: machine '%s' appears more than once in the list", ErrBadRequest, n)
		}
		out = append(out, n)
	}
	return out, nil
}

// normalizeSchedule validates s (Mesos' validation::schedule): every
// window has machines and an unavailability with a start and a
// non-negative duration; a machine is in at most one window; every DOWN
// machine stays in the schedule.
func normalizeSchedule(s api.MaintenanceSchedule, down []api.MachineID) (api.MaintenanceSchedule, error) {
	var out api.MaintenanceSchedule
	seen := map[api.MachineID]bool{}
	for i, w := range s.Windows {
		if len(w.MachineIDs) == 0 {
			return out, fmt.Errorf("%w: window %d: list of machines in the maintenance window is empty", ErrBadRequest, i)
		}
		ids, err := normalizeMachines(w.MachineIDs)
		if err != nil {
			return out, fmt.Errorf("window %d: %w", i, err)
		}
		u := w.Unavailability
		if u.Start == nil {
			return out, fmt.Errorf("%w: window %d: unavailability has no 'start'", ErrBadRequest, i)
		}
		if u.Duration != nil && u.Duration.Nanoseconds < 0 {
			return out, fmt.Errorf("%w: window %d: unavailability's duration is negative", ErrBadRequest, i)
		}
		for _, id := range ids {
			if seen[id] {
				return out, fmt.Errorf("%w: machine '%s' appears more than once in the schedule", ErrBadRequest, id)
			}
			seen[id] = true
		}
		start := *u.Start
		var dur *api.DurationInfo
		if u.Duration != nil {
			d := *u.Duration
			dur = &d
		}
		out.Windows = append(out.Windows, api.MaintenanceWindow{MachineIDs: ids, Unavailability: api.Unavailability{Start: &start, Duration: dur}})
	}
	for _, id := range down {
		if !seen[id] {
			return out, fmt.Errorf("%w: machine '%s' is down and cannot be removed from the schedule (bring it up first: POST /machine/up)", ErrBadRequest, id)
		}
	}
	return out, nil
}

// loadMaintenance reads the maintenance record; none is an empty one.
func loadMaintenance(ctx context.Context, st store) (maintenanceRecord, bool, error) {
	return loadRecord[maintenanceRecord](ctx, st, keyMaintenance)
}

// loadRecord reads the single JSON record at key: the zero value when
// there is none; ok is false when it does not decode (the caller reports
// the key as skipped).
func loadRecord[T any](ctx context.Context, st store, key string) (rec T, ok bool, err error) {
	kvs, err := st.load(ctx, key)
	if err != nil {
		return rec, true, err
	}
	for _, x := range kvs {
		if x.key != key {
			continue
		}
		var v T
		if err := json.Unmarshal(x.val, &v); err != nil {
			return rec, false, nil
		}
		return v, true, nil
	}
	return rec, true, nil
}

// MaintenanceSchedule is the current schedule.
func (m *Master) MaintenanceSchedule() (api.MaintenanceSchedule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return api.MaintenanceSchedule{}, ErrNotLeader
	}
	s := m.maint.clone().Schedule
	if s.Windows == nil {
		s.Windows = []api.MaintenanceWindow{}
	}
	return s, nil
}

// MaintenanceStatus lists the DRAINING machines, with the frameworks'
// answers to their inverse offers (inverse.go), and the DOWN ones.
func (m *Master) MaintenanceStatus() (api.MaintenanceStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return api.MaintenanceStatus{}, ErrNotLeader
	}
	out := api.MaintenanceStatus{DrainingMachines: []api.DrainingMachine{}, DownMachines: []api.MachineID{}}
	for _, id := range m.maint.machines() {
		if m.maint.down(id) {
			out.DownMachines = append(out.DownMachines, id)
		} else {
			out.DrainingMachines = append(out.DrainingMachines, api.DrainingMachine{ID: id, Statuses: m.inverseStatusesLocked(id)})
		}
	}
	return out, nil
}

// commitMaintenance writes rec (and extra registry ops) fenced, then
// applies it with apply, under the registrar as every registry change.
// check runs first, under the lock, on the current record; it returns
// the new record and the extra ops.
func (m *Master) commitMaintenance(ctx context.Context, check func(cur maintenanceRecord) (maintenanceRecord, []op, error), apply func(rec maintenanceRecord)) error {
	m.registrar.Lock()
	defer m.registrar.Unlock()
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		return ErrNotLeader
	}
	rec, extra, err := check(m.maint.clone())
	wb := m.wb
	m.mu.Unlock()
	if err != nil {
		return err
	}
	ops := append([]op{{kind: opPut, key: keyMaintenance, val: rec.clone()}}, extra...)
	if err := wb.st.commit(ctx, ops); err != nil {
		return fmt.Errorf("write maintenance state: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected || m.wb != wb {
		return ErrNotLeader
	}
	m.maint = rec
	apply(rec)
	m.kick()
	return nil
}

// UpdateMaintenanceSchedule replaces the schedule (POST
// /maintenance/schedule, UPDATE_MAINTENANCE_SCHEDULE). Outstanding offers
// of agents whose unavailability changes are rescinded, so that the next
// ones carry the new unavailability (as Mesos' updateUnavailability does).
func (m *Master) UpdateMaintenanceSchedule(ctx context.Context, s api.MaintenanceSchedule) error {
	var before map[string]*api.Unavailability
	return m.commitMaintenance(ctx, func(cur maintenanceRecord) (maintenanceRecord, []op, error) {
		n, err := normalizeSchedule(s, cur.Down)
		if err != nil {
			return cur, nil, err
		}
		before = map[string]*api.Unavailability{}
		for id, a := range m.agents {
			before[id] = m.unavailabilityLocked(a)
		}
		return maintenanceRecord{Schedule: n, Down: cur.Down}, nil, nil
	}, func(rec maintenanceRecord) {
		for _, a := range m.sortedAgentsLocked() {
			if !sameUnavailability(before[a.Info.ID], m.unavailabilityLocked(a)) {
				m.rescindAgentOffersLocked(a)
			}
		}
		m.pruneInverseLocked() // inverse.go
		m.log.Info("maintenance schedule updated", "windows", len(rec.Schedule.Windows), "machines", len(rec.machines()))
	})
}

func sameUnavailability(a, b *api.Unavailability) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a.Start == *b.Start && (a.Duration == nil) == (b.Duration == nil) && (a.Duration == nil || *a.Duration == *b.Duration)
}

// StartMaintenance brings DRAINING machines down (POST /machine/down,
// START_MAINTENANCE): their agents are removed and fenced, their tasks end
// TASK_GONE_BY_OPERATOR (TASK_LOST if not partition-aware), and the
// machines' agents are refused until StopMaintenance.
func (m *Master) StartMaintenance(ctx context.Context, ids []api.MachineID) error {
	ids, err := normalizeMachines(ids)
	if err != nil {
		return err
	}
	var victims []*agent
	now := m.cfg.Now()
	return m.commitMaintenance(ctx, func(cur maintenanceRecord) (maintenanceRecord, []op, error) {
		for _, id := range ids {
			switch {
			case cur.window(id) == nil:
				return cur, nil, fmt.Errorf("%w: machine '%s' is not part of a maintenance schedule", ErrBadRequest, id)
			case cur.down(id):
				return cur, nil, fmt.Errorf("%w: machine '%s' is not in DRAINING mode and cannot be brought down", ErrBadRequest, id)
			}
		}
		cur.Down = append(cur.Down, ids...)
		var extra []op
		victims = nil
		for _, a := range m.sortedAgentsLocked() {
			for _, id := range ids {
				if machineMatches(id, a.Info) {
					victims = append(victims, a)
					extra = append(extra,
						op{kind: opDelete, key: keyAgentsPrefix + a.Info.ID},
						op{kind: opPut, key: keyGonePrefix + a.Info.ID, val: goneRecord{ID: a.Info.ID, Timestamp: now}},
						releaseLeasesOps(a.Info.ID)) // ipam.go
					break
				}
			}
		}
		return cur, extra, nil
	}, func(maintenanceRecord) {
		for _, a := range victims {
			m.removals.gone[a.Info.ID] = now
			m.leasesReleased(a.Info.ID) // ipam.go
			if m.agents[a.Info.ID] == a {
				a.pendingMark = false
				m.removeAgentLocked(a, api.TaskGoneByOperator, "Agent "+a.Info.Hostname+" removed: its machine is down for maintenance")
			}
		}
		m.pruneInverseLocked()
		m.log.Warn("machines down for maintenance", "machines", machineNames(ids), "agents_removed", len(victims))
	})
}

// StopMaintenance brings DOWN machines up (POST /machine/up,
// STOP_MAINTENANCE): they leave the schedule (a window left with no
// machine goes too) and their agents may register again.
func (m *Master) StopMaintenance(ctx context.Context, ids []api.MachineID) error {
	ids, err := normalizeMachines(ids)
	if err != nil {
		return err
	}
	return m.commitMaintenance(ctx, func(cur maintenanceRecord) (maintenanceRecord, []op, error) {
		for _, id := range ids {
			if !cur.down(id) {
				return cur, nil, fmt.Errorf("%w: machine '%s' is not in DOWN mode and cannot be brought up", ErrBadRequest, id)
			}
		}
		out := maintenanceRecord{}
		for _, d := range cur.Down {
			if !slices.Contains(ids, d) {
				out.Down = append(out.Down, d)
			}
		}
		for _, w := range cur.Schedule.Windows {
			w.MachineIDs = slices.DeleteFunc(w.MachineIDs, func(id api.MachineID) bool { return slices.Contains(ids, id) })
			if len(w.MachineIDs) > 0 {
				out.Schedule.Windows = append(out.Schedule.Windows, w)
			}
		}
		return out, nil, nil
	}, func(maintenanceRecord) {
		m.log.Info("machines up after maintenance", "machines", machineNames(ids))
	})
}

func machineNames(ids []api.MachineID) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.String()
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// unavailabilityLocked is the unavailability of a's machine, nil unless
// it is scheduled.
func (m *Master) unavailabilityLocked(a *agent) *api.Unavailability {
	for _, w := range m.maint.Schedule.Windows {
		for _, id := range w.MachineIDs {
			if machineMatches(id, a.Info) {
				u := w.Unavailability
				start := *u.Start
				u.Start = &start
				if u.Duration != nil {
					d := *u.Duration
					u.Duration = &d
				}
				return &u
			}
		}
	}
	return nil
}

// refuseDownLocked is the refusal of an agent registering from a machine
// that is down, nil otherwise.
func (m *Master) refuseDownLocked(info api.AgentInfo) error {
	for _, id := range m.maint.Down {
		if machineMatches(id, info) {
			return fmt.Errorf("%w: agent %s (%s) is on machine '%s', which is down for maintenance: it may register after POST /machine/up",
				ErrMachineDown, info.Hostname, info.IP, id)
		}
	}
	return nil
}
