package apps

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"nodectl/cluster/auth"
)

// The rest of Marathon's v2 API around apps and tasks: the embeds
// apps.readiness and apps.taskStats, label selectors, the text/plain task
// list, POST /v2/tasks/delete, DELETE /v2/queue/{id}/delay, /v2/plugins
// and bulk PUT/PATCH /v2/apps (Marathon's docs: rest-api
// public/api/v2/apps.raml, tasks.raml, queue.raml, plugins.raml).

// embedMoreLocked adds the readiness and taskStats embeds to info.
func (a *Apps) embedMoreLocked(info *appInfo, embed int, ts []*task) {
	def := info.App
	if embed&embedReadiness != 0 {
		out := []readinessResult{}
		if len(def.ReadinessChecks) > 0 {
			for _, t := range ts {
				if t.ReadinessChecked && t.alive() {
					out = append(out, readinessResult{Name: def.ReadinessChecks[0].Name, TaskID: t.ID, Ready: t.Ready})
				}
			}
		}
		info.Readiness = &out
	}
	if embed&embedTaskStats != 0 {
		info.TaskStats = a.taskStatsLocked(def, ts)
	}
}

// taskStatsLocked is Marathon's TaskStatsByVersion: counts and life
// times of all tasks, of those started after the last scaling, and of
// those of the latest and older configs; a part with no task is left out.
func (a *Apps) taskStatsLocked(def *App, ts []*task) map[string]any {
	now := a.cfg.Now()
	var scaledAt, configAt string
	if def.VersionInfo != nil {
		scaledAt, configAt = def.VersionInfo.LastScalingAt, def.VersionInfo.LastConfigChangeAt
	}
	parts := map[string]func(t *task) bool{
		"totalSummary":            func(*task) bool { return true },
		"startedAfterLastScaling": func(t *task) bool { return scaledAt != "" && formatTime(t.StagedAt) >= scaledAt },
		"withLatestConfig":        func(t *task) bool { return t.ConfigVersion == configAt },
		"withOutdatedConfig":      func(t *task) bool { return t.ConfigVersion != configAt },
	}
	out := map[string]any{}
	for name, in := range parts {
		var staged, running, healthy, unhealthy int
		var lives []float64
		for _, t := range ts {
			if !in(t) {
				continue
			}
			switch {
			case t.running():
				running++
				if t.Health != nil && t.Health.Alive {
					healthy++
				} else if t.Health != nil {
					unhealthy++
				}
			default:
				staged++
			}
			if !t.StagedAt.IsZero() {
				lives = append(lives, now.Sub(t.StagedAt).Seconds())
			}
		}
		if staged+running == 0 {
			continue
		}
		stats := map[string]any{"counts": map[string]int{"staged": staged, "running": running, "healthy": healthy, "unhealthy": unhealthy}}
		if len(lives) > 0 {
			sort.Float64s(lives)
			sum := 0.0
			for _, l := range lives {
				sum += l
			}
			median := lives[len(lives)/2]
			if len(lives)%2 == 0 {
				median = (lives[len(lives)/2-1] + lives[len(lives)/2]) / 2
			}
			stats["lifeTime"] = map[string]float64{"averageSeconds": sum / float64(len(lives)), "medianSeconds": median}
		}
		out[name] = map[string]any{"stats": stats}
	}
	return out
}

// labelTerm is one term of a Marathon label selector
// (mesosphere.marathon.api.v2.LabelSelectorParsers): "key", "key==v",
// "key!=v", "key in (a,b)", "key notin (a,b)".
type labelTerm struct {
	key    string
	op     string // "exists", "==", "!=", "in", "notin"
	values []string
}

func (l labelTerm) matches(labels map[string]string) bool {
	v, ok := labels[l.key]
	switch l.op {
	case "exists":
		return ok
	case "==", "in":
		return ok && slices.Contains(l.values, v)
	default: // "!=", "notin"
		return !ok || !slices.Contains(l.values, v)
	}
}

// parseLabelSelector parses a comma-separated AND of terms; commas inside
// a value set's parentheses belong to the set. Marathon's labels may
// escape special characters with a backslash.
func parseLabelSelector(s string) ([]labelTerm, error) {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, s[start:])
	var out []labelTerm
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		t, err := parseLabelTerm(p)
		if err != nil {
			return nil, err
		}
		if t.key == "" || strings.ContainsAny(t.key, "!=() \t") {
			return nil, fmt.Errorf("label selector %q: invalid label key %q", p, t.key)
		}
		out = append(out, t)
	}
	return out, nil
}

func unescapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return strings.TrimSpace(b.String())
}

