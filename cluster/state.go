package cluster

import (
	"fmt"
	"iter"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// agentUsedLocked is what live tasks hold on an agent.
func agentUsedLocked(a *agent) api.Resources { return usedBy(maps.Values(a.tasks)) }

// usedBy is what the live tasks among ts use.
func usedBy(ts iter.Seq[*task]) api.Resources {
	return api.Sum(func(yield func(api.Resources) bool) {
		for t := range ts {
			if !t.state.Terminal() && !yield(t.info.Resources) {
				return
			}
		}
	})
}

// taskList is fw's tasks in no particular order (sortedTasks, for a
// listing, sorts them by id).
func (fw *framework) taskList() []*task {
	out := make([]*task, 0, len(fw.tasks))
	for _, t := range fw.tasks {
		out = append(out, t)
	}
	return out
}

func offeredOf(offers map[string]*offer) api.Resources {
	var rs api.Resources
	for _, o := range offers {
		rs = rs.Add(o.resources)
	}
	return rs
}

// slaveJSON is one entry of /state "slaves" in the Mesos shape.
func (m *Master) slaveJSON(a *agent) map[string]any {
	total := a.totalResources()
	reserved, reservedFull, unreserved := reservedJSON(total)
	s := map[string]any{
		"id":                   a.Info.ID,
		"pid":                  "slave(1)@" + a.Info.IP + ":" + strconv.Itoa(a.Info.Port),
		"hostname":             a.Info.Hostname,
		"port":                 a.Info.Port,
		"attributes":           nonNilAttrs(a.Info.Attributes),
		"registered_time":      epoch(a.RegisteredTime),
		"resources":            total.Summary(),
		"used_resources":       agentUsedLocked(a).Summary(),
		"offered_resources":    offeredOf(a.offers).Summary(),
		"reserved_resources":   reserved,
		"unreserved_resources": unreserved,
		"active":               a.active,
		"deactivated":          false,
		"version":              a.Info.Version,
		"capabilities":         []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "RESOURCE_PROVIDER", "AGENT_OPERATION_FEEDBACK"},
		"last_ping":            epoch(a.lastPing),
	}
	s["reserved_resources_full"] = reservedFull
	s["system_reserved_resources"] = a.Info.SystemReserved.Summary()
	if a.ReregisteredTime != nil {
		s["reregistered_time"] = epoch(*a.ReregisteredTime)
	}
	if a.UnreachableTime != nil {
		s["unreachable_time"] = epoch(*a.UnreachableTime)
	}
	m.drainJSONLocked(a, s) // drain.go
	return s
}

func nonNilAttrs(a api.Attributes) api.Attributes {
	if a == nil {
		return api.Attributes{}
	}
	return a
}

// taskJSON is a task in the Mesos /state shape (shared with the agent's).
func taskJSON(t *task) api.StateTask {
	return api.NewStateTask(t.info, t.frameworkID, "", t.agentID, t.role, t.state, t.statuses)
}

func tasksJSON(ts []*task) []api.StateTask {
	out := make([]api.StateTask, len(ts))
	for i, t := range ts {
		out[i] = taskJSON(t)
	}
	return out
}

func (fw *framework) sortedTasks() []*task {
	out := make([]*task, 0, len(fw.tasks))
	for _, t := range fw.tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id() < out[j].id() })
	return out
}

