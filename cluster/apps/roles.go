package apps

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"nodectl/cluster/api"
)

// Roles (Marathon 1.9+, docs page "Roles",
// https://mesosphere.github.io/marathon/docs/roles.html): every app runs in
// one Mesos role. An app's role defaults to the framework's role
// (--mesos-role, Marathon's --mesos_role); Marathon also allows the name of
// the app's top-level group (and enforces it with the group's
// enforceRole). acceptedResourceRoles narrows which of an offer's
// resources the app's tasks may use: "*" (unreserved) and the app's role
// (Marathon's ResourceRole.validForRole).
//
// The built-in framework subscribes (MULTI_ROLE) with every role an app
// or an enforceRole group uses; when that set changes it subscribes again
// (a failover of itself) with the new set.

// unreservedRole is Mesos' name for unreserved resources.
const unreservedRole = "*"

// roleOfApp is def's role: its own, or the framework's for a definition
// stored before apps had one.
func (a *Apps) roleOfApp(def *App) string {
	if def.Role != "" {
		return def.Role
	}
	return a.cfg.Role
}

// roleState is the roles the framework subscribed with, and the group
// records of a group request being planned (their enforceRole applies to
// the apps of the same request).
type roleState struct {
	subscribed []string
	planning   map[string]*groupRec
}

// errRolesChanged ends a term's subscription so that the next one has
// the roles the apps now need.
var errRolesChanged = errors.New("the apps' roles changed")

// neededRolesLocked is the framework's role and every role an app or an
// enforceRole group uses, sorted.
func (a *Apps) neededRolesLocked() []string {
	set := map[string]bool{a.cfg.Role: true}
	for _, st := range a.apps {
		if st.def != nil {
			set[a.roleOfApp(st.def)] = true
		}
	}
	for id, g := range a.groups {
		if g.EnforceRole && parentOf(id) == "/" {
			set[strings.TrimPrefix(id, "/")] = true
		}
	}
	return sortedKeys(set)
}

// rolesChanged: the apps need a role the framework has not subscribed with.
func (a *Apps) rolesChanged() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.subscribed {
		return false
	}
	for _, r := range a.neededRolesLocked() {
		if !slices.Contains(a.roles.subscribed, r) {
			a.log.Info("apps need a new role; subscribing again", "role", r)
			return true
		}
	}
	return false
}

// planningRoles makes recs (a group request's plan) the group records
// roleDetails consults; the returned func undoes it.
func (a *Apps) planningRoles(recs map[string]*groupRec) func() {
	prev := a.roles.planning
	a.roles.planning = recs
	return func() { a.roles.planning = prev }
}

// enforcedLocked: top-level group top enforces its role (in the plan
// being made, else as stored).
func (a *Apps) enforcedLocked(top string) bool {
	if rec, ok := a.roles.planning[top]; ok {
		return rec.EnforceRole
	}
	rec := a.groups[top]
	return rec != nil && rec.EnforceRole
}

// setEnforceRole reads a group's enforceRole; the errors of a bad one.
func (g *groupSpec) setEnforceRole(raw json.RawMessage) []string {
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return []string{"must be a boolean"}
	}
	if v && g.id != "/" && parentOf(g.id) != "/" {
		return []string{fmt.Sprintf("enforceRole can only be set for top-level groups, and %s is not top-level", g.id)}
	}
	g.enforceRole = &v
	return nil
}

