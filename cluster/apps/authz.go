package apps

import (
	"fmt"
	"net/http"

	"nodectl/cluster/auth"
)

// The built-in Marathon acts with the rights of the principal that called
// /v2, never its own: every handler checks that principal's app
// permission on the app id (a Marathon group path prefix), and lists are
// filtered to the apps it may view. Marathon answers a refusal 403 with
// {"message": "Not Authorized to perform this action!"}
// (mesosphere.marathon.api.AuthResource).

// permit checks perm on app id for the request's principal; false after
// a 403. With no Guard configured (tests of the framework alone) every
// call is allowed.
func (a *Apps) permit(w http.ResponseWriter, r *http.Request, perm auth.Perm, id string) bool {
	if a.cfg.Guard == nil || a.cfg.Guard.AllowedCtx(r.Context(), perm, id) {
		return true
	}
	writeMessage(w, http.StatusForbidden, fmt.Sprintf("Not Authorized to perform this action! (%s on %s)", perm, id))
	return false
}

// visible says whether the request's principal may view app id.
func (a *Apps) visible(r *http.Request, id string) bool {
	return a.cfg.Guard == nil || a.cfg.Guard.AppVisible(r.Context(), id)
}

// permitRun checks everything about how an app's tasks would run that the
// request's principal must be allowed: the user, an unconfined seccomp
// profile and the secrets it reads. Every path that stores an app
// definition (create, update, bulk, groups) goes through it.
func (a *Apps) permitRun(w http.ResponseWriter, r *http.Request, app *App) bool {
	return a.permitUser(w, r, app) && a.permitSeccomp(w, r, app) && a.permitSecrets(w, r, app)
}

// permitUser checks that the request's principal may run tasks as the
// app's user (Mesos run_tasks; --root_submissions). An app without a user
// runs as the framework's (Config.User).
func (a *Apps) permitUser(w http.ResponseWriter, r *http.Request, app *App) bool {
	user := app.User
	if user == "" {
		user = a.user()
	}
	if a.cfg.Guard == nil || a.cfg.Guard.AllowedCtx(r.Context(), auth.RunTasks, user) {
		return true
	}
	writeMessage(w, http.StatusForbidden, fmt.Sprintf("Not Authorized to perform this action! (run_tasks as user '%s')", user))
	return false
}

// eventApps are the apps an event is about (nil: none in particular).
func eventApps(fields map[string]any) []string {
	switch {
	case fields["appId"] != nil:
		if s, ok := fields["appId"].(string); ok {
			return []string{s}
		}
	case fields["appDefinition"] != nil:
		if app, ok := fields["appDefinition"].(*App); ok {
			return []string{app.ID}
		}
	case fields["plan"] != nil:
		if p, ok := fields["plan"].(map[string]any); ok {
			if ids, ok := p["affectedApps"].([]string); ok {
				return ids
			}
		}
	}
	return nil
}

// eventVisible: an app-scoped principal sees events about its apps only.
func (a *Apps) eventVisible(r *http.Request, ev busEvent) bool {
	if a.cfg.Guard == nil {
		return true
	}
	if _, scoped := auth.AppScoped(r.Context()); !scoped {
		return true
	}
	if len(ev.apps) == 0 {
		return false
	}
	for _, id := range ev.apps {
		if !a.visible(r, id) {
			return false
		}
	}
	return true
}

// deploymentVisible: every app a deployment affects is visible.
func (a *Apps) deploymentVisible(r *http.Request, d *Deployment) bool {
	for _, id := range d.AffectedApps {
		if !a.visible(r, id) {
			return false
		}
	}
	return true
}
