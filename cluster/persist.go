package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"
)

// What a new leader recovers from etcd (Mesos: https://mesos.apache.org/documentation/latest/high-availability/, plus what nodectl keeps
// beyond Mesos' registry: frameworks and tasks, so a leader change does
// not forget them):
//
//	/nodectl/registry/agents/<agent id>    agent (AgentInfo, times; unreachable_time once marked)
//	/nodectl/registry/gone/<agent id>      goneRecord (agents an operator removed; fenced)
//	/nodectl/frameworks/<framework id>     frameworkRecord
//	/nodectl/tasks/<framework id>/<task>   taskRecord (latest state, recent statuses)
//	/nodectl/registry/maintenance          maintenanceRecord (schedule, machines down; fenced)
//	/nodectl/registry/roles                rolesRecord (weights, quotas; fenced)
//
// Tasks are written once per state change, through writeBehind's group
// commit; pings and offers are never written.

type recoveredState struct {
	agents     []*agent
	gone       []goneRecord
	frameworks []frameworkRecord
	tasks      []taskRecord
	maint      maintenanceRecord // maintenance.go
	roles      rolesRecord       // quota.go
	skipped    []string          // keys of records that could not be decoded
	// drains are the drain records (drain.go).
	drains map[string]*drainRecord
}

// loadState reads the persisted state. An undecodable record is skipped
// (and reported) rather than keeping every master from leading.
func loadState(ctx context.Context, st store) (recoveredState, error) {
	var rec recoveredState
	load := func(prefix string, decode func([]byte) error) error {
		kvs, err := st.load(ctx, prefix)
		if err != nil {
			return err
		}
		for _, x := range kvs {
			if err := decode(x.val); err != nil {
				rec.skipped = append(rec.skipped, x.key)
			}
		}
		return nil
	}
	err := load(keyAgentsPrefix, func(b []byte) error {
		var a agent
		if err := json.Unmarshal(b, &a); err != nil || a.Info.ID == "" {
			return errUndecodable
		}
		rec.agents = append(rec.agents, &a)
		return nil
	})
	if err != nil {
		return rec, err
	}
	err = load(keyGonePrefix, func(b []byte) error {
		var g goneRecord
		if err := json.Unmarshal(b, &g); err != nil || g.ID == "" {
			return errUndecodable
		}
		rec.gone = append(rec.gone, g)
		return nil
	})
	if err != nil {
		return rec, err
	}
	err = load(keyFrameworksPrefix, func(b []byte) error {
		var f frameworkRecord
		if err := json.Unmarshal(b, &f); err != nil || f.Info.ID == nil || validateID(f.Info.ID.Value) != nil {
			return errUndecodable
		}
		rec.frameworks = append(rec.frameworks, f)
		return nil
	})
	if err != nil {
		return rec, err
	}
	maint, ok, err := loadMaintenance(ctx, st)
	if err != nil {
		return rec, err
	}
	if !ok {
		rec.skipped = append(rec.skipped, keyMaintenance)
	}
	rec.maint = maint
	drains, skipped, err := loadDrains(ctx, st) // drain.go
	if err != nil {
		return rec, err
	}
	rec.drains, rec.skipped = drains, append(rec.skipped, skipped...)
	roles, ok, err := loadRoles(ctx, st)
	if err != nil {
		return rec, err
	}
	if !ok {
		rec.skipped = append(rec.skipped, keyRoles)
	}
	rec.roles = roles
	err = load(keyTasksPrefix, func(b []byte) error {
		var t taskRecord
		if err := json.Unmarshal(b, &t); err != nil || t.Info.TaskID.Value == "" || t.FrameworkID == "" {
			return errUndecodable
		}
		rec.tasks = append(rec.tasks, t)
		return nil
	})
	return rec, err
}

var errUndecodable = errors.New("undecodable record")

// restoreLocked installs recovered state. Agents are "recovered": they
// count as active until AgentReregisterTimeout but get no offers until
// they re-register (restoreRemovalsLocked handles unreachable and gone
// agents). Frameworks are disconnected with their failover timeout
// running from now. Tasks keep their last state.
func (m *Master) restoreLocked(rec recoveredState, now time.Time) {
	for _, k := range rec.skipped {
		m.log.Warn("skipping undecodable record", "key", k)
	}
	m.maint, m.inverse = rec.maint, inverseState{}
	m.restoreDrainsLocked(rec)      // drain.go
	m.restoreRolesLocked(rec.roles) // quota.go
	for _, r := range rec.agents {
		a := newAgentRecord(r.Info)
		a.RegisteredTime, a.ReregisteredTime, a.UnreachableTime = r.RegisteredTime, r.ReregisteredTime, r.UnreachableTime
		a.Checkpointed = r.Checkpointed
		a.lastPing, a.active, a.recovered = now, true, true
		m.agents[a.Info.ID] = a
	}
	for _, r := range rec.frameworks {
		fw := newFramework(r.Info, r.RegisteredTime)
		fw.reregisteredTime = r.ReregisteredTime
		fw.recovered = true
		fw.failoverAt = now.Add(fw.failoverTimeout())
		if err := m.alloc.AddFramework(fw.allocFramework()); err != nil {
			m.log.Warn("skipping recovered framework", "framework_id", fw.id, "err", err)
			continue
		}
		_ = m.alloc.DeactivateFramework(fw.id)
		m.frameworks[fw.id] = fw
	}
	sort.Slice(rec.tasks, func(i, j int) bool { return rec.tasks[i].LaunchedAt.Before(rec.tasks[j].LaunchedAt) })
	for _, r := range rec.tasks {
		fw := m.frameworks[r.FrameworkID]
		if fw == nil {
			m.wb.del(taskPath(r.FrameworkID, r.Info.TaskID.Value))
			continue
		}
		t := &task{
			info: r.Info, frameworkID: r.FrameworkID, agentID: r.AgentID, role: r.Role, state: r.State,
			statuses: r.Statuses, launchedAt: r.LaunchedAt, killRequested: r.KillRequested, killGrace: r.KillGrace,
			unreachable: r.Unreachable, completed: r.Completed,
		}
		if n := len(t.statuses); n > 0 {
			t.latest = t.statuses[n-1]
		} else {
			t.latest = m.masterStatus(t, t.state, "", "")
		}
		if t.completed {
			fw.addCompleted(t, m.cfg.MaxCompletedTasksPerFramework, func(old *task) { m.wb.del(taskPath(fw.id, old.id())) })
			continue
		}
		fw.tasks[t.id()] = t
		if a := m.agents[t.agentID]; a != nil {
			a.tasks[t.key()] = t
		}
		m.live[t.state]++
	}
}
