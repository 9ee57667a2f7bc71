package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/auth"
)

// Handler serves /v2/... and /ping with no authentication (tests of the
// framework alone); a node serves Routes through an auth.Router. On a
// master that does not lead it redirects (307) to the leader, or answers
// 503 when there is none.
func (a *Apps) Handler() http.Handler { return auth.Mux(a.Routes()) }

// Routes are the /v2 API's routes, each with its one permission; the
// handlers refine app permissions by app id (authz.go).
func (a *Apps) Routes() []auth.Route {
	h := func(pattern string, perm auth.Perm, f http.HandlerFunc) auth.Route {
		return auth.Route{Pattern: pattern, Perm: perm, Handler: f}
	}
	path := a.leaderOnly(a.handleAppPath)
	return []auth.Route{
		h("GET /ping", auth.Public, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "pong")
		}),
		h("GET /v2/leader", auth.ViewApps, a.handleLeader),
		h("DELETE /v2/leader", auth.ManageCluster, a.leaderOnly(a.handleAbdicate)),
		h("GET /v2/info", auth.ViewApps, a.leaderOnly(a.handleInfo)),
		h("GET /v2/apps", auth.ViewApps, a.leaderOnly(a.handleListApps)),
		h("POST /v2/apps", auth.CreateApps, a.leaderOnly(a.handleCreate)),
		h("GET /v2/apps/{rest...}", auth.ViewApps, path),
		h("PUT /v2/apps/{rest...}", auth.UpdateApps, path),
		h("PATCH /v2/apps/{rest...}", auth.UpdateApps, path),
		h("POST /v2/apps/{rest...}", auth.UpdateApps, path),
		h("DELETE /v2/apps/{rest...}", auth.DeleteApps, path),
		h("GET /v2/tasks", auth.ViewApps, a.leaderOnly(a.handleAllTasks)),
		h("GET /v2/deployments", auth.ViewApps, a.leaderOnly(a.handleListDeployments)),
		h("GET /v2/deployments/{id}", auth.ViewApps, a.leaderOnly(a.handleGetDeployment)),
		h("DELETE /v2/deployments/{id}", auth.UpdateApps, a.leaderOnly(a.handleDeleteDeployment)),
		h("GET /v2/queue", auth.ViewApps, a.leaderOnly(a.handleQueue)),
		h("GET /v2/events", auth.ViewApps, a.leaderOnly(a.handleEvents)),
		h("PUT /v2/apps", auth.UpdateApps, a.leaderOnly(a.handleBulkUpdate)),
		h("PATCH /v2/apps", auth.UpdateApps, a.leaderOnly(a.handleBulkUpdate)),
		h("POST /v2/tasks/delete", auth.UpdateApps, a.leaderOnly(a.handleDeleteTasks)),
		h("DELETE /v2/queue/{rest...}", auth.UpdateApps, a.leaderOnly(a.handleResetDelay)),
		h("GET /v2/plugins", auth.ViewApps, a.handlePlugins),
		h("GET /v2/groups", auth.ViewApps, a.leaderOnly(a.handleGroupGet)),
		h("GET /v2/groups/{rest...}", auth.ViewApps, a.leaderOnly(a.handleGroupGet)),
		h("POST /v2/groups", auth.CreateApps, a.leaderOnly(a.handleGroupWrite)),
		h("POST /v2/groups/{rest...}", auth.CreateApps, a.leaderOnly(a.handleGroupWrite)),
		h("PUT /v2/groups", auth.UpdateApps, a.leaderOnly(a.handleGroupWrite)),
		h("PUT /v2/groups/{rest...}", auth.UpdateApps, a.leaderOnly(a.handleGroupWrite)),
		h("PATCH /v2/groups/{rest...}", auth.UpdateApps, a.leaderOnly(a.handleGroupWrite)),
		h("DELETE /v2/groups", auth.DeleteApps, a.leaderOnly(a.handleGroupDelete)),
		h("DELETE /v2/groups/{rest...}", auth.DeleteApps, a.leaderOnly(a.handleGroupDelete)),
		h("GET /v2/pods", auth.ViewApps, a.leaderOnly(a.handlePodList)),
		h("POST /v2/pods", auth.CreateApps, a.leaderOnly(a.handlePodCreate)),
		h("GET /v2/pods/{rest...}", auth.ViewApps, a.leaderOnly(a.handlePodGet)),
		h("PUT /v2/pods/{rest...}", auth.UpdateApps, a.leaderOnly(a.handlePodPut)),
		h("DELETE /v2/pods/{rest...}", auth.DeleteApps, a.leaderOnly(a.handlePodDelete)),
		h("/v2/", auth.Self, func(w http.ResponseWriter, r *http.Request) {
			writeMessage(w, http.StatusNotFound, "Not found: "+r.URL.Path)
		}),
	}
}

