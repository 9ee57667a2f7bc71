package cluster

import (
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"time"

	"nodectl/cluster/api"
)

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func buildInfo() map[string]any {
	out := map[string]any{"version": api.Version, "git_sha": "", "git_branch": "", "git_tag": "", "build_date": "", "build_time": 0, "build_user": ""}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				out["git_sha"] = s.Value
			case "vcs.time":
				out["build_date"] = s.Value
			}
		}
	}
	return out
}

// slaveJSON is one entry of /state "slaves" in the Mesos shape.
func (m *Master) slaveJSON(a *agent) map[string]any {
	s := map[string]any{
		"id":                   a.Info.ID,
		"pid":                  "slave(1)@" + a.Info.IP + ":" + strconv.Itoa(a.Info.Port),
		"hostname":             a.Info.Hostname,
		"port":                 a.Info.Port,
		"attributes":           nonNilAttrs(a.Info.Attributes),
		"registered_time":      epoch(a.RegisteredTime),
		"resources":            a.Info.Resources.Summary(),
		"used_resources":       api.Resources(nil).Summary(),
		"offered_resources":    api.Resources(nil).Summary(),
		"reserved_resources":   map[string]any{},
		"unreserved_resources": a.Info.Resources.Summary(),
		"active":               a.active,
		"deactivated":          false,
		"version":              a.Info.Version,
		"capabilities":         []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "RESOURCE_PROVIDER", "AGENT_OPERATION_FEEDBACK"},
		"last_ping":            epoch(a.lastPing),
	}
	if a.ReregisteredTime != nil {
		s["reregistered_time"] = epoch(*a.ReregisteredTime)
	}
	return s
}

func nonNilAttrs(a api.Attributes) api.Attributes {
	if a == nil {
		return api.Attributes{}
	}
	return a
}

// sortedAgentsLocked returns the agents ordered by id; the caller holds m.mu.
func (m *Master) sortedAgentsLocked() []*agent {
	out := make([]*agent, 0, len(m.agents))
	for _, a := range m.agents {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.ID < out[j].Info.ID })
	return out
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
	elected := m.electedTime
	m.mu.Unlock()
	st := buildInfo()
	for k, v := range map[string]any{
		"id": m.info.ID, "pid": m.info.PID, "hostname": m.info.Hostname,
		"start_time": epoch(m.started), "elected_time": epoch(elected),
		"activated_slaves": active, "deactivated_slaves": inactive, "unreachable_slaves": 0,
		"leader": m.info.PID, "leader_info": m.info, "cluster": "nodectl",
		"log_dir": m.cfg.LogDir, "external_log_file": m.cfg.ExternalLogFile, "flags": m.cfg.Flags,
		"slaves": slaves, "frameworks": []any{}, "completed_frameworks": []any{},
		"orphan_tasks": []any{}, "unregistered_frameworks": []any{},
	} {
		st[k] = v
	}
	writeJSON(w, http.StatusOK, st)
}

func (m *Master) handleStateSummary(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	slaves := []map[string]any{}
	for _, a := range m.sortedAgentsLocked() {
		s := m.slaveJSON(a)
		for _, st := range []string{"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED", "TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_UNREACHABLE"} {
			s[st] = 0
		}
		s["framework_ids"] = []string{}
		slaves = append(slaves, s)
	}
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"hostname": m.info.Hostname, "cluster": "nodectl", "slaves": slaves, "frameworks": []any{}})
}

func (m *Master) handleSlaves(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("slave_id")
	m.mu.Lock()
	slaves := []map[string]any{}
	for _, a := range m.sortedAgentsLocked() {
		if id == "" || a.Info.ID == id {
			slaves = append(slaves, m.slaveJSON(a))
		}
	}
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"slaves": slaves, "recovered_slaves": []any{}})
}
