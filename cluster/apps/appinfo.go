package apps

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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
	embedReadiness
	embedTaskStats
	embedAll = embedCounts | embedDeployments | embedLastFailure
)

func embedsOf(r *http.Request, single bool) int {
	e := 0
	if single {
		// An app's own page always has its tasks, counts, deployments
		// and lastTaskFailure (Marathon's AppsResource.show).
		e = embedAll | embedTasks
	} else {
		e = embedCounts | embedDeployments
	}
	for _, v := range r.URL.Query()["embed"] {
		v = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(v, "group."), "apps."), "app.")
		switch v {
		case "tasks":
			e |= embedTasks
		case "counts":
			e |= embedCounts
		case "deployments":
			e |= embedDeployments
		case "lastTaskFailure", "failures":
			e |= embedLastFailure
		case "readiness":
			e |= embedReadiness
		case "taskStats":
			e |= embedTaskStats
		}
	}
	return e
}

// appInfo is Marathon's AppInfo (https://mesosphere.github.io/marathon/docs/rest-api.html): the definition's fields with
// the counts and the embedded parts beside them.
type appInfo struct {
	*App
	TasksStaged     int                 `json:"tasksStaged"`
	TasksRunning    int                 `json:"tasksRunning"`
	TasksHealthy    int                 `json:"tasksHealthy"`
	TasksUnhealthy  int                 `json:"tasksUnhealthy"`
	Deployments     []map[string]string `json:"deployments"`
	Tasks           *[]map[string]any   `json:"tasks,omitempty"`
	LastTaskFailure *TaskFailure        `json:"lastTaskFailure,omitempty"`
	Readiness       *[]readinessResult  `json:"readinessCheckResults,omitempty"`
	TaskStats       map[string]any      `json:"taskStats,omitempty"`
}

// appInfoLocked is the AppInfo of app id.
func (a *Apps) appInfoLocked(id string, embed int) appInfo {
	return a.appInfoOfLocked(id, embed, a.tasksOfLocked(id))
}

// appInfoOfLocked is the AppInfo of app id given its tasks, oldest first.
// Definitions are never changed in place (a change stores a new one), so
// the result may be encoded after the lock is released.
//
// The counts come from the app's task index, so ts may be nil when embed
// asks for nothing that lists tasks (listTasksEmbeds): GET /v2/apps's
// usual answer, which then neither copies nor sorts any app's tasks.
func (a *Apps) appInfoOfLocked(id string, embed int, ts []*task) appInfo {
	st := a.apps[id]
	info := appInfo{App: st.def, Deployments: []map[string]string{}}
	for _, t := range a.tasksByApp[id] {
		switch t.State {
		case api.TaskRunning:
			info.TasksRunning++
			if t.Health != nil {
				if t.Health.Alive {
					info.TasksHealthy++
				} else {
					info.TasksUnhealthy++
				}
			}
		case api.TaskStaging, api.TaskStarting:
			info.TasksStaged++
		}
	}
	if d := a.deploymentOfLocked(id); d != nil {
		info.Deployments = append(info.Deployments, map[string]string{"id": d.ID})
	}
	if embed&embedTasks != 0 {
		out := []map[string]any{}
		for _, t := range ts {
			out = append(out, a.taskJSONLocked(t))
		}
		info.Tasks = &out
	}
	if embed&embedLastFailure != 0 {
		info.LastTaskFailure = st.lastFailure
	}
	a.embedMoreLocked(&info, embed, ts)
	return info
}

// tasksByAppLocked is every app's tasks, oldest first (one pass, for lists).
func (a *Apps) tasksByAppLocked() map[string][]*task {
	by := map[string][]*task{}
	for _, t := range a.tasks {
		by[t.AppID] = append(by[t.AppID], t)
	}
	for _, ts := range by {
		sortTasks(ts)
	}
	return by
}

