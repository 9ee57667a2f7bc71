package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
	"nodectl/cluster/auth"
)

// The master's operator API v1 (POST /api/v1; Mesos'
// include/mesos/v1/master/master.proto and
// http://mesos.apache.org/documentation/latest/operator-http-api/): the
// GET_* calls answered from the master's state, in Mesos' JSON shape
// ({"type": "GET_X", "get_x": {...}}); the maintenance calls
// (maintenance_http.go), RESERVE_RESOURCES, UNRESERVE_RESOURCES,
// CREATE_VOLUMES, DESTROY_VOLUMES, TEARDOWN and MARK_AGENT_GONE
// (operator_calls.go), each under its own permission; and the SUBSCRIBE
// event stream (operator_stream.go). The other calls (UPDATE_WEIGHTS,
// quota, DRAIN_AGENT, ...) answer 400 naming the call, as do unknown
// calls; GROW_VOLUME and SHRINK_VOLUME 400 saying why. Calls come in
// application/json or application/x-protobuf (schedcodec.go); the answer
// is JSON, or protobuf for the calls in operatorProtobuf (406 naming the
// call for the others).
//
// Roles, weights and quota: quota.go and quota_http.go (the changing
// calls each under its own permission).

// operatorCalls are the master calls of master.proto; those with a
// handler are served.
var operatorCalls = []string{
	"GET_HEALTH", "GET_FLAGS", "GET_VERSION", "GET_METRICS", "GET_LOGGING_LEVEL", "SET_LOGGING_LEVEL",
	"LIST_FILES", "READ_FILE", "GET_STATE", "GET_AGENTS", "GET_FRAMEWORKS", "GET_EXECUTORS", "GET_OPERATIONS",
	"GET_TASKS", "GET_ROLES", "GET_WEIGHTS", "UPDATE_WEIGHTS", "GET_MASTER", "SUBSCRIBE",
	"RESERVE_RESOURCES", "UNRESERVE_RESOURCES", "CREATE_VOLUMES", "DESTROY_VOLUMES", "GROW_VOLUME", "SHRINK_VOLUME",
	"GET_MAINTENANCE_STATUS", "GET_MAINTENANCE_SCHEDULE", "UPDATE_MAINTENANCE_SCHEDULE",
	"START_MAINTENANCE", "STOP_MAINTENANCE", "DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT",
	"GET_QUOTA", "UPDATE_QUOTA", "SET_QUOTA", "REMOVE_QUOTA", "TEARDOWN", "MARK_AGENT_GONE",
}

// operatorCall is the part of a master Call the GET_* calls read.
type operatorCall struct {
	Type string `json:"type"`
}

// handleOperator serves POST /api/v1.
func (m *Master) handleOperator(w http.ResponseWriter, r *http.Request) {
	in, ok := requestCodec(r.Header.Get("Content-Type"))
	if !ok {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("operator API: Content-Type %q is not supported; send application/json or application/x-protobuf", r.Header.Get("Content-Type")))
		return
	}
	out, ok := preferred(r.Header.Get("Accept"), false)
	if !ok {
		writeError(w, http.StatusNotAcceptable, fmt.Sprintf("operator API: Accept %q is not supported; accept application/json or application/x-protobuf", r.Header.Get("Accept")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("read body: %v", err))
		return
	}
	if in.proto {
		if body, err = mesospb.ToJSON(mesospb.OperatorCall, body); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed operator call: %v", err))
			return
		}
	}
	var call operatorCall
	if err := json.Unmarshal(body, &call); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed operator call: %v", err))
		return
	}
	if m.maintenanceOperator(w, r, call.Type, body, out.proto) {
		return
	}
	if m.operatorMore(w, r, call.Type, body) { // operator_calls.go
		return
	}
	if m.drainOperator(w, r, call.Type, body, out.proto) { // drain_http.go
		return
	}
	if m.filesOperator(w, r, call.Type, body, out.proto) { // files_proxy.go
		return
	}
	if m.quotaOperator(w, r, call.Type, body) { // quota_http.go
		return
	}
	h, ok := m.operatorHandlers()[call.Type]
	if !ok {
		known := false
		for _, c := range operatorCalls {
			known = known || c == call.Type
		}
		if known {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("operator call %s is not supported by this master yet", call.Type))
		} else {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown operator call %q", call.Type))
		}
		return
	}
	if out.proto && !operatorProtobuf[call.Type] {
		writeError(w, http.StatusNotAcceptable, fmt.Sprintf("operator call %s is answered only in application/json yet", call.Type))
		return
	}
	field := strings.ToLower(call.Type)
	resp := map[string]any{"type": call.Type, field: h(r)}
	if !out.proto {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	js, err := json.Marshal(resp)
	if err == nil {
		body, err = mesospb.FromJSON(mesospb.OperatorResponse, js)
	}
	if err != nil {
		m.log.Error("operator API: encode protobuf response", "call", call.Type, "err", err)
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("operator call %s: encode protobuf: %v", call.Type, err))
		return
	}
	w.Header().Set("Content-Type", mesospb.MediaProtobuf)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// operatorProtobuf are the calls whose responses nodectl's master.proto
