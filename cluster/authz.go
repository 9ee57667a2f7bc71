package cluster

import (
	"fmt"
	"net/http"
	"strings"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// Authorization of the master's own calls (docs/security.md): the route's
// permission is checked by the auth.Router before a handler runs; the
// handlers here check it again on the object Mesos' local authorizer
// names (docs/authorization.md): a framework's roles, a reservation's
// role or principal, a torn-down framework's principal, a task's user.

// allowed says whether the request's principal may do perm on object.
// Without a Guard (tests of the master alone) everything is allowed.
func (m *Master) allowed(r *http.Request, perm auth.Perm, object string) bool {
	if m.cfg.Guard == nil {
		return true
	}
	return m.cfg.Guard.AllowedCtx(r.Context(), perm, object)
}

// permit is allowed, answering 403 with Mesos' wording when not.
func (m *Master) permit(w http.ResponseWriter, r *http.Request, perm auth.Perm, object string) bool {
	if m.allowed(r, perm, object) {
		return true
	}
	p, _ := auth.From(r.Context())
	writeError(w, http.StatusForbidden, fmt.Sprintf("Forbidden: principal '%s' may not %s '%s'", p.Name, perm, object))
	return false
}

// authorizeSubscribe checks a SUBSCRIBE: the framework's principal is the
// caller's (a superuser may name another), the caller may register in
// every role of the framework, and a framework can only be taken over by
// its own principal. It fills in FrameworkInfo.principal when empty.
func (m *Master) authorizeSubscribe(r *http.Request, info *api.FrameworkInfo) (auth.Principal, error) {
	if m.cfg.Guard == nil {
		return auth.Principal{}, nil
	}
	p, _ := auth.From(r.Context())
	switch {
	case info.Principal == "":
		info.Principal = p.Name
	case info.Principal != p.Name && !p.Superuser:
		return p, fmt.Errorf("%w: framework principal '%s' does not match authenticated principal '%s'", ErrForbidden, info.Principal, p.Name)
	}
	for _, role := range info.AllRoles() {
		if !m.cfg.Guard.Allowed(p, auth.RegisterFrameworks, role) {
			return p, fmt.Errorf("%w: principal '%s' is not authorized to register frameworks in role '%s'", ErrForbidden, p.Name, role)
		}
	}
	if info.ID != nil && info.ID.Value != "" {
		m.mu.Lock()
		fw := m.frameworks[info.ID.Value]
		owner := ""
		internal := false
		if fw != nil {
			owner, internal = fw.info.Principal, fw.authz == nil
		}
		m.mu.Unlock()
		if fw != nil && (owner != info.Principal || internal && !fw.recovered) {
			return p, fmt.Errorf("%w: framework %s belongs to another principal", ErrForbidden, info.ID.Value)
		}
	}
	return p, nil
}

// mayRunAs says whether a framework's principal may launch a task as user
// (run_tasks; --root_submissions). Frameworks inside the master (the
// built-in Marathon) were checked when their apps were submitted.
func (m *Master) mayRunAsLocked(fw *framework, ti api.TaskInfo) error {
	if m.cfg.Guard == nil || fw.authz == nil {
		return nil
	}
	user := fw.info.User
	if ti.Command != nil && ti.Command.User != "" {
		user = ti.Command.User
	}
	if user == "" {
		user = "root"
	}
	if !m.cfg.Guard.Allowed(*fw.authz, auth.RunTasks, user) {
		//lint:ignore ST1005 Mesos' own TASK_ERROR message
		return fmt.Errorf("Not authorized to launch as user '%s'", user)
	}
	return mayRunUnconfined(*fw.authz, ti)
}

// permitOperation checks an operator endpoint's resources: reserve and
// create-volumes by role (and a reservation names the caller as its
// principal, as Mesos requires), unreserve by the reserver, destroy by the
// volume's creator.
func (m *Master) permitOperation(w http.ResponseWriter, r *http.Request, opType string, rs api.Resources) bool {
	p, _ := auth.From(r.Context())
	for _, res := range rs {
		role, principal := res.Role, ""
		if res.Reservation != nil {
			principal = res.Reservation.Principal
		}
		if n := len(res.Reservations); n > 0 {
			role, principal = res.Reservations[n-1].Role, res.Reservations[n-1].Principal
		}
		switch opType {
		case api.OperationReserve:
			if m.cfg.Guard != nil && principal != p.Name && !p.Superuser {
				writeError(w, http.StatusForbidden, fmt.Sprintf("Forbidden: the reservation's principal '%s' is not the authenticated principal '%s'", principal, p.Name))
				return false
			}
			if !m.permit(w, r, auth.ReserveResources, role) {
				return false
			}
		case api.OperationCreate:
			if !m.permit(w, r, auth.CreateVolumes, role) {
				return false
			}
		case api.OperationUnreserve:
			if !m.permit(w, r, auth.UnreserveResources, principal) {
				return false
			}
		case api.OperationDestroy:
			if !m.permit(w, r, auth.DestroyVolumes, principal) {
				return false
			}
		}
	}
	return true
}

// view decides what of the cluster's state a principal sees: Mesos'
// view_frameworks and view_tasks filter /state, /state-summary,
// /frameworks and /tasks instead of refusing them; a principal limited
// to app prefixes sees only the tasks of its apps (by MARATHON_APP_ID)
// and the frameworks that run them.
type view struct {
	m      *Master
	p      auth.Principal
	all    bool     // no filtering at all
	scoped []string // app prefixes; nil: not app-scoped
}

func (m *Master) viewOf(r *http.Request) view {
	if m.cfg.Guard == nil {
		return view{m: m, all: true}
	}
	p, _ := auth.From(r.Context())
	v := view{m: m, p: p, all: p.Superuser}
	if apps, ok := auth.AppScoped(r.Context()); ok {
		v.scoped, v.all = apps, false
	}
	return v
}

// taskApp is the Marathon app a task belongs to ("" for none).
func taskApp(t *task) string {
	if c := t.info.Command; c != nil && c.Environment != nil {
		for _, e := range c.Environment.Variables {
			if e.Name == "MARATHON_APP_ID" {
				return e.Value
			}
		}
	}
	return ""
}

func taskUser(fw *framework, t *task) string {
	if c := t.info.Command; c != nil && c.User != "" {
		return c.User
	}
	return fw.info.User
}

func (v view) task(fw *framework, t *task) bool {
	if v.all {
		return true
	}
	if v.scoped != nil {
		app := taskApp(t)
		return app != "" && auth.InPrefixes(app, v.scoped)
	}
	return v.m.cfg.Guard.Allowed(v.p, auth.ViewTasks, taskUser(fw, t))
}

func (v view) framework(fw *framework) bool {
	if v.all {
		return true
	}
	if v.scoped != nil {
		for _, t := range fw.tasks {
			if v.task(fw, t) {
				return true
			}
		}
		for _, t := range fw.completed {
			if v.task(fw, t) {
				return true
			}
		}
		return false
	}
	return v.m.cfg.Guard.Allowed(v.p, auth.ViewFrameworks, fw.info.User)
}

// tasks filters ts of fw.
func (v view) tasks(fw *framework, ts []*task) []*task {
	if v.all {
		return ts
	}
	out := make([]*task, 0, len(ts))
	for _, t := range ts {
		if v.task(fw, t) {
			out = append(out, t)
		}
	}
	return out
}

// sandboxVisible says whether a files API path on an agent lies in the
// sandbox of a task v may see (…/frameworks/<fw>/executors/<task>/…).
// Viewers that see everything may browse anywhere the agent serves.
func (v view) sandboxVisible(path string) bool {
	if v.all {
		return true
	}
	segs := strings.Split(path, "/")
	for i := 0; i+3 < len(segs); i++ {
		if segs[i] != "frameworks" || segs[i+2] != "executors" {
			continue
		}
		fwID, taskID := segs[i+1], segs[i+3]
		v.m.mu.Lock()
		defer v.m.mu.Unlock()
		fw := v.m.frameworks[fwID]
		if fw == nil {
			for _, c := range v.m.completedFw {
				if c.id == fwID {
					fw = c
				}
			}
		}
		if fw == nil {
			return false
		}
		if t := fw.tasks[taskID]; t != nil {
			return v.task(fw, t)
		}
		if t := fw.completedIdx[taskID]; t != nil {
			return v.task(fw, t)
		}
		return false
	}
	return false
}