// roleDetails fills app's role in and checks it and
// acceptedResourceRoles (Marathon's RoleSettings.forService): an app in
// the root group may use the framework's role; one in top-level group
// /g also "g", which is its default and only choice when /g enforces
// its role; an app keeps the role it had. Callers hold a.mu.
func (a *Apps) roleDetails(app, old *App) []Detail {
	var ds []Detail
	add := func(path string, msg ...string) { ds = append(ds, Detail{Path: path, Errors: msg}) }
	top := topLevelGroup(app.ID)
	groupRole := strings.TrimPrefix(top, "/")
	enforce := top != "" && a.enforcedLocked(top)
	defaultRole, valid := a.cfg.Role, []string{a.cfg.Role}
	switch {
	case enforce:
		defaultRole, valid = groupRole, []string{groupRole}
	case top != "":
		valid = append(valid, groupRole)
	}
	if app.Role == "" {
		app.Role = defaultRole
	}
	if old != nil && old.Role != "" && !slices.Contains(valid, old.Role) {
		valid = append(valid, old.Role) // Marathon keeps an app's existing role valid
	}
	switch {
	case !slices.Contains(valid, app.Role):
		add("/role", fmt.Sprintf("role %q is not valid for %s: valid roles are %s", app.Role, app.ID, strings.Join(valid, ", ")))
	case app.resident() && app.Role != a.cfg.Role:
		add("/role", fmt.Sprintf("a resident app in role %q is not yet supported by nodectl (reservations are made in the framework's role %q)", app.Role, a.cfg.Role))
	}
	if app.AcceptedResourceRoles != nil {
		if len(app.AcceptedResourceRoles) == 0 {
			add("/acceptedResourceRoles", "must not be empty")
		}
		seen := map[string]bool{}
		for _, r := range app.AcceptedResourceRoles {
			if seen[r] {
				add("/acceptedResourceRoles", "must not contain duplicates")
				break
			}
			seen[r] = true
			if r != unreservedRole && r != app.Role {
				add("/acceptedResourceRoles", fmt.Sprintf("acceptedResourceRoles can only contain %s and %s", unreservedRole, app.Role))
				break
			}
		}
	}
	return ds
}

// topLevelGroup is the top-level group app id is in ("/a" for "/a/b/c"),
// "" for an app in the root group.
func topLevelGroup(id string) string {
	rest := strings.TrimPrefix(id, "/")
	i := strings.Index(rest, "/")
	if i < 0 {
		return ""
	}
	return "/" + rest[:i]
}

// usableOffer: an offer allocated to def's role (a MULTI_ROLE framework
// gets offers per role; one without allocation info is the framework's).
func (a *Apps) usableOffer(def *App, o api.Offer) bool {
	return a.offerRole(o) == a.roleOfApp(def)
}

// offerRole is the role o is allocated to.
func (a *Apps) offerRole(o api.Offer) string {
	if o.AllocationInfo != nil && o.AllocationInfo.Role != "" {
		return o.AllocationInfo.Role
	}
	return a.cfg.Role
}

// acceptedPart is the part of left def's tasks may use: resources whose
// role is in its acceptedResourceRoles (all of left without the field).
// Unreserved resources are role "*".
func acceptedPart(def *App, left api.Resources) api.Resources {
	if len(def.AcceptedResourceRoles) == 0 {
		return left
	}
	return inRoles(def.AcceptedResourceRoles, left)
}

// podAcceptedPart is the part of left a pod's instances may use: by its
// scheduling.placement.acceptedResourceRoles, else the unreserved
// resources (what pods used before they had roles).
func podAcceptedPart(def *Pod, left api.Resources) api.Resources {
	roles := []string{unreservedRole}
	if s := def.Scheduling; s != nil && s.Placement != nil && len(s.Placement.AcceptedResourceRoles) > 0 {
		roles = s.Placement.AcceptedResourceRoles
	}
	return inRoles(roles, left)
}

// inRoles is the resources of left in one of roles ("*": unreserved).
func inRoles(roles []string, left api.Resources) api.Resources {
	var out api.Resources
	for _, r := range left {
		role := r.Role
		if role == "" {
			role = unreservedRole
		}
		if slices.Contains(roles, role) {
			out = append(out, r)
		}
	}
	return out
}

// podRoleDetails checks a pod's acceptedResourceRoles: "*" and the
// framework's role, in which pods run.
func podRoleDetails(rs []string, frameworkRole string) []string {
	for i, r := range rs {
		if r != unreservedRole && r != frameworkRole {
			return []string{fmt.Sprintf("acceptedResourceRoles can only contain %s and %s", unreservedRole, frameworkRole)}
		}
		if slices.Contains(rs[:i], r) {
			return []string{"must not contain duplicates"}
		}
	}
	return nil
}