// frameworkJSON is a framework in the Mesos /state shape, with the tasks
// v lets its viewer see.
func frameworkJSON(fw *framework, withTasks bool, v view) map[string]any {
	caps := make([]string, len(fw.info.Capabilities))
	for i, c := range fw.info.Capabilities {
		caps[i] = c.Type
	}
	var live []*task
	if withTasks {
		live = v.tasks(fw, fw.sortedTasks())
	} else {
		live = v.tasks(fw, fw.taskList()) // only summed up: no order needed
	}
	used := usedBy(slices.Values(live))
	offered := offeredOf(fw.offers)
	offers := []map[string]any{}
	for _, o := range sortedOffers(fw.offers) {
		offers = append(offers, map[string]any{
			"id": o.id, "framework_id": fw.id, "slave_id": o.agent.Info.ID,
			"resources": o.resources.Summary(), "allocation_info": map[string]any{"role": o.role},
		})
	}
	out := map[string]any{
		"id": fw.id, "name": fw.info.Name, "pid": "", "user": fw.info.User, "hostname": fw.info.Hostname,
		"webui_url": fw.info.WebuiURL, "principal": fw.info.Principal,
		"role": fw.info.AllRoles()[0], "roles": fw.info.AllRoles(), "capabilities": caps,
		"failover_timeout": fw.info.FailoverTimeout, "checkpoint": fw.info.Checkpoint,
		"active": fw.connected(), "connected": fw.connected(), "recovered": fw.recovered,
		"registered_time": epoch(fw.registeredTime), "unregistered_time": 0.0,
		"used_resources": used.Summary(), "offered_resources": offered.Summary(),
		"resources": used.Add(offered).Summary(), "allocated_resources": used.Add(offered).Summary(),
		"offers": offers, "executors": []any{}, "unreachable_tasks": []any{},
	}
	labels := []api.Label{}
	if fw.info.Labels != nil {
		labels = append(labels, fw.info.Labels.Labels...)
	}
	out["labels"] = labels
	if fw.reregisteredTime != nil {
		out["reregistered_time"] = epoch(*fw.reregisteredTime)
	}
	if fw.unregisteredTime != nil {
		out["unregistered_time"] = epoch(*fw.unregisteredTime)
	}
	if withTasks {
		out["tasks"] = tasksJSON(live)
		out["completed_tasks"] = tasksJSON(v.tasks(fw, fw.completed))
	}
	return out
}

func (m *Master) frameworksJSONLocked(filter string, v view) (active, completed []map[string]any) {
	active, completed = []map[string]any{}, []map[string]any{}
	for _, fw := range m.sortedFrameworksLocked() {
		if (filter == "" || fw.id == filter) && v.framework(fw) {
			active = append(active, frameworkJSON(fw, true, v))
		}
	}
	for _, fw := range m.completedFw {
		if (filter == "" || fw.id == filter) && v.framework(fw) {
			completed = append(completed, frameworkJSON(fw, true, v))
		}
	}
	return active, completed
}

func (m *Master) handleState(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	slaves := []map[string]any{}
	active, inactive := 0, 0
	for _, a := range m.sortedAgentsLocked() {
		slaves = append(slaves, m.slaveJSON(a))
		if a.active {
			active++
		} else {
			inactive++
		}
	}
	fws, done := m.frameworksJSONLocked("", m.viewOf(r))
	elected := m.electedTime
	unreachable := m.unreachableCountLocked()
	m.mu.Unlock()
	st := api.BuildInfo()
	for k, v := range map[string]any{
		"id": m.info.ID, "pid": m.info.PID, "hostname": m.info.Hostname,
		"start_time": epoch(m.started), "elected_time": epoch(elected),
		"activated_slaves": active, "deactivated_slaves": inactive, "unreachable_slaves": unreachable,
		"leader": m.info.PID, "leader_info": m.info, "cluster": "nodectl",
		"log_dir": m.cfg.LogDir, "external_log_file": m.cfg.ExternalLogFile, "flags": m.cfg.Flags,
		"slaves": slaves, "frameworks": fws, "completed_frameworks": done,
		"orphan_tasks": []any{}, "unregistered_frameworks": []any{},
		"masters": m.Quorum(),
	} {
		st[k] = v
	}
	writeJSON(w, http.StatusOK, st)
}

// stateCounts counts tasks by state, live and completed.
func stateCounts(ts []*task, into map[string]any) {
	for _, s := range api.AllTaskStates {
		if _, ok := into[string(s)]; !ok {
			into[string(s)] = 0
		}
	}
	for _, t := range ts {
		into[string(t.state)] = into[string(t.state)].(int) + 1
	}
}

