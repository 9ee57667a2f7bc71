package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/auth"
)

// Marathon's groups (docs: rest-api public/api/v2/groups.raml,
// types/group.raml). The group tree is implicit in the app ids ("/a/b/c"
// is in groups "/a/b", "/a" and "/"); a group also exists when it was
// created explicitly (it may be empty), and then it has a record in etcd
// with its dependencies and versions:
//
//	groups/<id with / → _>   {id, dependencies, version, versions}
//
// A group's dependencies apply to every app in it (and its subgroups); a
// dependency names an app or a group (every app under it). Group writes
// go into the transaction of the deployment they make (fenced like
// every write of the store).
const prefixGroups = prefix + "groups/"

func groupKey(id string) string { return prefixGroups + escapeID(id) }

// groupRec is an explicit group's record.
type groupRec struct {
	ID           string   `json:"id"`
	Dependencies []string `json:"dependencies"`
	Version      string   `json:"version"`
	Versions     []string `json:"versions"`
	// EnforceRole (top-level groups): apps in it run in the group's
	// role, its name (roles.go).
	EnforceRole bool `json:"enforceRole,omitempty"`
}

// loadGroups reads the group records.
func (a *Apps) loadGroups(ctx context.Context) (map[string]*groupRec, error) {
	m, err := a.store.list(ctx, prefixGroups)
	if err != nil {
		return nil, err
	}
	out := map[string]*groupRec{}
	for k, v := range m {
		var g groupRec
		if err := json.Unmarshal(v, &g); err != nil {
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		out[g.ID] = &g
	}
	return out, nil
}

// groupDepsLocked is every explicit group's dependencies.
func (a *Apps) groupDepsLocked() map[string][]string {
	out := map[string][]string{}
	for id, g := range a.groups {
		if len(g.Dependencies) > 0 {
			out[id] = g.Dependencies
		}
	}
	return out
}

// groupHasDepsLocked: a group app id is in has dependencies.
func (a *Apps) groupHasDepsLocked(id string) bool {
	for g := parentOf(id); g != "/"; g = parentOf(g) {
		if rec := a.groups[g]; rec != nil && len(rec.Dependencies) > 0 {
			return true
		}
	}
	return false
}

// under: id is g or inside it.
func under(id, g string) bool {
	return g == "/" || id == g || strings.HasPrefix(id, g+"/")
}

// appsUnderLocked are the ids of the apps inside group g.
func (a *Apps) appsUnderLocked(g string) []string {
	var out []string
	for _, id := range a.appIDsLocked() {
		if st := a.apps[id]; st.def != nil && id != g && under(id, g) {
			out = append(out, id)
		}
	}
	return out
}

// groupExistsLocked: g is the root, an explicit group or holds an app.
func (a *Apps) groupExistsLocked(g string) bool {
	return g == "/" || a.groups[g] != nil || len(a.appsUnderLocked(g)) > 0 || a.podsUnderLocked(g)
}

// groupSpec is a GroupUpdate (types/group.raml) with its ids resolved.
type groupSpec struct {
	id        string
	deps      []string
	hasDeps   bool
	hasApps   bool
	apps      []map[string]json.RawMessage // ids and dependencies absolute
	appIDs    []string
	hasGroups bool
	groups    []*groupSpec
	scaleBy   *float64
	version   string
	// enforceRole is the request's enforceRole, when given (roles.go).
	enforceRole *bool
}

// resolveID makes id absolute: relative ids are inside base.
func resolveID(id, base string) string {
	if strings.HasPrefix(id, "/") {
		return canonicalID(id)
	}
	return canonicalID(base + "/" + id)
}

var groupFields = map[string]bool{"id": true, "apps": true, "groups": true, "dependencies": true, "scaleBy": true, "version": true, "enforceRole": true, "pods": true}

// parseGroup reads a GroupUpdate at path p (for error details). id is its
// resolved id; top: it is the request's group (version and scaleBy are
// allowed).
func parseGroup(m map[string]json.RawMessage, id, p string, top bool) (*groupSpec, []Detail) {
	var ds []Detail
	add := func(path string, msg ...string) { ds = append(ds, Detail{Path: p + path, Errors: msg}) }
	g := &groupSpec{id: id}
	if errs := validID(id); errs != nil && id != "/" {
		add("/id", errs...)
	}
	for _, k := range sortedKeys(m) {
		raw := m[k]
		isNull := string(raw) == "null"
		switch {
		case !groupFields[k]:
			add("/"+k, "unknown group field; a group has id, apps, groups, dependencies, scaleBy, version, enforceRole")
		case k == "pods" && !isNull && string(raw) != "[]":
			add("/pods", "pods in groups are not yet supported by nodectl")
		case k == "enforceRole" && !isNull:
			if ds2 := g.setEnforceRole(raw); ds2 != nil {
				add("/enforceRole", ds2...)
			}
		case k == "dependencies" && !isNull:
			var deps []string
			if err := json.Unmarshal(raw, &deps); err != nil {
				add("/dependencies", "must be an array of ids")
				continue
			}
			g.hasDeps = true
			g.deps = []string{}
			for i, d := range deps {
				r := resolveID(d, parentOf(id))
				if errs := validID(r); errs != nil {
					add(fmt.Sprintf("/dependencies(%d)", i), errs...)
				}
				g.deps = append(g.deps, r)
			}
		case k == "scaleBy" && !isNull:
			var f float64
			if err := json.Unmarshal(raw, &f); err != nil || f < 0 || math.IsNaN(f) {
				add("/scaleBy", "must be a number greater than or equal to 0")
				continue
			}
			if !top {
				add("/scaleBy", "only the group of the request may be scaled")
			}
			g.scaleBy = &f
		case k == "version" && !isNull:
			if err := json.Unmarshal(raw, &g.version); err != nil {
				add("/version", "must be a version timestamp")
			}
			if !top {
				add("/version", "only the group of the request may be rolled back")
			}
		case k == "apps" && !isNull:
			var apps []map[string]json.RawMessage
			if err := json.Unmarshal(raw, &apps); err != nil {
				add("/apps", "must be an array of app definitions")
				continue
			}
			g.hasApps = true
			seen := map[string]bool{}
			for i, app := range apps {
				ap := fmt.Sprintf("/apps(%d)", i)
				var aid string
				if err := json.Unmarshal(app["id"], &aid); err != nil || aid == "" {
					add(ap+"/id", "must be given")
					continue
				}
				aid = resolveID(aid, id)
				if parentOf(aid) != id {
					add(ap+"/id", fmt.Sprintf("identifier %s is not child of %s. Hint: use relative paths.", aid, id))
					continue
				}
				if seen[aid] {
					add(ap+"/id", "app "+aid+" is given twice")
				}
				seen[aid] = true
				app["id"], _ = json.Marshal(aid)
				if raw, ok := app["dependencies"]; ok && string(raw) != "null" {
					var deps []string
					if err := json.Unmarshal(raw, &deps); err == nil {
						for i, d := range deps {
							deps[i] = resolveID(d, id)
						}
						app["dependencies"], _ = json.Marshal(deps)
					}
				}
				g.apps = append(g.apps, app)
				g.appIDs = append(g.appIDs, aid)
			}
		case k == "groups" && !isNull:
			var groups []map[string]json.RawMessage
			if err := json.Unmarshal(raw, &groups); err != nil {
				add("/groups", "must be an array of groups")
				continue
			}
			g.hasGroups = true
			for i, sub := range groups {
				gp := fmt.Sprintf("/groups(%d)", i)
				var sid string
				if err := json.Unmarshal(sub["id"], &sid); err != nil || sid == "" {
					add(gp+"/id", "must be given")
					continue
				}
				sid = resolveID(sid, id)
				if sid == id || !under(sid, id) {
					add(gp+"/id", fmt.Sprintf("identifier %s is not child of %s. Hint: use relative paths.", sid, id))
					continue
				}
				s, sds := parseGroup(sub, sid, p+gp, false)
				ds = append(ds, sds...)
				g.groups = append(g.groups, s)
			}
		}
	}
	return g, ds
}

// groupPlan is what a group request changes.
type groupPlan struct {
	changes []appChange
	recs    map[string]*groupRec // explicit groups written
	dropped []string             // explicit groups deleted
	pods    []string             // pods deleted (with their group)
}

// planGroupLocked turns spec into app changes and group records; update:
// PUT semantics (apps and groups left out of a given list are removed).
// False after a 4xx.
func (a *Apps) planGroupLocked(w http.ResponseWriter, r *http.Request, spec *groupSpec, update bool, p *groupPlan) bool {
	if spec.id != "/" {
		rec := &groupRec{ID: spec.id, Dependencies: []string{}}
		if old := a.groups[spec.id]; old != nil {
			c := *old
			rec = &c
		}
		if spec.hasDeps {
			rec.Dependencies = spec.deps
		}
		if spec.enforceRole != nil {
			rec.EnforceRole = *spec.enforceRole
		}
		p.recs[spec.id] = rec
	}
	defer a.planningRoles(p.recs)() // roles.go: the apps below see the plan's enforceRole
	for i, m := range spec.apps {
		id := spec.appIDs[i]
		var old *App
		if st := a.apps[id]; st != nil {
			old = st.def
		}
		if old != nil && !update {
			writeMessage(w, http.StatusConflict, fmt.Sprintf("An app with id [%s] already exists.", id))
			return false
		}
		app, ok := a.mergeApp(w, old, m, id, false)
		if !ok {
			return false
		}
		perm := auth.UpdateApps
		if old == nil {
			perm = auth.CreateApps
		}
		if !a.permit(w, r, perm, id) || !a.permitRun(w, r, app) || !a.freeLocked(w, r, id) {
			return false
		}
		p.changes = append(p.changes, appChange{old: old, app: app})
	}
	if update && spec.hasApps {
		for _, id := range a.appsUnderLocked(spec.id) {
			if parentOf(id) == spec.id && !slices.Contains(spec.appIDs, id) {
				if !a.removeAppLocked(w, r, id, p) {
					return false
				}
			}
		}
	}
	if update && spec.hasGroups {
		keep := map[string]bool{}
		for _, s := range spec.groups {
			keep[s.id] = true
		}
		for _, child := range a.childGroupsLocked(spec.id) {
			if !keep[child] && !a.removeGroupLocked(w, r, child, p) {
				return false
			}
		}
	}
	for _, s := range spec.groups {
		if !a.planGroupLocked(w, r, s, update, p) {
			return false
		}
	}
	return true
}

func (a *Apps) removeAppLocked(w http.ResponseWriter, r *http.Request, id string, p *groupPlan) bool {
	if !a.permit(w, r, auth.DeleteApps, id) || !a.freeLocked(w, r, id) {
		return false
	}
	p.changes = append(p.changes, appChange{old: a.apps[id].def})
	return true
}

// removeGroupLocked plans the removal of group g: its apps and its
// explicit groups.
func (a *Apps) removeGroupLocked(w http.ResponseWriter, r *http.Request, g string, p *groupPlan) bool {
	for _, id := range a.appsUnderLocked(g) {
		if !a.removeAppLocked(w, r, id, p) {
			return false
		}
	}
	for _, id := range sortedKeys(a.groups) {
		if under(id, g) {
			p.dropped = append(p.dropped, id)
		}
	}
	return a.removeGroupPodsLocked(w, r, g, p) // grouppods.go
}

// allGroupIDsLocked is every group: the explicit ones and every group an
// app is in, with their ancestors.
func (a *Apps) allGroupIDsLocked() map[string]bool {
	out := map[string]bool{"/": true}
	addChain := func(g string) {
		for ; g != "/"; g = parentOf(g) {
			out[g] = true
		}
	}
	for id := range a.groups {
		addChain(id)
	}
	for id, st := range a.apps {
		if st.def != nil {
			addChain(parentOf(id))
		}
	}
	for id := range a.pods.pods {
		addChain(parentOf(id)) // podhttp.go
	}
	return out
}

// childGroupsLocked are the direct subgroups of g.
func (a *Apps) childGroupsLocked(g string) []string {
	var out []string
	for id := range a.allGroupIDsLocked() {
		if id != "/" && parentOf(id) == g {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// commitGroupPlanLocked checks the dependency graph, then deploys the
// plan with its group records in one transaction.
func (a *Apps) commitGroupPlanLocked(w http.ResponseWriter, p *groupPlan) (*Deployment, bool) {
	defs := map[string]*App{}
	for id, st := range a.apps {
		if st.def != nil {
			defs[id] = st.def
		}
	}
	for _, c := range p.changes {
		if c.app == nil {
			delete(defs, c.old.ID)
		} else {
			defs[c.app.ID] = c.app
		}
	}
	gd := a.groupDepsLocked()
	for _, id := range p.dropped {
		delete(gd, id)
	}
	for id, rec := range p.recs {
		gd[id] = rec.Dependencies
	}
	if id := dependencyCycle(defs, gd); id != "" {
		writeInvalid(w, []Detail{{Path: "/dependencies", Errors: []string{"Dependency graph has cyclic dependencies (through " + id + ")."}}})
		return nil, false
	}
	v := a.nextVersionLocked()
	var ops []clientv3.Op
	dropped := map[string]bool{}
	for _, id := range p.dropped {
		if p.recs[id] == nil {
			dropped[id] = true
			ops = append(ops, clientv3.OpDelete(groupKey(id)))
		}
	}
	recs := map[string]*groupRec{}
	for _, id := range sortedKeys(p.recs) {
		rec := *p.recs[id]
		rec.Version = v
		rec.Versions, _ = splitVersions(append(slices.Clone(rec.Versions), v), a.cfg.MaxVersions)
		op, err := putOp(groupKey(id), &rec)
		if err != nil {
			writeMessage(w, http.StatusInternalServerError, err.Error())
			return nil, false
		}
		ops = append(ops, op)
		recs[id] = &rec
	}
	ops = append(ops, podDeleteOps(p.pods)...) // grouppods.go
	d, err := a.deployManyAtLocked(v, p.changes, p.pods, ops, func() {
		a.deletePodsLocked(p.pods)
		for id := range dropped {
			delete(a.groups, id)
		}
		for id, rec := range recs {
			a.groups[id] = rec
		}
	}, gd)
	if err != nil {
		writeDeployError(w, err)
		return nil, false
	}
	return d, true
}

// groupPath is the group id and the rest of a /v2/groups path:
// "/a/b/versions/V" → ("/a/b", "versions", "V").
func groupPath(r *http.Request) (id, sub, version string) {
	segs := strings.Split(strings.Trim(r.PathValue("rest"), "/"), "/")
	n := len(segs)
	switch {
	case n >= 2 && segs[n-2] == "versions":
		return canonicalID(strings.Join(segs[:n-2], "/")), "versions", segs[n-1]
	case n >= 1 && segs[n-1] == "versions":
		return canonicalID(strings.Join(segs[:n-1], "/")), "versions", ""
	}
	return canonicalID(strings.Join(segs, "/")), "", ""
}

func groupNotFound(w http.ResponseWriter, id string) {
	writeMessage(w, http.StatusNotFound, fmt.Sprintf("Group '%s' does not exist", id))
}

// handleGroupGet serves GET /v2/groups[/{id}[/versions[/{version}]]].
func (a *Apps) handleGroupGet(w http.ResponseWriter, r *http.Request) {
	id, sub, version := groupPath(r)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.groupExistsLocked(id) || !a.groupVisibleLocked(r, id) {
		groupNotFound(w, id)
		return
	}
	switch {
	case sub == "versions" && version == "":
		writeJSON(w, http.StatusOK, a.groupVersionsLocked(id))
	case sub == "versions":
		info, err := a.groupAtLocked(r, id, version)
		if err != nil {
			writeMessage(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		if info == nil {
			writeMessage(w, http.StatusNotFound, fmt.Sprintf("Group '%s' does not exist in version %s", id, version))
			return
		}
		writeJSON(w, http.StatusOK, info)
	default:
		writeJSON(w, http.StatusOK, a.groupInfoLocked(r, id, groupEmbedsOf(r), a.tasksByAppLocked()))
	}
}

// groupEmbeds says which parts of a group are shown.
type groupEmbeds struct {
	apps, groups bool
	app          int
}

// groupEmbedsOf reads ?embed=group.groups|group.apps|group.apps.*
// (default: group.groups and group.apps).
func groupEmbedsOf(r *http.Request) groupEmbeds {
	e := groupEmbeds{app: embedCounts | embedDeployments}
	given := false
	for _, v := range r.URL.Query()["embed"] {
		switch {
		case v == "group.groups":
			e.groups, given = true, true
		case v == "group.apps":
			e.apps, given = true, true
		case strings.HasPrefix(v, "group.apps."):
			e.apps, given = true, true
		}
	}
	if !given {
		e.apps, e.groups = true, true
	}
	e.app |= embedsOf(r, false) &^ (embedCounts | embedDeployments)
	return e
}

// groupVisibleLocked: the principal may view g or an app inside it.
func (a *Apps) groupVisibleLocked(r *http.Request, g string) bool {
	if a.visible(r, g) {
		return true
	}
	for _, id := range a.appsUnderLocked(g) {
		if a.visible(r, id) {
			return true
		}
	}
	return false
}

// groupVersionLocked is g's version: the newest of its record's and its
// apps' (a change of an app in it changes the group).
func (a *Apps) groupVersionLocked(g string) string {
	v := ""
	if rec := a.groups[g]; rec != nil {
		v = rec.Version
	}
	for _, id := range a.appsUnderLocked(g) {
		v = max(v, a.apps[id].def.Version)
	}
	if v == "" && !a.lastVersion.IsZero() {
		v = formatTime(a.lastVersion)
	}
	return v
}

// groupInfoLocked is Marathon's GroupInfo of g.
func (a *Apps) groupInfoLocked(r *http.Request, g string, e groupEmbeds, byApp map[string][]*task) map[string]any {
	deps := []string{}
	if rec := a.groups[g]; rec != nil && rec.Dependencies != nil {
		deps = rec.Dependencies
	}
	out := map[string]any{"id": g, "dependencies": deps, "version": a.groupVersionLocked(g), "enforceRole": a.groups[g] != nil && a.groups[g].EnforceRole, "pods": a.podsInGroupLocked(r, g)}
	if e.apps {
		apps := []appInfo{}
		for _, id := range a.appsUnderLocked(g) {
			if parentOf(id) == g && a.visible(r, id) {
				apps = append(apps, a.appInfoOfLocked(id, e.app, byApp[id]))
			}
		}
		out["apps"] = apps
	}
	if e.groups {
		groups := []map[string]any{}
		for _, child := range a.childGroupsLocked(g) {
			if a.groupVisibleLocked(r, child) {
				groups = append(groups, a.groupInfoLocked(r, child, e, byApp))
			}
		}
		out["groups"] = groups
	}
	return out
}

// groupVersionsLocked lists g's versions, newest first: its record's, or
// its apps' for a group never written as one.
func (a *Apps) groupVersionsLocked(g string) []string {
	seen := map[string]bool{}
	if rec := a.groups[g]; rec != nil {
		for _, v := range rec.Versions {
			seen[v] = true
		}
	} else {
		for _, id := range a.appsUnderLocked(g) {
			for _, v := range a.apps[id].versions {
				seen[v] = true
			}
		}
	}
	vs := sortedKeys(seen)
	slices.Reverse(vs)
	return vs
}

// groupAtLocked is g as it was at version v: the apps now in it that
// existed then, each at its newest stored version not after v (apps
// deleted since are gone with their versions). Nil: g has no such
// version.
func (a *Apps) groupAtLocked(r *http.Request, g, v string) (map[string]any, error) {
	if !slices.Contains(a.groupVersionsLocked(g), v) {
		return nil, nil
	}
	defs, err := a.appsAtLocked(r.Context(), g, v)
	if err != nil {
		return nil, err
	}
	var build func(id string) map[string]any
	build = func(id string) map[string]any {
		out := map[string]any{"id": id, "dependencies": []string{}, "version": v, "enforceRole": false, "pods": []any{}}
		if rec := a.groups[id]; rec != nil {
			out["dependencies"] = rec.Dependencies
			out["enforceRole"] = rec.EnforceRole
		}
		apps := []*App{}
		children := map[string]bool{}
		for _, id2 := range sortedKeys(defs) {
			if !a.visible(r, id2) {
				continue
			}
			if parentOf(id2) == id {
				apps = append(apps, defs[id2])
			}
			for p := parentOf(id2); p != "/" && p != id; p = parentOf(p) {
				if parentOf(p) == id {
					children[p] = true
				}
			}
		}
		out["apps"] = apps
		groups := []map[string]any{}
		for _, c := range sortedKeys(children) {
			groups = append(groups, build(c))
		}
		out["groups"] = groups
		return out
	}
	return build(g), nil
}

// appsAtLocked are the apps in g as they were at v.
func (a *Apps) appsAtLocked(ctx context.Context, g, v string) (map[string]*App, error) {
	out := map[string]*App{}
	for _, id := range a.appsUnderLocked(g) {
		st := a.apps[id]
		app, err := a.versionAt(ctx, id, st.versions, st.def, v)
		if err != nil {
			return nil, err
		}
		if app != nil {
			out[id] = app
		}
	}
	return out, nil
}

// handleGroupWrite serves POST, PUT and PATCH /v2/groups[/{id}].
func (a *Apps) handleGroupWrite(w http.ResponseWriter, r *http.Request) {
	base, sub, _ := groupPath(r)
	if sub != "" {
		writeMessage(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if r.URL.Query().Has("dryRun") && isTrue(r, "dryRun") {
		writeInvalid(w, []Detail{{Path: "/", Errors: []string{"dryRun is not yet supported by nodectl"}}})
		return
	}
	m, ok := readObject(w, r)
	if !ok {
		return
	}
	id := base
	if raw, ok := m["id"]; ok && string(raw) != "null" {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid JSON", "details": []Detail{{Path: "/id", Errors: []string{"must be a string"}}}})
			return
		}
		id = resolveID(s, base)
	}
	if r.Method == http.MethodPatch {
		a.handleGroupPatch(w, r, id, m)
		return
	}
	if r.Method == http.MethodPost && id == "/" {
		writeMessage(w, http.StatusConflict, "Group / is already created. Use PUT to change this group.")
		return
	}
	spec, ds := parseGroup(m, id, "", true)
	if len(ds) > 0 {
		writeInvalid(w, ds)
		return
	}
	perm := auth.UpdateApps
	if r.Method == http.MethodPost {
		perm = auth.CreateApps
	}
	if !a.permit(w, r, perm, id) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	exists := a.groupExistsLocked(id)
	if r.Method == http.MethodPost && exists {
		writeMessage(w, http.StatusConflict, fmt.Sprintf("Group %s is already created. Use PUT to change this group.", id))
		return
	}
	if st := a.apps[id]; st != nil && st.def != nil {
		writeMessage(w, http.StatusConflict, fmt.Sprintf("An app with id [%s] already exists.", id))
		return
	}
	p := &groupPlan{recs: map[string]*groupRec{}}
	switch {
	case spec.version != "":
		if !exists {
			groupNotFound(w, id)
			return
		}
		if !a.rollbackGroupLocked(w, r, id, spec.version, p) {
			return
		}
	case spec.scaleBy != nil:
		if !exists {
			groupNotFound(w, id)
			return
		}
		for _, aid := range a.appsUnderLocked(id) {
			old := a.apps[aid].def
			if !a.permit(w, r, auth.UpdateApps, aid) || !a.freeLocked(w, r, aid) {
				return
			}
			app := old.clone()
			app.Instances = ptr(int(math.Ceil(float64(*old.Instances) * *spec.scaleBy)))
			p.changes = append(p.changes, appChange{old: old, app: app})
		}
	default:
		if !a.planGroupLocked(w, r, spec, r.Method == http.MethodPut, p) {
			return
		}
	}
	d, ok := a.commitGroupPlanLocked(w, p)
	if !ok {
		return
	}
	code := http.StatusOK
	if r.Method == http.MethodPost || !exists {
		code = http.StatusCreated
		w.Header().Set("Location", "/v2/groups"+id)
	}
	a.publishLocked("group_change_success", map[string]any{"groupId": id, "version": d.Version})
	deployed(w, code, d)
}

// rollbackGroupLocked plans g back to version v: every app now in g
// becomes its definition at v, or is removed when it did not exist then.
func (a *Apps) rollbackGroupLocked(w http.ResponseWriter, r *http.Request, g, v string, p *groupPlan) bool {
	if !slices.Contains(a.groupVersionsLocked(g), v) {
		writeMessage(w, http.StatusNotFound, fmt.Sprintf("Group '%s' does not exist in version %s", g, v))
		return false
	}
	defs, err := a.appsAtLocked(r.Context(), g, v)
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return false
	}
	for _, id := range a.appsUnderLocked(g) {
		old := a.apps[id].def
		if !a.permit(w, r, auth.UpdateApps, id) || !a.freeLocked(w, r, id) {
			return false
		}
		if then := defs[id]; then != nil {
			p.changes = append(p.changes, appChange{old: old, app: then.clone()})
		} else {
			p.changes = append(p.changes, appChange{old: old})
		}
	}
	return true
}

// handleGroupPatch is PATCH /v2/groups/{id}: the settings of a top-level
// group (only enforceRole).
func (a *Apps) handleGroupPatch(w http.ResponseWriter, r *http.Request, id string, m map[string]json.RawMessage) {
	spec := &groupSpec{id: id}
	for _, k := range sortedKeys(m) {
		switch {
		case k == "id":
		case k == "enforceRole" && string(m[k]) == "null":
		case k == "enforceRole":
			if errs := spec.setEnforceRole(m[k]); errs != nil {
				writeInvalid(w, []Detail{{Path: "/enforceRole", Errors: errs}})
				return
			}
		default:
			writeInvalid(w, []Detail{{Path: "/" + k, Errors: []string{"PATCH /v2/groups changes only enforceRole"}}})
			return
		}
	}
	if id == "/" || parentOf(id) != "/" {
		writeInvalid(w, []Detail{{Path: "/id", Errors: []string{"only top-level groups can be patched"}}})
		return
	}
	if !a.permit(w, r, auth.UpdateApps, id) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.groupExistsLocked(id) {
		groupNotFound(w, id)
		return
	}
	rec := a.recOrNewLocked(id)
	if spec.enforceRole != nil {
		rec.EnforceRole = *spec.enforceRole
	}
	d, ok := a.commitGroupPlanLocked(w, &groupPlan{recs: map[string]*groupRec{id: rec}})
	if ok {
		deployed(w, http.StatusOK, d)
	}
}

func (a *Apps) recOrNewLocked(id string) *groupRec {
	if rec := a.groups[id]; rec != nil {
		c := *rec
		return &c
	}
	return &groupRec{ID: id, Dependencies: []string{}}
}

// handleGroupDelete is DELETE /v2/groups[/{id}]: the group, every app and
// group in it, in one deployment (dependents stop first).
func (a *Apps) handleGroupDelete(w http.ResponseWriter, r *http.Request) {
	id, sub, _ := groupPath(r)
	if sub != "" {
		writeMessage(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !a.permit(w, r, auth.DeleteApps, id) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.groupExistsLocked(id) {
		groupNotFound(w, id)
		return
	}
	p := &groupPlan{recs: map[string]*groupRec{}}
	if !a.removeGroupLocked(w, r, id, p) {
		return
	}
	d, ok := a.commitGroupPlanLocked(w, p)
	if !ok {
		return
	}
	a.publishLocked("group_change_success", map[string]any{"groupId": id, "version": d.Version})
	deployed(w, http.StatusOK, d)
}