// taskJSONLocked is Marathon's task JSON (https://mesosphere.github.io/marathon/docs/rest-api.html).
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
	for _, h := range t.Checks { // healthchecks.go: one result per check
		results = append(results, healthResultJSON(t, &h, ts))
	}
	if h := t.Health; h != nil && len(t.Checks) == 0 {
		results = append(results, healthResultJSON(t, h, ts))
	}
	m := map[string]any{
		"id": t.ID, "appId": t.AppID, "host": t.Host, "ports": ports, "servicePorts": a.taskServicePortsLocked(t),
		"slaveId": t.AgentID, "state": state, "stagedAt": ts(t.StagedAt), "startedAt": ts(t.StartedAt),
		"version": t.Version, "healthCheckResults": results, "ipAddresses": taskIPs(t), "role": a.cfg.Role,
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
	var sel []labelTerm
	if s := q.Get("label"); s != "" {
		var err error
		if sel, err = parseLabelSelector(s); err != nil {
			writeMessage(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	// GET /v2/apps/{group}/*: the apps in a group.
	group := ""
	if rest := strings.Trim(r.PathValue("rest"), "/"); strings.HasSuffix(rest, "*") {
		group = canonicalID(strings.TrimSuffix(rest, "*"))
	}
	a.mu.Lock()
	out := []appInfo{}
	var sts []*appState
	for _, id := range a.appIDsLocked() {
		st := a.apps[id]
		if st.def == nil || !a.visible(r, id) {
			continue
		}
		if s := q.Get("id"); s != "" && !strings.Contains(id, s) {
			continue
		}
		if s := q.Get("cmd"); s != "" && !strings.Contains(st.def.Cmd, s) {
			continue
		}
		if !labelsMatch(sel, st.def.Labels) || group != "" && !under(id, group) {
			continue
		}
		var ts []*task
		if embed&listTasksEmbeds != 0 {
			ts = a.tasksOfLocked(id)
		}
		out = append(out, a.appInfoOfLocked(id, embed, ts))
		sts = append(sts, st)
	}
	a.mu.Unlock()
	if err := writeAppList(w, out, sts); err != nil {
		// Headers are sent: the client sees a cut body (not valid JSON),
		// as with any error after the first byte.
		a.log.Error("list apps: encoding failed; the answer was cut", "err", err)
	}
}

// defJSON is one app definition's JSON.
type defJSON struct {
	def *App
	b   []byte
}

// definitionJSON is st's definition def encoded, from st's cache while def
// is still its definition (definitions are never changed in place: a
// change stores a new one).
func (st *appState) definitionJSON(def *App) ([]byte, error) {
	if c := st.enc.Load(); c != nil && c.def == def {
		return c.b, nil
	}
	b, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	st.enc.Store(&defJSON{def: def, b: b})
	return b, nil
}

// writeAppList writes {"apps":[...]} the way encoding/json would encode
// it, but each definition's part comes from its cache: the definitions
// were most of the CPU time of a list of 10,000 apps (issue 20: p99 ≤
// 50 ms at that size). The counts and embedded parts are encoded anew.
func writeAppList(w http.ResponseWriter, infos []appInfo, sts []*appState) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	var scratch []byte
	_, _ = bw.WriteString(`{"apps":[`)
	for i, info := range infos {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		def, err := sts[i].definitionJSON(info.App)
		if err != nil {
			return fmt.Errorf("app %s: %w", sts[i].def.ID, err) // cannot happen for a stored definition
		}
		info.App = nil // the rest: counts and embedded parts
		rest, ok := appendCounts(scratch[:0], info)
		if !ok {
			if rest, err = json.Marshal(info); err != nil {
				return fmt.Errorf("app %s: %w", sts[i].def.ID, err)
			}
		} else {
			scratch = rest
		}
		_, _ = bw.Write(def[:len(def)-1])
		if len(def) > 2 && len(rest) > 2 {
			_ = bw.WriteByte(',')
		}
		_, _ = bw.Write(rest[1:])
	}
	_, _ = bw.WriteString("]}\n")
	_ = bw.Flush() // a client gone away: nothing to do
	return nil
}

// listTasksEmbeds are the embeds whose parts list an app's tasks.
const listTasksEmbeds = embedTasks | embedReadiness | embedTaskStats

// appendCounts appends info's JSON as encoding/json writes it when info
// holds only its counts and deployments (no App, nothing embedded), and
// reports whether it could; when not, the caller encodes info with
// encoding/json and drops what was appended. It is the list's common
// case, written without reflection (TestListAppsEncoding compares it
// with encoding/json's).
func appendCounts(b []byte, info appInfo) ([]byte, bool) {
	if info.App != nil || info.Tasks != nil || info.LastTaskFailure != nil || info.Readiness != nil || info.TaskStats != nil {
		return b, false
	}
	for _, d := range info.Deployments {
		if len(d) != 1 || d["id"] == "" {
			return b, false
		}
	}
	b = append(b, `{"tasksStaged":`...)
	b = strconv.AppendInt(b, int64(info.TasksStaged), 10)
	b = append(b, `,"tasksRunning":`...)
	b = strconv.AppendInt(b, int64(info.TasksRunning), 10)
	b = append(b, `,"tasksHealthy":`...)
	b = strconv.AppendInt(b, int64(info.TasksHealthy), 10)
	b = append(b, `,"tasksUnhealthy":`...)
	b = strconv.AppendInt(b, int64(info.TasksUnhealthy), 10)
	b = append(b, `,"deployments":`...)
	if info.Deployments == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, d := range info.Deployments {
			if i > 0 {
				b = append(b, ',')
			}
			id, err := json.Marshal(d["id"]) // escaped as encoding/json escapes
			if err != nil {
				return b, false
			}
			b = append(b, `{"id":`...)
			b = append(b, id...)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), true
}

func (a *Apps) handleGetApp(w http.ResponseWriter, r *http.Request, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.appLocked(w, id); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": a.appInfoLocked(id, embedsOf(r, true))})
}

func (a *Apps) handleAppTasks(w http.ResponseWriter, r *http.Request, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.appLocked(w, id); !ok {
		return
	}
	if wantsText(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, a.tasksTextLocked(r, map[string][]*task{id: a.tasksOfLocked(id)}, id))
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
	byApp := a.tasksByAppLocked()
	if wantsText(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, a.tasksTextLocked(r, byApp, ""))
		return
	}
	for _, id := range a.appIDsLocked() {
		if !a.visible(r, id) {
			continue
		}
		for _, t := range byApp[id] {
			if len(want) > 0 && !want[string(t.State)] {
				continue
			}
			out = append(out, a.taskJSONLocked(t))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}