func parseLabelTerm(p string) (labelTerm, error) {
	for _, op := range []string{"==", "!="} {
		if k, v, ok := strings.Cut(p, op); ok {
			return labelTerm{key: unescapeLabel(k), op: op, values: []string{unescapeLabel(v)}}, nil
		}
	}
	fields := strings.Fields(p)
	if len(fields) == 1 {
		return labelTerm{key: unescapeLabel(fields[0]), op: "exists"}, nil
	}
	if len(fields) >= 3 && (fields[1] == "in" || fields[1] == "notin") {
		set := strings.TrimSpace(strings.Join(fields[2:], " "))
		if !strings.HasPrefix(set, "(") || !strings.HasSuffix(set, ")") {
			return labelTerm{}, fmt.Errorf("label selector %q: a value set must be in parentheses", p)
		}
		var vs []string
		for _, v := range strings.Split(set[1:len(set)-1], ",") {
			vs = append(vs, unescapeLabel(v))
		}
		return labelTerm{key: unescapeLabel(fields[0]), op: fields[1], values: vs}, nil
	}
	return labelTerm{}, fmt.Errorf("label selector %q: want key, key==value, key!=value, key in (a,b) or key notin (a,b)", p)
}

// labelsMatch: every term matches.
func labelsMatch(sel []labelTerm, labels map[string]string) bool {
	for _, t := range sel {
		if !t.matches(labels) {
			return false
		}
	}
	return true
}