func (a *Apps) leaderOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.IsLeader() {
			if !a.waitReady(r.Context(), readyWait) {
				w.Header().Set("Retry-After", "1") // nothing was done: come back
				writeMessage(w, http.StatusServiceUnavailable, "Leader is starting up: apps state not loaded yet")
				return
			}
			h(w, r)
			return
		}
		l, ok := a.cfg.Leader()
		if !ok || l.IP == "" {
			w.Header().Set("Retry-After", "1") // an election is under way
			writeMessage(w, http.StatusServiceUnavailable, "Could not determine the current leader")
			return
		}
		w.Header().Set("Location", "//"+l.Address()+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}
}

// readyWait is how long a request to a new leader waits for the apps
// state to load before it gets a 503.
const readyWait = 5 * time.Second

// waitReady polls until the state is loaded, ctx ends or d passes.
func (a *Apps) waitReady(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		a.mu.Lock()
		ready := a.ready
		a.mu.Unlock()
		if ready || time.Now().After(deadline) || ctx.Err() != nil {
			return ready
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeMessage(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"message": msg})
}

func notFound(w http.ResponseWriter, id string) {
	writeMessage(w, http.StatusNotFound, fmt.Sprintf("App '%s' does not exist", id))
}

func writeInvalid(w http.ResponseWriter, ds []Detail) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Object is not valid", "details": ds})
}

// appLocked is app id's state; false (after a 404) when there is no such app.
func (a *Apps) appLocked(w http.ResponseWriter, id string) (*appState, bool) {
	st := a.apps[id]
	if st == nil || st.def == nil {
		notFound(w, id)
		return nil, false
	}
	return st, true
}

// freeLocked: no deployment holds app id, or the request forces its way
// past it (?force=true); false after a 409 otherwise.
func (a *Apps) freeLocked(w http.ResponseWriter, r *http.Request, id string) bool {
	if d := a.deploymentOfLocked(id); d != nil && !isTrue(r, "force") {
		locked(w, d)
		return false
	}
	return true
}

func locked(w http.ResponseWriter, d *Deployment) {
	writeJSON(w, http.StatusConflict, map[string]any{
		"message":     fmt.Sprintf("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/%s'.", d.ID),
		"deployments": []map[string]string{{"id": d.ID}},
	})
}

func deployed(w http.ResponseWriter, code int, d *Deployment) {
	w.Header().Set("Marathon-Deployment-Id", d.ID)
	writeJSON(w, code, map[string]string{"deploymentId": d.ID, "version": d.Version})
}

func isTrue(r *http.Request, k string) bool {
	v, err := strconv.ParseBool(r.URL.Query().Get(k))
	return err == nil && v
}

// MaxDefinitionBytes bounds one app definition: the request body that
// carries it and the (merged) definition stored. Every version is kept in
// etcd (up to MaxVersions), whose whole database is bounded by its quota:
// an unbounded body would let one client fill it (docs/apps.md).
const MaxDefinitionBytes = 512 << 10

// tooLarge answers 413 naming the limit.
func tooLarge(w http.ResponseWriter, what string) {
	writeMessage(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s is larger than the limit of %d bytes (512 KiB)", what, MaxDefinitionBytes))
}

// readObject reads a JSON object body; a syntax or type error is a 400, a
// body over MaxDefinitionBytes a 413.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		msg := "Invalid JSON"
		if err != nil {
			msg = "Invalid JSON: " + err.Error()
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid JSON", "details": msg})
		return nil, false
	}
	return m, true
}