// declares (cluster/api/mesospb/proto/mesos/v1/master/master.proto); the
// others are answered in JSON only.
var operatorProtobuf = map[string]bool{
	"GET_HEALTH": true, "GET_FLAGS": true, "GET_VERSION": true, "GET_METRICS": true, "GET_LOGGING_LEVEL": true,
	"GET_AGENTS": true, "GET_FRAMEWORKS": true, "GET_MASTER": true,
	"GET_STATE": true, "GET_TASKS": true, "GET_EXECUTORS": true, "GET_OPERATIONS": true,
	"GET_WEIGHTS": true,
}

// operatorHandlers answer the served calls with the body of their
// response field.
func (m *Master) operatorHandlers() map[string]func(*http.Request) any {
	return map[string]func(*http.Request) any{
		"GET_HEALTH":        func(*http.Request) any { return map[string]any{"healthy": true} },
		"GET_VERSION":       func(*http.Request) any { return map[string]any{"version_info": api.BuildInfo()} },
		"GET_FLAGS":         func(*http.Request) any { return map[string]any{"flags": m.operatorFlags()} },
		"GET_METRICS":       func(*http.Request) any { return map[string]any{"metrics": m.operatorMetrics()} },
		"GET_LOGGING_LEVEL": func(*http.Request) any { return map[string]any{"level": glogLevel(m.cfg.Flags["logging-level"])} },
		"GET_AGENTS":        func(*http.Request) any { return m.getAgents() },
		"GET_FRAMEWORKS":    m.getFrameworks,
		"GET_TASKS":         m.getTasks,
		"GET_EXECUTORS":     func(*http.Request) any { return map[string]any{"executors": []any{}, "orphan_executors": []any{}} },
		"GET_OPERATIONS":    m.getOperations, // opfeedback.go
		"GET_ROLES":         func(*http.Request) any { return map[string]any{"roles": m.rolesV1()} },
		"GET_WEIGHTS":       func(*http.Request) any { return map[string]any{"weight_infos": m.weightInfos()} },
		"GET_QUOTA":         func(*http.Request) any { return map[string]any{"status": m.quotaStatus()} },
		"GET_MASTER":        func(*http.Request) any { return m.getMaster() },
		"GET_STATE": func(r *http.Request) any {
			return map[string]any{
				"get_tasks": m.getTasks(r), "get_executors": map[string]any{"executors": []any{}}, "get_frameworks": m.getFrameworks(r), "get_agents": m.getAgents(),
			}
		},
	}
}

func (m *Master) operatorFlags() []map[string]string {
	out := make([]map[string]string, 0, len(m.cfg.Flags))
	for _, k := range sortedStringKeys(m.cfg.Flags) {
		out = append(out, map[string]string{"name": strings.ReplaceAll(k, "-", "_"), "value": m.cfg.Flags[k]})
	}
	return out
}

func (m *Master) operatorMetrics() []map[string]any {
	snap := m.metrics.Snapshot()
	out := make([]map[string]any, 0, len(snap))
	for _, k := range sortedStringKeys(snap) {
		out = append(out, map[string]any{"name": k, "value": snap[k]})
	}
	return out
}

func sortedStringKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// glogLevel is Mesos' GET_LOGGING_LEVEL level: glog's verbosity, 1 for
// DEBUG and 0 otherwise.
func glogLevel(level string) int {
	if strings.EqualFold(level, "DEBUG") {
		return 1
	}
	return 0
}

