package apps

import (
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
// The built-in framework subscribes in the framework's role only, so a
// role other than it is refused with 422 until the framework subscribes
// with every role its apps use (MULTI_ROLE).

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

// roleDetails fills app's role in (the framework's when absent, or the
// one old had) and checks it and acceptedResourceRoles; the 422 details.
func (a *Apps) roleDetails(app, old *App) []Detail {
	var ds []Detail
	add := func(path string, msg ...string) { ds = append(ds, Detail{Path: path, Errors: msg}) }
	if app.Role == "" {
		app.Role = a.cfg.Role
	}
	valid := []string{a.cfg.Role}
	if old != nil && old.Role != "" && !slices.Contains(valid, old.Role) {
		valid = append(valid, old.Role) // Marathon keeps an app's existing role valid
	}
	if !slices.Contains(valid, app.Role) {
		msg := fmt.Sprintf("role %q is not valid for %s: valid roles are %s", app.Role, app.ID, strings.Join(valid, ", "))
		if top := topLevelGroup(app.ID); top != "" && app.Role == strings.TrimPrefix(top, "/") {
			msg = fmt.Sprintf("the role of the top-level group %s, %q, is not yet supported by nodectl (apps run in the framework's role %q, --mesos-role)", top, app.Role, a.cfg.Role)
		}
		add("/role", msg)
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
	role := a.cfg.Role
	if o.AllocationInfo != nil && o.AllocationInfo.Role != "" {
		role = o.AllocationInfo.Role
	}
	return role == a.roleOfApp(def)
}

// acceptedPart is the part of left def's tasks may use: resources whose
// role is in its acceptedResourceRoles (all of left without the field).
// Unreserved resources are role "*".
func acceptedPart(def *App, left api.Resources) api.Resources {
	if len(def.AcceptedResourceRoles) == 0 {
		return left
	}
	var out api.Resources
	for _, r := range left {
		role := r.Role
		if role == "" {
			role = unreservedRole
		}
		if slices.Contains(def.AcceptedResourceRoles, role) {
			out = append(out, r)
		}
	}
	return out
}