// definitionFits: app's stored form is within MaxDefinitionBytes; false
// after a 413 otherwise (a partial update merges into the stored
// definition, so a small body may still make it too large).
func definitionFits(w http.ResponseWriter, app *App) bool {
	b, err := json.Marshal(app)
	if err == nil && len(b) <= MaxDefinitionBytes {
		return true
	}
	tooLarge(w, "App definition")
	return false
}

// decodeApp turns a JSON object into a normalized App; false: a 400 was written.
func decodeApp(w http.ResponseWriter, m map[string]json.RawMessage) (*App, bool) {
	delete(m, "version")
	delete(m, "versionInfo")
	b, _ := json.Marshal(m)
	var app App
	if err := json.Unmarshal(b, &app); err != nil {
		if errors.Is(err, errUnreachableString) {
			writeInvalid(w, []Detail{{Path: "/unreachableStrategy", Errors: []string{err.Error()}}})
			return nil, false
		}
		var te *json.UnmarshalTypeError
		path := "/"
		if errors.As(err, &te) {
			path = "/" + strings.ReplaceAll(te.Field, ".", "/")
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid JSON", "details": []Detail{{Path: path, Errors: []string{err.Error()}}}})
		return nil, false
	}
	app.normalize()
	if ds := append(strictDetails(m), app.unsupportedValues()...); len(ds) > 0 { // strict.go
		writeInvalid(w, ds)
		return nil, false
	}
	return &app, true
}

func (a *Apps) handleCreate(w http.ResponseWriter, r *http.Request) {
	m, ok := readObject(w, r)
	if !ok {
		return
	}
	app, ok := decodeApp(w, m)
	if !ok {
		return
	}
	if ds := append(app.validate(), a.hostPathDetails(app)...); len(ds) > 0 {
		writeInvalid(w, ds)
		return
	}
	if !definitionFits(w, app) || !a.permit(w, r, auth.CreateApps, app.ID) || !a.permitRun(w, r, app) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ds := a.roleDetails(app, nil); len(ds) > 0 { // roles.go
		writeInvalid(w, ds)
		return
	}
	if st := a.apps[app.ID]; st != nil {
		writeMessage(w, http.StatusConflict, fmt.Sprintf("An app with id [%s] already exists.", app.ID))
		return
	}
	if a.pods.pods[app.ID] != nil {
		writeMessage(w, http.StatusConflict, fmt.Sprintf("A pod with id [%s] already exists.", app.ID))
		return
	}
	if !a.freeLocked(w, r, app.ID) {
		return
	}
	d, err := a.putAppLocked(nil, app, ActionStart)
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	a.apiPostLocked(r, app)
	w.Header().Set("Location", app.ID)
	w.Header().Set("Marathon-Deployment-Id", d.ID)
	writeJSON(w, http.StatusCreated, a.appInfoLocked(app.ID, embedAll))
}

// apiPostLocked publishes api_post_event for a created or updated app.
func (a *Apps) apiPostLocked(r *http.Request, app *App) {
	a.publishLocked("api_post_event", map[string]any{"clientIp": r.RemoteAddr, "uri": r.URL.RequestURI(), "appDefinition": app})
}

// putAppLocked stores a new version of an app and starts its deployment.
func (a *Apps) putAppLocked(old, app *App, action string) (*Deployment, error) {
	a.assignServicePortsLocked(old, app) // network.go
	v := a.nextVersionLocked()
	app.Version = v
	switch {
	case old != nil && action == ActionScale:
		app.VersionInfo = &VersionInfo{LastScalingAt: v, LastConfigChangeAt: old.VersionInfo.LastConfigChangeAt}
	default:
		app.VersionInfo = &VersionInfo{LastScalingAt: v, LastConfigChangeAt: v}
	}
	st := a.apps[app.ID]
	var stored []string
	if st != nil {
		stored = st.versions
	}
	// The newest MaxVersions versions are kept: older ones go in the
	// same transaction that stores this one.
	kept, drop := splitVersions(append(slices.Clone(stored), v), a.cfg.MaxVersions)
	if len(drop) > maxDropsPerWrite {
		kept, drop = append(slices.Clone(drop[maxDropsPerWrite:]), kept...), drop[:maxDropsPerWrite]
	}
	// One transaction: the app, its version, the old versions' deletes,
	// the deployment it overrides and its own deployment.
	ops, err := appOps(app, v, drop)
	if err != nil {
		return nil, err
	}
	prevDep := a.deploymentOfLocked(app.ID) // forced, or done with its tasks
	if prevDep != nil {
		ops = append(ops, dropOp(prevDep))
	}
	d := a.newDeploymentLocked(action, app.ID, v, old)
	op, err := deploymentOp(d)
	if err != nil {
		return nil, err
	}
	if err := a.store.commit(append(ops, op)...); err != nil {
		return nil, err
	}
	if st == nil {
		st = &appState{}
		a.setAppStateLocked(app.ID, st)
	}
	if old == nil || app.VersionInfo.LastConfigChangeAt != old.VersionInfo.LastConfigChangeAt {
		st.backoff, st.launchAfter = 0, time.Time{} // a new config starts afresh
	}
	st.def = app
	st.versions = kept
	if prevDep != nil {
		a.dropDeploymentLocked(prevDep)
	}
	a.recordDeploymentLocked(d)
	return d, nil
}

// handleAppPath serves /v2/apps/{id}[/tasks[/{task}]|/restart|/versions[/{v}]].
func (a *Apps) handleAppPath(w http.ResponseWriter, r *http.Request) {
	rest := "/" + strings.Trim(r.PathValue("rest"), "/")
	segs := strings.Split(rest, "/")
	n := len(segs)
	switch {
	case n >= 3 && segs[n-2] == "tasks":
		id := canonicalID(strings.Join(segs[:n-2], "/"))
		if r.Method == http.MethodDelete {
			if !a.permit(w, r, auth.UpdateApps, id) {
				return
			}
			a.handleKillTask(w, r, id, segs[n-1])
			return
		}
	case n >= 3 && segs[n-2] == "versions":
		if r.Method == http.MethodGet {
			if !a.permit(w, r, auth.ViewApps, canonicalID(strings.Join(segs[:n-2], "/"))) {
				return
			}
			a.handleVersion(w, canonicalID(strings.Join(segs[:n-2], "/")), segs[n-1])
			return
		}
	case n >= 2 && segs[n-1] == "tasks":
		id := canonicalID(strings.Join(segs[:n-1], "/"))
		switch r.Method {
		case http.MethodGet:
			if a.permit(w, r, auth.ViewApps, id) {
				a.handleAppTasks(w, r, id)
			}
			return
		case http.MethodDelete:
			if a.permit(w, r, auth.UpdateApps, id) {
				a.handleKillTasks(w, r, id)
			}
			return
		}
	case n >= 2 && segs[n-1] == "versions":
		if r.Method == http.MethodGet {
			if !a.permit(w, r, auth.ViewApps, canonicalID(strings.Join(segs[:n-1], "/"))) {
				return
			}
			a.handleVersions(w, canonicalID(strings.Join(segs[:n-1], "/")))
			return
		}
	case n >= 2 && segs[n-1] == "restart":
		if r.Method == http.MethodPost {
			if !a.permit(w, r, auth.UpdateApps, canonicalID(strings.Join(segs[:n-1], "/"))) {
				return
			}
			a.handleRestart(w, r, canonicalID(strings.Join(segs[:n-1], "/")))
			return
		}
	case n >= 2 && segs[n-1] == "*" && r.Method == http.MethodGet:
		a.handleListApps(w, r)
		return
	default:
		id := canonicalID(rest)
		switch r.Method {
		case http.MethodGet:
			if a.permit(w, r, auth.ViewApps, id) {
				a.handleGetApp(w, r, id)
			}
			return
		case http.MethodPut, http.MethodPatch:
			a.handleUpdate(w, r, id)
			return
		case http.MethodDelete:
			if a.permit(w, r, auth.DeleteApps, id) {
				a.handleDeleteApp(w, r, id)
			}
			return
		}
	}
	writeMessage(w, http.StatusMethodNotAllowed, "method not allowed")
}

func (a *Apps) handleUpdate(w http.ResponseWriter, r *http.Request, id string) {
	m, ok := readObject(w, r)
	if !ok {
		return
	}
	partial := r.Method == http.MethodPatch || r.URL.Query().Get("partialUpdate") != "false"
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.apps[id]
	var old *App
	if st != nil && st.def != nil {
		old = st.def
	}
	if old == nil && r.Method == http.MethodPatch {
		notFound(w, id)
		return
	}
	merged := m
	if old != nil && partial {
		merged = map[string]json.RawMessage{}
		b, _ := json.Marshal(old)
		_ = json.Unmarshal(b, &merged)
		for k, v := range m {
			merged[k] = v
		}
		dropStoredFetch(merged, m)
	}
	merged["id"], _ = json.Marshal(id)
	app, ok := decodeApp(w, merged)
	if !ok {
		return
	}
	if ds := append(append(append(app.validate(), residentChanges(old, app)...), a.hostPathDetails(app)...), a.roleDetails(app, old)...); len(ds) > 0 {
		writeInvalid(w, ds)
		return
	}
	perm := auth.UpdateApps
	if old == nil {
		perm = auth.CreateApps
	}
	if !definitionFits(w, app) || !a.permit(w, r, perm, id) || !a.permitRun(w, r, app) {
		return
	}
	if !a.freeLocked(w, r, id) {
		return
	}
	action, code := ActionStart, http.StatusCreated
	if old != nil {
		action, code = ActionRestart, http.StatusOK
		if onlyScaleDiffers(old, app) {
			action = ActionScale
		}
	}
	d, err := a.putAppLocked(old, app, action)
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	a.apiPostLocked(r, app)
	if code == http.StatusCreated {
		w.Header().Set("Location", id)
	}
	deployed(w, code, d)
}

func (a *Apps) handleRestart(w http.ResponseWriter, r *http.Request, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.appLocked(w, id)
	if !ok || !a.freeLocked(w, r, id) {
		return
	}
	old := st.def
	d, err := a.putAppLocked(old, old.clone(), ActionRestart)
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	deployed(w, http.StatusOK, d)
}

func (a *Apps) handleDeleteApp(w http.ResponseWriter, r *http.Request, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.appLocked(w, id)
	if !ok || !a.freeLocked(w, r, id) {
		return
	}
	// One transaction: the app, its versions, the deployment it
	// overrides (forced) and the stop deployment.
	old := st.def
	ops := []clientv3.Op{clientv3.OpDelete(appKey(id)), clientv3.OpDelete(prefixVersions+escapeID(id)+"/", clientv3.WithPrefix())}
	prevDep := a.deploymentOfLocked(id)
	if prevDep != nil {
		ops = append(ops, dropOp(prevDep))
	}
	d := a.newDeploymentLocked(ActionStop, id, a.nextVersionLocked(), old)
	op, err := deploymentOp(d)
	if err == nil {
		err = a.store.commit(append(ops, op)...)
	}
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if prevDep != nil {
		a.dropDeploymentLocked(prevDep)
	}
	a.dropAppStateLocked(id)
	a.dropAppReservationsLocked(id)
	a.log.Info("app deleted", "app_id", id)
	a.publishLocked("app_terminated_event", map[string]any{"appId": id})
	a.recordDeploymentLocked(d)
	deployed(w, http.StatusOK, d)
}

func (a *Apps) handleKillTask(w http.ResponseWriter, r *http.Request, id, taskID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.appLocked(w, id)
	if !ok {
		return
	}
	if isTrue(r, "wipe") {
		a.handleWipeLocked(w, r, st, taskID)
		return
	}
	t := a.tasks[taskID]
	if t == nil || t.AppID != id {
		writeMessage(w, http.StatusNotFound, fmt.Sprintf("Task '%s' does not exist", taskID))
		return
	}
	d, ok := a.killTasksLocked(w, r, st, []*task{t})
	if !ok {
		return
	}
	if d != nil {
		deployed(w, http.StatusOK, d)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": a.taskJSONLocked(t)})
}

func (a *Apps) handleKillTasks(w http.ResponseWriter, r *http.Request, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.appLocked(w, id)
	if !ok {
		return
	}
	host := r.URL.Query().Get("host")
	var ts []*task
	for _, t := range a.tasksOfLocked(id) {
		if t.alive() && (host == "" || t.Host == host) {
			ts = append(ts, t)
		}
	}
	d, ok := a.killTasksLocked(w, r, st, ts)
	if !ok {
		return
	}
	if d != nil {
		deployed(w, http.StatusOK, d)
		return
	}
	out := []map[string]any{}
	for _, t := range ts {
		out = append(out, a.taskJSONLocked(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

// killTasksLocked kills ts; with ?scale=true it also lowers instances by
// as many, in a scale deployment.
func (a *Apps) killTasksLocked(w http.ResponseWriter, r *http.Request, st *appState, ts []*task) (*Deployment, bool) {
	now := a.cfg.Now()
	if !isTrue(r, "scale") {
		for _, t := range ts {
			a.killLocked(t, now)
		}
		return nil, true
	}
	if !a.freeLocked(w, r, st.def.ID) {
		return nil, false
	}
	alive := 0
	for _, t := range ts {
		if t.alive() {
			alive++
		}
		a.killLocked(t, now)
	}
	app := st.def.clone()
	app.Instances = ptr(max(0, *app.Instances-alive))
	d, err := a.putAppLocked(st.def, app, ActionScale)
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return nil, false
	}
	return d, true
}

func (a *Apps) handleVersions(w http.ResponseWriter, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.appLocked(w, id)
	if !ok {
		return
	}
	vs := append([]string(nil), st.versions...)
	sort.Sort(sort.Reverse(sort.StringSlice(vs)))
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
}

func (a *Apps) handleVersion(w http.ResponseWriter, id, v string) {
	a.mu.Lock()
	var cur *App
	if st := a.apps[id]; st != nil {
		cur = st.def
	}
	a.mu.Unlock()
	if cur == nil {
		notFound(w, id)
		return
	}
	if cur.Version == v || a.store.cli == nil {
		if cur.Version != v {
			writeMessage(w, http.StatusNotFound, fmt.Sprintf("App '%s' does not exist in version %s", id, v))
			return
		}
		writeJSON(w, http.StatusOK, cur)
		return
	}
	m, err := a.store.list(context.Background(), versionKey(id, v))
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	b, ok := m[versionKey(id, v)]
	if !ok {
		writeMessage(w, http.StatusNotFound, fmt.Sprintf("App '%s' does not exist in version %s", id, v))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (a *Apps) handleListDeployments(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []*Deployment{}
	for _, id := range sortedKeys(a.deployments) {
		if d := a.deployments[id]; a.deploymentVisible(r, d) {
			out = append(out, a.withReadinessLocked(d))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Apps) handleGetDeployment(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.deployments[r.PathValue("id")]
	if d == nil || !a.deploymentVisible(r, d) {
		writeMessage(w, http.StatusNotFound, fmt.Sprintf("DeploymentPlan %s does not exist", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, a.withReadinessLocked(d))
}

// handleDeleteDeployment cancels a deployment: with force it just stops
// tracking it (202); otherwise it rolls the app back to the version
// before it, in a new deployment.
func (a *Apps) handleDeleteDeployment(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := r.PathValue("id")
	d := a.deployments[id]
	if d == nil || !a.deploymentVisible(r, d) {
		writeMessage(w, http.StatusNotFound, fmt.Sprintf("DeploymentPlan %s does not exist", id))
		return
	}
	for _, app := range d.AffectedApps {
		if !a.permit(w, r, auth.UpdateApps, app) {
			return
		}
	}
	if len(d.AffectedApps) == 0 || len(d.AffectedPods) > 0 && !isTrue(r, "force") {
		a.cancelPodDeploymentLocked(w, r, d) // poddeploy.go
		return
	}
	if d.Originals != nil && !isTrue(r, "force") {
		a.rollbackManyLocked(w, d)
		return
	}
	appID := d.AffectedApps[0]
	st := a.apps[appID]
	var cur *App
	if st != nil {
		cur = st.def
	}
	var nd *Deployment
	var err error
	switch {
	case isTrue(r, "force") || d.Original == nil && cur == nil:
		// Just stop tracking it.
		if err := a.store.commit(dropOp(d)); err != nil {
			writeMessage(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		a.dropDeploymentLocked(d)
		w.WriteHeader(http.StatusAccepted)
		return
	case d.Original == nil: // undo a create: the app, d and the stop deployment in one transaction
		nd = a.newDeploymentLocked(ActionStop, appID, a.nextVersionLocked(), cur)
		var op clientv3.Op
		if op, err = deploymentOp(nd); err == nil {
			err = a.store.commit(dropOp(d), clientv3.OpDelete(appKey(appID)), op)
		}
		if err == nil {
			a.dropDeploymentLocked(d)
			a.dropAppStateLocked(appID)
			a.recordDeploymentLocked(nd)
		}
	default: // roll back; putAppLocked drops d (the app's deployment) in its transaction
		action := ActionRestart
		if cur == nil {
			action = ActionStart
		} else if onlyScaleDiffers(cur, d.Original) {
			action = ActionScale
		}
		nd, err = a.putAppLocked(cur, d.Original.clone(), action)
	}
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	deployed(w, http.StatusOK, nd)
}

func (a *Apps) handleQueue(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	out := []map[string]any{}
	for _, id := range a.appIDsLocked() {
		st := a.apps[id]
		if st.def == nil || !a.visible(r, id) {
			continue
		}
		p := planFor(st.def, a.tasksOfLocked(id))
		if p.launch == 0 {
			continue
		}
		left := st.launchAfter.Sub(now)
		since := st.queuedSince
		if since.IsZero() {
			since = now
		}
		out = append(out, map[string]any{
			"app":   a.appInfoLocked(id, 0),
			"count": p.launch,
			"delay": map[string]any{"timeLeftSeconds": max(0, int(left.Seconds()+0.999)), "overdue": left <= 0},
			"since": formatTime(since),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue": out})
}

func (a *Apps) handleLeader(w http.ResponseWriter, r *http.Request) {
	l, ok := a.cfg.Leader()
	if !ok || l.IP == "" {
		writeMessage(w, http.StatusNotFound, "There is no leader")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"leader": l.Address()})
}

func (a *Apps) handleInfo(w http.ResponseWriter, r *http.Request) {
	l, _ := a.cfg.Leader()
	a.mu.Lock()
	fwID := a.frameworkID
	a.mu.Unlock()
	_, port, _ := net.SplitHostPort(l.Address())
	p, _ := strconv.Atoi(port)
	writeJSON(w, http.StatusOK, map[string]any{
		"name": "marathon", "version": "1.11.0-nodectl", "buildref": "nodectl",
		"elected": a.cfg.IsLeader(), "leader": l.Address(), "frameworkId": fwID,
		"marathon_config": map[string]any{
			"master": l.Address(), "framework_name": FrameworkName, "failover_timeout": int(failoverTimeout.Seconds()),
			"checkpoint": true, "mesos_role": a.cfg.Role, "mesos_user": a.user(), "decline_offer_duration": int(declineIdle * 1000),
			"local_port_min": 10000, "local_port_max": 20000, "max_running_deployments": 100,
			"task_launch_timeout": 300000, "reconciliation_initial_delay": 15000, "reconciliation_interval": 600000,
		},
		"zookeeper_config": map[string]any{"zk": "etcd:///nodectl/apps"},
		"http_config":      map[string]any{"http_port": p},
	})
}