func (m *Master) handleStateSummary(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	byAgent := map[string][]*task{}
	fwsOn := map[string]map[string]bool{}
	fws := []map[string]any{}
	v := m.viewOf(r)
	for _, fw := range m.sortedFrameworksLocked() {
		if !v.framework(fw) {
			continue
		}
		all := v.tasks(fw, append(fw.taskList(), fw.completed...)) // counted: no order needed
		agents := map[string]bool{}
		for _, t := range all {
			byAgent[t.agentID] = append(byAgent[t.agentID], t)
			if fwsOn[t.agentID] == nil {
				fwsOn[t.agentID] = map[string]bool{}
			}
			fwsOn[t.agentID][fw.id] = true
			if !t.state.Terminal() {
				agents[t.agentID] = true
			}
		}
		f := frameworkJSON(fw, false, v)
		s := map[string]any{}
		for _, k := range []string{"id", "name", "hostname", "active", "connected", "capabilities", "used_resources", "offered_resources"} {
			s[k] = f[k]
		}
		s["slave_ids"] = sortedKeys(agents)
		stateCounts(all, s)
		fws = append(fws, s)
	}
	slaves := []map[string]any{}
	for _, a := range m.sortedAgentsLocked() {
		s := m.slaveJSON(a)
		stateCounts(byAgent[a.Info.ID], s)
		s["framework_ids"] = sortedKeys(fwsOn[a.Info.ID])
		slaves = append(slaves, s)
	}
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"hostname": m.info.Hostname, "cluster": "nodectl", "slaves": slaves, "frameworks": fws})
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *Master) handleSlaves(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("slave_id")
	m.mu.Lock()
	slaves := []map[string]any{}
	recovered := []map[string]any{}
	for _, a := range m.sortedAgentsLocked() {
		if id != "" && a.Info.ID != id {
			continue
		}
		slaves = append(slaves, m.slaveJSON(a))
		if a.recovered {
			recovered = append(recovered, map[string]any{"id": a.Info.ID, "hostname": a.Info.Hostname, "port": a.Info.Port})
		}
	}
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"slaves": slaves, "recovered_slaves": recovered})
}

// handleFrameworks serves /frameworks[?framework_id=].
func (m *Master) handleFrameworks(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	fws, done := m.frameworksJSONLocked(r.URL.Query().Get("framework_id"), m.viewOf(r))
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"frameworks": fws, "completed_frameworks": done, "unregistered_frameworks": []any{}})
}

// handleTasks serves /tasks?framework_id=&task_id=&limit=100&offset=0&order=desc:
// live and completed tasks, of live and completed frameworks, newest
// (launched) first by default.
func (m *Master) handleTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	num := func(name string, def int) (int, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			//lint:ignore ST1005 Mesos' own message, which clients match
			return 0, fmt.Errorf("Failed to parse '%s': %q is not a non-negative integer", name, v)
		}
		return n, nil
	}
	limit, err := num("limit", 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	offset, err := num("offset", 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	order := q.Get("order")
	if order == "" {
		order = "desc"
	}
	if order != "asc" && order != "desc" {
		writeError(w, http.StatusBadRequest, "'order' must be asc or desc")
		return
	}
	fwID, taskID := q.Get("framework_id"), q.Get("task_id")
	v := m.viewOf(r)
	m.mu.Lock()
	var ts []*task
	for _, fw := range append(m.sortedFrameworksLocked(), m.completedFw...) {
		if fwID != "" && fw.id != fwID || !v.framework(fw) {
			continue
		}
		for _, t := range v.tasks(fw, append(fw.sortedTasks(), fw.completed...)) {
			if taskID == "" || t.id() == taskID {
				ts = append(ts, t)
			}
		}
	}
	sort.SliceStable(ts, func(i, j int) bool {
		if !ts[i].launchedAt.Equal(ts[j].launchedAt) {
			return ts[i].launchedAt.Before(ts[j].launchedAt) == (order == "asc")
		}
		return ts[i].key().less(ts[j].key()) == (order == "asc")
	})
	ts = ts[min(offset, len(ts)):]
	ts = ts[:min(limit, len(ts))]
	out := tasksJSON(ts)
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

// handleTeardown serves POST /master/teardown (form frameworkId).
func (m *Master) handleTeardown(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "malformed form: "+err.Error())
		return
	}
	id := r.PostForm.Get("frameworkId")
	if id == "" {
		writeError(w, http.StatusBadRequest, "Missing 'frameworkId' query parameter in the request body")
		return
	}
	m.mu.Lock()
	owner, known := "", false
	if fw := m.frameworks[id]; fw != nil {
		owner, known = fw.info.Principal, true
	}
	m.mu.Unlock()
	if known && !m.permit(w, r, auth.TeardownFrameworks, owner) {
		return
	}
	if err := m.TeardownFramework(id); err != nil {
		writeError(w, errStatus(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}
