package cluster

import (
	"encoding/json"
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

// slaveEntry is one entry of /state "slaves" (and /slaves, /state-summary)
// in the Mesos shape. It is a struct, not a map: /state-summary encodes
// 10,000 of them, and a map's keys are sorted at every encoding.
type slaveEntry struct {
	ID                  string          `json:"id"`
	PID                 string          `json:"pid"`
	Hostname            string          `json:"hostname"`
	Port                int             `json:"port"`
	Attributes          api.Attributes  `json:"attributes"`
	RegisteredTime      float64         `json:"registered_time"`
	ReregisteredTime    *float64        `json:"reregistered_time,omitempty"`
	UnreachableTime     *float64        `json:"unreachable_time,omitempty"`
	Resources           json.RawMessage `json:"resources"`
	UsedResources       json.RawMessage `json:"used_resources"`
	OfferedResources    json.RawMessage `json:"offered_resources"`
	ReservedResources   json.RawMessage `json:"reserved_resources"`
	UnreservedResources json.RawMessage `json:"unreserved_resources"`
	ReservedFull        json.RawMessage `json:"reserved_resources_full"`
	SystemReserved      json.RawMessage `json:"system_reserved_resources"`
	Active              bool            `json:"active"`
	Deactivated         bool            `json:"deactivated"`
	DrainInfo           map[string]any  `json:"drain_info,omitempty"`
	Version             string          `json:"version"`
	Capabilities        []string        `json:"capabilities"`
	LastPing            float64         `json:"last_ping"`
}

// agentCapabilities is what every agent entry says it can do (shared:
// never modify).
var agentCapabilities = []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "RESOURCE_PROVIDER", "AGENT_OPERATION_FEEDBACK"}

// agentResources is an agent's resource summaries, encoded, as of the
// resources they were made from (held, so compared by identity: they are
// replaced, never changed in place). /state-summary gives 10,000 of them an
// answer, and they change only with the agent's resources.
type agentResources struct {
	info, checkpointed, systemReserved                                api.Resources
	resources, reserved, unreserved, reservedFull, systemReservedJSON json.RawMessage
}

func sameBag(a, b api.Resources) bool { return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) }

// resourcesJSONLocked is a's agentResources, made again when its resources
// changed.
func (a *agent) resourcesJSONLocked() *agentResources {
	if c := a.resJSON; c != nil && sameBag(c.info, a.Info.Resources) && sameBag(c.checkpointed, a.Checkpointed) && sameBag(c.systemReserved, a.Info.SystemReserved) {
		return c
	}
	total := a.totalResources()
	reserved, reservedFull, unreserved := reservedJSON(total)
	a.resJSON = &agentResources{
		info: a.Info.Resources, checkpointed: a.Checkpointed, systemReserved: a.Info.SystemReserved,
		resources: mustJSON(total.Summary()), reserved: mustJSON(reserved), unreserved: mustJSON(unreserved),
		reservedFull: mustJSON(reservedFull), systemReservedJSON: mustJSON(a.Info.SystemReserved.Summary()),
	}
	return a.resJSON
}

// mustJSON encodes what always encodes (maps of numbers and strings,
// resources).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

// noResources is the summary of nothing.
var noResources = mustJSON(api.Resources(nil).Summary())

// slaveJSON is one entry of /state "slaves" in the Mesos shape.
func (m *Master) slaveJSON(a *agent) slaveEntry {
	res := a.resourcesJSONLocked()
	offered := noResources
	if len(a.offers) > 0 {
		offered = mustJSON(offeredOf(a.offers).Summary())
	}
	s := slaveEntry{
		ID:                  a.Info.ID,
		PID:                 "slave(1)@" + a.Info.IP + ":" + strconv.Itoa(a.Info.Port),
		Hostname:            a.Info.Hostname,
		Port:                a.Info.Port,
		Attributes:          nonNilAttrs(a.Info.Attributes),
		RegisteredTime:      epoch(a.RegisteredTime),
		Resources:           res.resources,
		UsedResources:       a.tasksSummaryLocked().used,
		OfferedResources:    offered,
		ReservedResources:   res.reserved,
		UnreservedResources: res.unreserved,
		ReservedFull:        res.reservedFull,
		SystemReserved:      res.systemReservedJSON,
		Active:              a.active,
		Version:             a.Info.Version,
		Capabilities:        agentCapabilities,
		LastPing:            epoch(a.lastPing),
	}
	if a.ReregisteredTime != nil {
		t := epoch(*a.ReregisteredTime)
		s.ReregisteredTime = &t
	}
	if a.UnreachableTime != nil {
		t := epoch(*a.UnreachableTime)
		s.UnreachableTime = &t
	}
	s.Deactivated, s.DrainInfo = m.drainInfoLocked(a) // drain.go
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
	return api.NewStateTask(t.info, t.frameworkID, "", t.agentID, t.role, t.state, t.history())
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

// frameworkCaps is fw's capabilities by name.
func frameworkCaps(fw *framework) []string {
	caps := make([]string, len(fw.info.Capabilities))
	for i, c := range fw.info.Capabilities {
		caps[i] = c.Type
	}
	return caps
}

// frameworkJSON is a framework in the Mesos /state shape, with the tasks
// v lets its viewer see.
func frameworkJSON(fw *framework, withTasks bool, v view) map[string]any {
	caps := frameworkCaps(fw)
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
	slaves := []slaveEntry{}
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

func (m *Master) handleSlaves(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("slave_id")
	m.mu.Lock()
	slaves := []slaveEntry{}
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
		if ts[i].launched != ts[j].launched {
			return (ts[i].launched < ts[j].launched) == (order == "asc")
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