// timeInfo is Mesos' TimeInfo.
func timeInfo(t time.Time) map[string]any { return map[string]any{"nanoseconds": t.UnixNano()} }

// v1Attributes is Mesos' repeated Attribute form of a.
func v1Attributes(a api.Attributes) []map[string]any {
	out := []map[string]any{}
	for _, k := range sortedStringKeys(a) {
		switch v := a[k].(type) {
		case float64, int, int64:
			out = append(out, map[string]any{"name": k, "type": "SCALAR", "scalar": map[string]any{"value": v}})
		default:
			out = append(out, map[string]any{"name": k, "type": "TEXT", "text": map[string]any{"value": fmt.Sprint(v)}})
		}
	}
	return out
}

func nonNilResources(r api.Resources) api.Resources {
	if r == nil {
		return api.Resources{}
	}
	return r
}

// getAgents is GET_AGENTS' body.
func (m *Master) getAgents() map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.getAgentsLocked()
}

func (m *Master) getAgentsLocked() map[string]any {
	agents := []map[string]any{}
	recovered := []map[string]any{}
	for _, a := range m.sortedAgentsLocked() {
		if a.recovered {
			recovered = append(recovered, v1AgentInfo(a))
			continue
		}
		agents = append(agents, v1AgentLocked(a))
	}
	return map[string]any{"agents": agents, "recovered_agents": recovered}
}

// v1AgentInfo is Mesos' AgentInfo of a.
func v1AgentInfo(a *agent) map[string]any {
	return map[string]any{
		"id": map[string]any{"value": a.Info.ID}, "hostname": a.Info.Hostname, "port": a.Info.Port,
		"resources": nonNilResources(a.Info.Resources), "attributes": v1Attributes(a.Info.Attributes),
	}
}

// v1AgentLocked is a registered agent in master.proto's GetAgents.Agent form.
func v1AgentLocked(a *agent) map[string]any {
	e := map[string]any{
		"agent_info": v1AgentInfo(a), "active": a.active, "deactivated": false, "version": a.Info.Version,
		"pid":             "slave(1)@" + a.Info.IP + ":" + fmt.Sprint(a.Info.Port),
		"registered_time": timeInfo(a.RegisteredTime), "total_resources": nonNilResources(a.totalResources()),
		"allocated_resources": nonNilResources(agentUsedLocked(a)), "offered_resources": nonNilResources(offeredOf(a.offers)),
		"capabilities": []map[string]string{{"type": "MULTI_ROLE"}, {"type": "HIERARCHICAL_ROLE"}, {"type": "RESERVATION_REFINEMENT"}},
	}
	if a.ReregisteredTime != nil {
		e["reregistered_time"] = timeInfo(*a.ReregisteredTime)
	}
	return e
}

// v1Framework is a framework in master.proto's GetFrameworks.Framework form.
func v1Framework(fw *framework) map[string]any {
	out := map[string]any{
		"framework_info": fw.info, "active": fw.connected(), "connected": fw.connected(), "recovered": fw.recovered,
		"registered_time": timeInfo(fw.registeredTime),
		"offers":          []any{}, "inverse_offers": []any{}, "allocated_resources": []any{}, "offered_resources": []any{},
	}
	if fw.reregisteredTime != nil {
		out["reregistered_time"] = timeInfo(*fw.reregisteredTime)
	}
	if fw.unregisteredTime != nil {
		out["unregistered_time"] = timeInfo(*fw.unregisteredTime)
	}
	return out
}

// getFrameworks is GET_FRAMEWORKS' body, as r's principal may see it.
func (m *Master) getFrameworks(r *http.Request) any {
	v := m.viewOf(r)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.getFrameworksLocked(v)
}

func (m *Master) getFrameworksLocked(v view) map[string]any {
	active, done := []map[string]any{}, []map[string]any{}
	for _, fw := range m.sortedFrameworksLocked() {
		if v.framework(fw) {
			f := v1Framework(fw)
			f["inverse_offers"] = m.inverseOffersOfLocked(fw) // inverse.go
			active = append(active, f)
		}
	}
	for _, fw := range m.completedFw {
		if v.framework(fw) {
			done = append(done, v1Framework(fw))
		}
	}
	return map[string]any{"frameworks": active, "completed_frameworks": done}
}