// tasksText is Marathon's text/plain task list (EndpointsHelper before
// 1.11): per app and service port a line "app_id<TAB>port<TAB>" followed
// by "host:hostPort<TAB>" per running task; an app without ports gets one
// line with a blank port and the hosts.
func (a *Apps) tasksTextLocked(r *http.Request, byApp map[string][]*task, only string) string {
	var b strings.Builder
	for _, id := range a.appIDsLocked() {
		st := a.apps[id]
		if st.def == nil || !a.visible(r, id) || only != "" && id != only {
			continue
		}
		clean := taskPrefix(id)
		var running []*task
		for _, t := range byApp[id] {
			if t.running() && !t.Killing {
				running = append(running, t)
			}
		}
		if len(st.def.hostPortDefs()) == 0 {
			b.WriteString(clean + "\t \t")
			for _, t := range running {
				b.WriteString(t.Host + "\t")
			}
			b.WriteString("\n")
			continue
		}
		for i, pd := range st.def.hostPortDefs() {
			fmt.Fprintf(&b, "%s\t%d\t", clean, pd.Port)
			for _, t := range running {
				if i < len(t.Ports) {
					fmt.Fprintf(&b, "%s:%d\t", t.Host, t.Ports[i])
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// wantsText: the client asked for text/plain rather than JSON.
func wantsText(r *http.Request) bool {
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "text/plain") && !strings.Contains(acc, "application/json")
}

// handleDeleteTasks is POST /v2/tasks/delete {"ids": [...]}: it kills
// the tasks, by app; with ?scale=true each app's instances are lowered by
// as many (one deployment per app, as Marathon's TasksResource does).
// ?wipe=true (forget resident tasks' reservations) is refused here.
func (a *Apps) handleDeleteTasks(w http.ResponseWriter, r *http.Request) {
	if isTrue(r, "wipe") {
		writeInvalid(w, []Detail{{Path: "/wipe", Errors: []string{"wipe is not supported by POST /v2/tasks/delete; use DELETE /v2/apps/{appId}/tasks/{taskId}?wipe=true"}}})
		return
	}
	m, ok := readObject(w, r)
	if !ok {
		return
	}
	for k := range m {
		if k != "ids" {
			writeInvalid(w, []Detail{{Path: "/" + k, Errors: []string{"unknown field; the body is {\"ids\": [task ids]}"}}})
			return
		}
	}
	var ids []string
	if err := json.Unmarshal(m["ids"], &ids); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid JSON", "details": []Detail{{Path: "/ids", Errors: []string{"must be an array of task ids"}}}})
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	byApp := map[string][]*task{}
	for _, id := range ids {
		t := a.tasks[id]
		if t == nil {
			continue // Marathon ignores ids it does not know
		}
		byApp[t.AppID] = append(byApp[t.AppID], t)
	}
	for _, app := range sortedKeys(byApp) {
		if !a.permit(w, r, auth.UpdateApps, app) {
			return
		}
	}
	if isTrue(r, "scale") {
		var last *Deployment
		for _, app := range sortedKeys(byApp) {
			st := a.apps[app]
			if st == nil || st.def == nil {
				continue
			}
			d, ok := a.killTasksLocked(w, r, st, byApp[app])
			if !ok {
				return
			}
			last = d
		}
		if last != nil {
			deployed(w, http.StatusOK, last)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"tasks": []any{}})
		return
	}
	out := []map[string]any{}
	now := a.cfg.Now()
	for _, app := range sortedKeys(byApp) {
		for _, t := range byApp[app] {
			a.killLocked(t, now)
			out = append(out, a.taskJSONLocked(t))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

// handleResetDelay is DELETE /v2/queue/{id}/delay: the app's launch
// backoff is reset, so a queued launch goes ahead now.
func (a *Apps) handleResetDelay(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimSuffix(strings.Trim(r.PathValue("rest"), "/"), "/delay")
	if rest == strings.Trim(r.PathValue("rest"), "/") {
		writeMessage(w, http.StatusNotFound, "Not found: "+r.URL.Path)
		return
	}
	id := canonicalID(rest)
	if !a.permit(w, r, auth.UpdateApps, id) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.appLocked(w, id)
	if !ok {
		return
	}
	if planFor(st.def, a.tasksOfLocked(id)).launch == 0 {
		writeMessage(w, http.StatusNotFound, fmt.Sprintf("Application %s not found in tasks queue.", id))
		return
	}
	st.backoff, st.launchAfter = 0, time.Time{}
	a.saveDelayLocked(id, st)
	a.revive = true
	a.poke()
	w.WriteHeader(http.StatusNoContent)
}

// handlePlugins: nodectl loads no Marathon plugins.
func (a *Apps) handlePlugins(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"plugins": []any{}})
}

// handleBulkUpdate is PUT/PATCH /v2/apps: an array of (partial, unless
// ?partialUpdate=false on PUT) app definitions, each with its id, applied
// in one deployment.
func (a *Apps) handleBulkUpdate(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid JSON", "details": []Detail{{Path: "/", Errors: []string{"must be an array of app definitions: " + err.Error()}}}})
		return
	}
	partial := r.Method == http.MethodPatch || r.URL.Query().Get("partialUpdate") != "false"
	a.mu.Lock()
	defer a.mu.Unlock()
	var changes []appChange
	seen := map[string]bool{}
	for i, m := range items {
		var id string
		if err := json.Unmarshal(m["id"], &id); err != nil || id == "" {
			writeInvalid(w, []Detail{{Path: fmt.Sprintf("/%d/id", i), Errors: []string{"must be given"}}})
			return
		}
		id = canonicalID(id)
		if seen[id] {
			writeInvalid(w, []Detail{{Path: fmt.Sprintf("/%d/id", i), Errors: []string{"app " + id + " is given twice"}}})
			return
		}
		seen[id] = true
		var old *App
		if st := a.apps[id]; st != nil {
			old = st.def
		}
		if old == nil && r.Method == http.MethodPatch {
			notFound(w, id)
			return
		}
		app, ok := a.mergeApp(w, old, m, id, partial)
		if !ok {
			return
		}
		perm := auth.UpdateApps
		if old == nil {
			perm = auth.CreateApps
		}
		if !a.permit(w, r, perm, id) || !a.permitRun(w, r, app) || !a.freeLocked(w, r, id) {
			return
		}
		changes = append(changes, appChange{old: old, app: app})
	}
	d, err := a.deployManyLocked(changes, nil, nil)
	if err != nil {
		writeDeployError(w, err)
		return
	}
	for _, c := range changes {
		a.apiPostLocked(r, c.app)
	}
	deployed(w, http.StatusOK, d)
}

// mergeApp is old with m applied (all of m when not partial), decoded,
// validated; false after a 4xx.
func (a *Apps) mergeApp(w http.ResponseWriter, old *App, m map[string]json.RawMessage, id string, partial bool) (*App, bool) {
	merged := m
	if old != nil && partial {
		merged = map[string]json.RawMessage{}
		b, _ := json.Marshal(old)
		_ = json.Unmarshal(b, &merged)
		for k, v := range m {
			merged[k] = v
		}
	}
	merged["id"], _ = json.Marshal(id)
	app, ok := decodeApp(w, merged)
	if !ok {
		return nil, false
	}
	if ds := append(append(app.validate(), residentChanges(old, app)...), a.roleDetails(app, old)...); len(ds) > 0 {
		writeInvalid(w, ds)
		return nil, false
	}
	return app, definitionFits(w, app)
}

// readBody reads a request body of at most MaxDefinitionBytes; false
// after a 4xx.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxDefinitionBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		tooLarge(w, "Request body")
		return nil, false
	}
	if err != nil {
		writeMessage(w, http.StatusBadRequest, "Invalid JSON")
		return nil, false
	}
	return body, true
}

// handleAbdicate is DELETE /v2/leader: the leading master steps down and
// campaigns again, so another master leads if there is one (Marathon's
// leader.raml; Marathon's own leader election is the master's here).
func (a *Apps) handleAbdicate(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Abdicate == nil {
		writeMessage(w, http.StatusServiceUnavailable, "Leadership abdication is not available on this node")
		return
	}
	if err := a.cfg.Abdicate(); err != nil {
		writeMessage(w, http.StatusServiceUnavailable, "Leadership not abdicated: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "Leadership abdicated"})
}
