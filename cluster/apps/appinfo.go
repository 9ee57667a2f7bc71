package apps

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"nodectl/cluster/api"
)

// embed flags of GET /v2/apps[/{id}].
const (
	embedTasks = 1 << iota
	embedCounts
	embedDeployments
	embedLastFailure
	embedAll = embedCounts | embedDeployments | embedLastFailure
)

func embedsOf(r *http.Request, single bool) int {
	e := 0
	if single {
		e = embedAll // an app's own page always has counts, deployments, lastTaskFailure
	} else {
		e = embedCounts | embedDeployments
	}
	for _, v := range r.URL.Query()["embed"] {
		v = strings.TrimPrefix(strings.TrimPrefix(v, "apps."), "app.")
		switch v {
		case "tasks":
			e |= embedTasks
		case "counts":
			e |= embedCounts
		case "deployments":
			e |= embedDeployments
		case "lastTaskFailure":
			e |= embedLastFailure
		}
	}
	return e
}

// appInfoLocked is the AppInfo JSON of app id (spec 3.4).
func (a *Apps) appInfoLocked(id string, embed int) map[string]any {
	st := a.apps[id]
	m := map[string]any{}
	b, _ := json.Marshal(st.def)
	_ = json.Unmarshal(b, &m)
	var staged, running, healthy, unhealthy int
	ts := a.tasksOfLocked(id)
	for _, t := range ts {
		switch t.State {
		case api.TaskRunning:
			running++
			if t.Health != nil {
				if t.Health.Alive {
					healthy++
				} else {
					unhealthy++
				}
			}
		case api.TaskStaging, api.TaskStarting:
			staged++
		}
	}
	m["tasksStaged"], m["tasksRunning"] = staged, running
	m["tasksHealthy"], m["tasksUnhealthy"] = healthy, unhealthy
	deps := []map[string]string{}
	if d := a.deploymentOfLocked(id); d != nil {
		deps = append(deps, map[string]string{"id": d.ID})
	}
	m["deployments"] = deps
	if embed&embedTasks != 0 {
		out := []map[string]any{}
		for _, t := range ts {
			out = append(out, a.taskJSONLocked(t))
		}
		m["tasks"] = out
	}
	if embed&embedLastFailure != 0 && st.lastFailure != nil {
		m["lastTaskFailure"] = st.lastFailure
	}
	return m
}

// taskJSONLocked is Marathon's task JSON (spec 3.5).
func (a *Apps) taskJSONLocked(t *task) map[string]any {
	ts := func(x time.Time) any {
		if x.IsZero() {
			return nil
		}
		return formatTime(x)
	}
	state := t.State
	if t.Killing && !state.Terminal() {
		state = api.TaskKilling
	}
	ports := portsOf(t)
	results := []any{}
	if h := t.Health; h != nil {
		r := map[string]any{
			"alive": h.Alive, "consecutiveFailures": h.ConsecutiveFailures, "firstSuccess": ts(h.FirstSuccess),
			"lastSuccess": ts(h.LastSuccess), "lastFailure": ts(h.LastFailure), "taskId": t.ID, "instanceId": t.ID,
		}
		if h.LastFailureCause != "" {
			r["lastFailureCause"] = h.LastFailureCause
		}
		results = append(results, r)
	}
	m := map[string]any{
		"id": t.ID, "appId": t.AppID, "host": t.Host, "ports": ports, "servicePorts": ports,
		"slaveId": t.AgentID, "state": state, "stagedAt": ts(t.StagedAt), "startedAt": ts(t.StartedAt),
		"version": t.Version, "healthCheckResults": results, "ipAddresses": ipsOf(t.Host), "role": a.cfg.Role,
	}
	a.residentTaskJSONLocked(t, m)
	return m
}

func ipsOf(host string) []map[string]string {
	ips := []map[string]string{}
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, map[string]string{"ipAddress": host, "protocol": "IPv4"})
	}
	return ips
}

func portsOf(t *task) []int {
	if t.Ports == nil {
		return []int{}
	}
	return t.Ports
}

func (a *Apps) handleListApps(w http.ResponseWriter, r *http.Request) {
	embed := embedsOf(r, false)
	q := r.URL.Query()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []map[string]any{}
	for _, id := range a.appIDsLocked() {
		st := a.apps[id]
		if st.def == nil {
			continue
		}
		if s := q.Get("id"); s != "" && !strings.Contains(id, s) {
			continue
		}
		if s := q.Get("cmd"); s != "" && !strings.Contains(st.def.Cmd, s) {
			continue
		}
		out = append(out, a.appInfoLocked(id, embed))
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out})
}

func (a *Apps) handleGetApp(w http.ResponseWriter, r *http.Request, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.apps[id]
	if st == nil || st.def == nil {
		notFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": a.appInfoLocked(id, embedsOf(r, true))})
}

func (a *Apps) handleAppTasks(w http.ResponseWriter, r *http.Request, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.apps[id]
	if st == nil || st.def == nil {
		notFound(w, id)
		return
	}
	out := []map[string]any{}
	for _, t := range a.tasksOfLocked(id) {
		out = append(out, a.taskJSONLocked(t))
	}
	out = append(out, a.suspendedJSONLocked(id)...)
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

func (a *Apps) handleAllTasks(w http.ResponseWriter, r *http.Request) {
	want := map[string]bool{}
	for _, k := range []string{"status", "status[]"} {
		for _, v := range r.URL.Query()[k] {
			want["TASK_"+strings.ToUpper(v)] = true
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []map[string]any{}
	for _, id := range a.appIDsLocked() {
		for _, t := range a.tasksOfLocked(id) {
			if len(want) > 0 && !want[string(t.State)] {
				continue
			}
			out = append(out, a.taskJSONLocked(t))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}