// v1Task is a task in Mesos' Task form (mesos.proto).
func v1Task(t *task) map[string]any {
	statuses := t.history()
	if statuses == nil {
		statuses = []api.TaskStatus{}
	}
	out := map[string]any{
		"name": t.info.Name, "task_id": t.info.TaskID, "framework_id": map[string]any{"value": t.frameworkID},
		"agent_id": map[string]any{"value": t.agentID}, "state": t.state, "resources": nonNilResources(t.info.Resources),
		"statuses": statuses, "role": t.role,
	}
	if len(t.statuses) > 0 {
		out["status_update_state"] = t.statuses[len(t.statuses)-1].state()
	}
	if t.info.Container != nil {
		out["container"] = t.info.Container
	}
	if t.info.Labels != nil {
		out["labels"] = t.info.Labels
	}
	return out
}

// getTasks is GET_TASKS' body, as r's principal may see it.
func (m *Master) getTasks(r *http.Request) any {
	v := m.viewOf(r)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.getTasksLocked(v)
}

func (m *Master) getTasksLocked(v view) map[string]any {
	live, done := []map[string]any{}, []map[string]any{}
	for _, fws := range [][]*framework{m.sortedFrameworksLocked(), m.completedFw} {
		for _, fw := range fws {
			if !v.framework(fw) {
				continue
			}
			for _, t := range v.tasks(fw, fw.sortedTasks()) {
				live = append(live, v1Task(t))
			}
			for _, t := range v.tasks(fw, fw.completed) {
				done = append(done, v1Task(t))
			}
		}
	}
	return map[string]any{"tasks": live, "completed_tasks": done, "pending_tasks": []any{}, "unreachable_tasks": []any{}, "orphan_tasks": []any{}}
}

// getMaster is GET_MASTER's body.
func (m *Master) getMaster() map[string]any {
	m.mu.Lock()
	elected := m.electedTime
	m.mu.Unlock()
	return map[string]any{
		"master_info": m.info.Mesos(), "start_time": epoch(m.started), "elected_time": epoch(elected),
	}
}

// v0 endpoints of the same state.

func (m *Master) handleFlags(w http.ResponseWriter, r *http.Request) {
	flags := map[string]string{}
	for k, v := range m.cfg.Flags {
		flags[strings.ReplaceAll(k, "-", "_")] = v
	}
	writeJSON(w, http.StatusOK, map[string]any{"flags": flags})
}

func (m *Master) handleRoles(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"roles": m.rolesV0()}) // quota_http.go
}

func (m *Master) handleWeights(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, m.weightInfos())
}

func (m *Master) handleQuota(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, m.quotaStatus())
}

// mesosRoutes are the operator API and the Mesos endpoints of this file,
// and the ".json" aliases Mesos serves, with and without /master.
func (m *Master) mesosRoutes() []auth.Route {
	var rs []auth.Route
	both := func(pattern string, perm auth.Perm, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		rs = append(rs, auth.Route{Pattern: method + " " + path, Perm: perm, Handler: h},
			auth.Route{Pattern: method + " /master" + path, Perm: perm, Handler: h})
	}
	// The GET_* calls only read; each call that changes things checks its
	// own permission (maintenance_http.go, operator_calls.go).
	both("POST /api/v1", auth.GetEndpoints, m.leaderOnly(m.handleOperator))
	for path, h := range map[string]http.HandlerFunc{
		"/flags": m.handleFlags, "/roles": m.handleRoles, "/weights": m.handleWeights, "/quota": m.handleQuota,
	} {
		both("GET "+path, auth.GetEndpoints, m.leaderOnly(h))
	}
	for path, h := range map[string]http.HandlerFunc{
		"/state": m.handleState, "/state-summary": m.handleStateSummary, "/slaves": m.handleSlaves,
		"/tasks": m.handleTasks, "/frameworks": m.handleFrameworks, "/flags": m.handleFlags, "/roles": m.handleRoles,
	} {
		both("GET "+path+".json", auth.GetEndpoints, m.leaderOnly(h))
	}
	both("GET /version.json", auth.GetEndpoints, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, api.BuildInfo()) })
	rs = append(rs, auth.Route{Pattern: "GET /system/stats.json", Perm: auth.GetEndpoints, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.SystemStats())
	})})
	sort.Slice(rs, func(i, j int) bool { return rs[i].Pattern < rs[j].Pattern })
	return rs
}
