package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
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
	tasks      []*task           // built from their records as they are decoded
	maint      maintenanceRecord // maintenance.go
	roles      rolesRecord       // quota.go
	skipped    []string          // keys of records that could not be decoded
	// drains are the drain records (drain.go).
	drains map[string]*drainRecord
}

// recordKinds are the prefixes of the records a new leader recovers in
// bulk, each with its decoder: a standby keeps them decoded (standby.go).
var recordKinds = []struct {
	prefix string
	decode func([]byte) (any, error)
}{
	{keyAgentsPrefix, func(b []byte) (any, error) {
		var a agent
		if err := json.Unmarshal(b, &a); err != nil || a.Info.ID == "" {
			return nil, errUndecodable
		}
		return &a, nil
	}},
	{keyGonePrefix, func(b []byte) (any, error) {
		var g goneRecord
		if err := json.Unmarshal(b, &g); err != nil || g.ID == "" {
			return nil, errUndecodable
		}
		return g, nil
	}},
	{keyFrameworksPrefix, func(b []byte) (any, error) {
		var f frameworkRecord
		if err := json.Unmarshal(b, &f); err != nil || f.Info.ID == nil || validateID(f.Info.ID.Value) != nil {
			return nil, errUndecodable
		}
		return f, nil
	}},
	{keyTasksPrefix, func(b []byte) (any, error) {
		r := &taskRecord{}
		if err := json.Unmarshal(b, r); err != nil || r.Info.TaskID.Value == "" || r.FrameworkID == "" {
			return nil, errUndecodable
		}
		// The task is built here, where a standby decodes its copy as
		// records change, and not when its master is elected: installing
		// 300,000 tasks was most of a failover at 10,000 agents.
		return r.task(), nil
	}},
}

// taskKind is the tasks' index in recordKinds.
var taskKind = recordKind(keyTasksPrefix)

// recordKind is the index in recordKinds of key's prefix, or -1.
func recordKind(key string) int {
	for i, k := range recordKinds {
		if strings.HasPrefix(key, k.prefix) {
			return i
		}
	}
	return -1
}

// add files a decoded record of recordKinds in rec.
func (rec *recoveredState) add(v any) {
	switch v := v.(type) {
	case *agent:
		rec.agents = append(rec.agents, v)
	case goneRecord:
		rec.gone = append(rec.gone, v)
	case frameworkRecord:
		rec.frameworks = append(rec.frameworks, v)
	case *task:
		rec.tasks = append(rec.tasks, v)
	}
}

// loadState reads the persisted state. An undecodable record is skipped
// (and reported) rather than keeping every master from leading. With warm
// (a standby's decoded copy, taken at a revision no older than this
// term's start), the records of recordKinds come from it instead of etcd.
func loadState(ctx context.Context, st store, warm *recoveredState) (recoveredState, error) {
	var rec recoveredState
	if warm != nil {
		rec = *warm
	} else {
		for _, k := range recordKinds {
			kvs, err := st.load(ctx, k.prefix)
			if err != nil {
				return rec, err
			}
			for _, x := range kvs {
				v, err := k.decode(x.val)
				if err != nil {
					rec.skipped = append(rec.skipped, x.key)
					continue
				}
				rec.add(v)
			}
		}
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
	return rec, nil
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
		m.indexAgentLocked(a)
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
	// Live tasks go into maps sized for them (a framework's map grown
	// one task at a time was a third of installing 300,000 tasks, the
	// master's lock held); only the completed ones need their order
	// (addCompleted keeps the newest), so only they are sorted.
	// The agents' maps likewise: 30 tasks each grew theirs twice, ~10 % of
	// the install at 10,000 agents (BenchmarkBecomeLeader).
	live, onAgent := map[string]int{}, map[string]int{}
	for _, t := range rec.tasks {
		if !t.completed {
			live[t.frameworkID]++
			onAgent[t.agentID]++
		}
	}
	for id, n := range live {
		if fw := m.frameworks[id]; fw != nil && len(fw.tasks) == 0 {
			fw.tasks = make(map[string]*task, n)
		}
	}
	for id, n := range onAgent {
		if a := m.agents[id]; a != nil && len(a.tasks) == 0 {
			a.tasks = make(map[taskKey]*task, n)
		}
	}
	var completed []*task
	for _, t := range rec.tasks {
		fw := m.frameworks[t.frameworkID]
		if fw == nil {
			m.wb.del(taskPath(t.frameworkID, t.id()))
			continue
		}
		m.shareIDsLocked(t)
		t.info.Resources = m.resBags.share(t.info.Resources)
		if t.completed {
			completed = append(completed, t)
			continue
		}
		fw.tasks[t.id()] = t
		if a := m.agents[t.agentID]; a != nil {
			a.tasks[t.key()] = t
			a.tasksChangedLocked()
		}
		m.live[t.state]++
	}
	sort.SliceStable(completed, func(i, j int) bool { return completed[i].launched < completed[j].launched })
	for _, t := range completed {
		fw := m.frameworks[t.frameworkID]
		fw.addCompleted(t, m.cfg.MaxCompletedTasksPerFramework, func(old *task) { m.wb.del(taskPath(fw.id, old.id())) })
	}
}
