package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Deployments of several apps at once (bulk PUT/PATCH /v2/apps and
// /v2/groups): one version, one etcd transaction and one deployment whose
// steps follow the apps' dependencies. Marathon's DeploymentPlan
// (docs: rest-api deployments.raml) starts what an app depends on
// before the app, and stops an app before what it depends on; here the
// scheduler enforces that order (depsReadyLocked, stopWaitsLocked) and
// the steps show it.

// appChange is one app of a multi-app deployment: old nil creates it, app
// nil deletes it.
type appChange struct {
	old, app *App
}

func (c appChange) id() string {
	if c.app != nil {
		return c.app.ID
	}
	return c.old.ID
}

// errTooManyOps: the change does not fit one etcd transaction.
var errTooManyOps = errors.New("too many apps in one deployment")

// writeDeployError answers a failed multi-app deployment.
func writeDeployError(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooManyOps) {
		writeInvalid(w, []Detail{{Path: "/", Errors: []string{err.Error()}}})
		return
	}
	writeMessage(w, http.StatusServiceUnavailable, err.Error())
}

// defaultTxnOps is etcd's default --max-txn-ops, the budget of a
// deployment's transaction unless Config.MaxTxnOps says otherwise.
const defaultTxnOps = 128

// maxTxnBytes bounds the keys and values of one deployment's transaction:
// etcd refuses a request over its --max-request-bytes (default 1.5 MiB,
// left as is), less room for the request's framing.
const maxTxnBytes = 1536<<10 - 64<<10

// txnOps is how many operations one deployment's transaction may hold.
func (a *Apps) txnOps() int {
	if a.cfg.MaxTxnOps > 0 {
		return a.cfg.MaxTxnOps
	}
	return defaultTxnOps
}

// opsBytes is the size of ops' keys and values.
func opsBytes(ops []clientv3.Op) int {
	n := 0
	for _, o := range ops {
		n += len(o.KeyBytes()) + len(o.ValueBytes()) + len(o.RangeBytes())
	}
	return n
}

// deployManyLocked stores changes (apps whose definition did not change
// are left alone) with extra (group records) in one transaction, then
// applies them and apply. It returns the deployment; with no app
// changed, an empty deployment that is not tracked (already finished).
func (a *Apps) deployManyLocked(changes []appChange, extra []clientv3.Op, apply func()) (*Deployment, error) {
	return a.deployManyAtLocked(a.nextVersionLocked(), changes, nil, extra, apply, a.groupDepsLocked())
}

// deployManyAtLocked is deployManyLocked at version v, with the groups'
// dependencies as they will be (gd). stopPods are pods the change
// deletes (extra and apply delete them): the deployment affects them too
// and waits for their instances to end.
func (a *Apps) deployManyAtLocked(v string, changes []appChange, stopPods []string, extra []clientv3.Op, apply func(), gd map[string][]string) (*Deployment, error) {
	var real []appChange
	for _, c := range changes {
		if c.app != nil && c.old != nil && sameDefinition(c.old, c.app) {
			continue
		}
		real = append(real, c)
	}
	ops := slices.Clone(extra)
	// Version budget: the puts and deletes first, the old versions'
	// deletes with what is left (the rest are pruned by later writes).
	base := len(ops) + 1
	dropDeps := map[string]*Deployment{}
	for _, c := range real {
		base += 2
		if d := a.deploymentOfLocked(c.id()); d != nil {
			dropDeps[d.ID] = d
		}
	}
	for _, id := range stopPods {
		for _, d := range a.deployments {
			if slices.Contains(d.AffectedPods, id) {
				dropDeps[d.ID] = d
			}
		}
	}
	base += len(dropDeps)
	if limit := a.txnOps(); base > limit {
		return nil, fmt.Errorf("%w: %d apps need %d etcd operations, more than the limit of %d in one transaction; deploy fewer apps at once", errTooManyOps, len(real), base, limit)
	}
	budget := a.txnOps() - base
	kept := map[string][]string{}
	actions := map[string]string{}
	for _, c := range real {
		id := c.id()
		if c.app == nil {
			ops = append(ops, clientv3.OpDelete(appKey(id)), clientv3.OpDelete(prefixVersions+escapeID(id)+"/", clientv3.WithPrefix()))
			actions[id] = ActionStop
			continue
		}
		app := c.app
		app.Version = v
		action := ActionStart
		switch {
		case c.old != nil && onlyScaleDiffers(c.old, app):
			action = ActionScale
			app.VersionInfo = &VersionInfo{LastScalingAt: v, LastConfigChangeAt: c.old.VersionInfo.LastConfigChangeAt}
		case c.old != nil:
			action = ActionRestart
			app.VersionInfo = &VersionInfo{LastScalingAt: v, LastConfigChangeAt: v}
		default:
			app.VersionInfo = &VersionInfo{LastScalingAt: v, LastConfigChangeAt: v}
		}
		actions[id] = action
		var stored []string
		if st := a.apps[id]; st != nil {
			stored = st.versions
		}
		k, drop := splitVersions(append(slices.Clone(stored), v), a.cfg.MaxVersions)
		if len(drop) > budget {
			k, drop = append(slices.Clone(drop[budget:]), k...), drop[:budget]
		}
		budget -= len(drop)
		kept[id] = k
		o, err := appOps(app, v, drop)
		if err != nil {
			return nil, err
		}
		ops = append(ops, o...)
	}
	for _, id := range sortedKeys(dropDeps) {
		ops = append(ops, dropOp(dropDeps[id]))
	}
	d := a.planLocked(real, actions, v, gd)
	addPodStops(d, stopPods)
	tracked := len(real) > 0 || len(stopPods) > 0
	if tracked {
		op, err := deploymentOp(d)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if n := opsBytes(ops); n > maxTxnBytes {
		return nil, fmt.Errorf("%w: %d apps make %d bytes of etcd writes, more than the limit of %d in one transaction; deploy fewer apps at once", errTooManyOps, len(real), n, maxTxnBytes)
	}
	if err := a.store.commit(ops...); err != nil {
		return nil, err
	}
	for _, id := range sortedKeys(dropDeps) {
		a.dropDeploymentLocked(dropDeps[id])
	}
	for _, c := range real {
		id := c.id()
		if c.app == nil {
			a.dropAppStateLocked(id)
			a.dropAppReservationsLocked(id)
			a.log.Info("app deleted", "app_id", id)
			a.publishLocked("app_terminated_event", map[string]any{"appId": id})
			continue
		}
		st := a.apps[id]
		if st == nil {
			st = &appState{}
			a.setAppStateLocked(id, st)
		}
		if c.old == nil || c.app.VersionInfo.LastConfigChangeAt != c.old.VersionInfo.LastConfigChangeAt {
			st.backoff, st.launchAfter = 0, time.Time{}
		}
		st.def = c.app
		st.versions = kept[id]
	}
	if apply != nil {
		apply()
	}
	if tracked {
		a.recordDeploymentLocked(d)
	}
	return d, nil
}

// addPodStops adds the stops of pods (deleted with their group) to d: a
// first step of StopPod actions (pods have no dependencies), d affecting
// them.
func addPodStops(d *Deployment, pods []string) {
	if len(pods) == 0 {
		return
	}
	var s Step
	for _, id := range pods {
		s.Actions = append(s.Actions, Action{Action: actionStopPod, App: id, ReadinessCheckResults: []any{}})
	}
	d.AffectedPods = append(d.AffectedPods, pods...)
	d.Steps = append([]Step{s}, d.Steps...)
	d.TotalSteps = len(d.Steps)
	d.CurrentStep = 1
	d.CurrentActions = s.Actions
}

// sameDefinition: b is a with nothing changed (versions aside).
func sameDefinition(a, b *App) bool {
	return onlyScaleDiffers(a, b) && *a.Instances == *b.Instances
}

// planLocked builds the deployment of real: stops first, dependents
// before what they depend on; then the rest, dependencies first. Each
// step holds the apps of one dependency level.
func (a *Apps) planLocked(real []appChange, actions map[string]string, v string, gd map[string][]string) *Deployment {
	defs := map[string]*App{}
	for id, st := range a.apps {
		if st.def != nil {
			defs[id] = st.def
		}
	}
	var stops, starts []string
	originals := map[string]*App{}
	for _, c := range real {
		id := c.id()
		originals[id] = c.old
		if c.app == nil {
			stops = append(stops, id)
			defs[id] = c.old
		} else {
			starts = append(starts, id)
			defs[id] = c.app
		}
	}
	level := dependencyLevels(defs, gd)
	var steps []Step
	add := func(ids []string, reverse bool) {
		byLevel := map[int][]string{}
		var levels []int
		for _, id := range ids {
			l := level[id]
			if byLevel[l] == nil {
				levels = append(levels, l)
			}
			byLevel[l] = append(byLevel[l], id)
		}
		sort.Ints(levels)
		if reverse {
			slices.Reverse(levels)
		}
		for _, l := range levels {
			var s Step
			ids := byLevel[l]
			sort.Strings(ids)
			for _, id := range ids {
				s.Actions = append(s.Actions, Action{Action: actions[id], App: id, ReadinessCheckResults: []any{}})
			}
			steps = append(steps, s)
		}
	}
	add(stops, true)
	add(starts, false)
	affected := append(slices.Clone(stops), starts...)
	sort.Strings(affected)
	d := &Deployment{
		ID: a.cfg.NewID(), Version: v, AffectedApps: affected, AffectedPods: []string{},
		Steps: steps, CurrentStep: 1, TotalSteps: len(steps), Originals: originals,
	}
	if d.Steps == nil {
		d.Steps = []Step{}
	}
	if len(steps) > 0 {
		d.CurrentActions = steps[0].Actions
	} else {
		d.CurrentActions = []Action{}
		d.CurrentStep = 0
	}
	return d
}

// dependencyLevels gives each app 1 + the highest level of the apps it
// depends on (0 with none); apps on a cycle get the level reached when
// the cycle is cut.
func dependencyLevels(defs map[string]*App, groupDeps map[string][]string) map[string]int {
	level := map[string]int{}
	visiting := map[string]bool{}
	var visit func(id string) int
	visit = func(id string) int {
		if l, ok := level[id]; ok {
			return l
		}
		if visiting[id] {
			return 0
		}
		visiting[id] = true
		l := 0
		for _, dep := range expandDeps(defs[id], defs, groupDeps) {
			l = max(l, visit(dep)+1)
		}
		visiting[id] = false
		level[id] = l
		return l
	}
	for _, id := range sortedKeys(defs) {
		visit(id)
	}
	return level
}

// dependencyCycle names an app on a dependency cycle ("" when none).
func dependencyCycle(defs map[string]*App, groupDeps map[string][]string) string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var found string
	var visit func(id string) bool
	visit = func(id string) bool {
		switch color[id] {
		case grey:
			found = id
			return true
		case black:
			return false
		}
		color[id] = grey
		for _, dep := range expandDeps(defs[id], defs, groupDeps) {
			if visit(dep) {
				return true
			}
		}
		color[id] = black
		return false
	}
	for _, id := range sortedKeys(defs) {
		if visit(id) {
			return found
		}
	}
	return ""
}

// expandDeps are the apps def waits for: its own dependencies and those
// of the groups it is in, each an app or every app under a group.
func expandDeps(def *App, defs map[string]*App, groupDeps map[string][]string) []string {
	if def == nil {
		return nil
	}
	deps := slices.Clone(def.Dependencies)
	for g := parentOf(def.ID); ; g = parentOf(g) {
		deps = append(deps, groupDeps[g]...)
		if g == "/" {
			break
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, dep := range deps {
		for id := range defs {
			if id == def.ID || seen[id] {
				continue
			}
			if id == dep || dep == "/" || strings.HasPrefix(id, dep+"/") {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// parentOf is the group that holds id ("/" for a top-level id and "/").
func parentOf(id string) string {
	i := strings.LastIndex(id, "/")
	if i <= 0 {
		return "/"
	}
	return id[:i]
}

// depsReadyLocked: every app def waits for (expandDeps) has all its
// instances running and healthy, and is not being deployed except in
// def's own deployment, where it converged.
func (a *Apps) depsReadyLocked(def *App) bool {
	if len(def.Dependencies) == 0 && !a.groupHasDepsLocked(def.ID) {
		return true // the common case, without a pass over every app
	}
	defs := map[string]*App{}
	for id, st := range a.apps {
		if st.def != nil {
			defs[id] = st.def
		}
	}
	own := a.deploymentOfLocked(def.ID)
	for _, dep := range expandDeps(def, defs, a.groupDepsLocked()) {
		if d := a.deploymentOfLocked(dep); d != nil && d != own {
			return false
		}
		if !a.convergedLocked(dep) {
			return false
		}
	}
	return true
}

// stopWaitsLocked is the set of deleted apps whose tasks are not killed
// yet: a deleted app that another app of the same deployment depended on
// stops only once that app's tasks are gone.
func (a *Apps) stopWaitsLocked() map[string]bool {
	alive := map[string]bool{}
	for _, t := range a.tasks {
		if !t.State.Terminal() && a.apps[t.AppID] == nil {
			alive[t.AppID] = true
		}
	}
	if len(alive) == 0 {
		return nil
	}
	wait := map[string]bool{}
	gd := a.groupDepsLocked()
	for _, d := range a.deployments {
		if len(d.Originals) == 0 {
			continue
		}
		stopped := map[string]*App{}
		for id, old := range d.Originals {
			if old != nil && a.apps[id] == nil {
				stopped[id] = old
			}
		}
		for id := range stopped {
			if !alive[id] {
				continue
			}
			for _, dep := range expandDeps(stopped[id], stopped, gd) {
				wait[dep] = true
			}
		}
	}
	return wait
}

// rollbackManyLocked cancels a multi-app deployment: each app goes back
// to its definition before it (deleted when it had none), in a new
// deployment.
func (a *Apps) rollbackManyLocked(w http.ResponseWriter, d *Deployment) {
	var changes []appChange
	for _, id := range d.AffectedApps {
		var cur *App
		if st := a.apps[id]; st != nil {
			cur = st.def
		}
		orig := d.Originals[id]
		switch {
		case orig == nil && cur == nil:
		case orig == nil:
			changes = append(changes, appChange{old: cur})
		default:
			changes = append(changes, appChange{old: cur, app: orig.clone()})
		}
	}
	// The cancelled deployment is dropped in the new one's transaction
	// when it shares an app with it, on its own otherwise.
	nd, err := a.deployManyLocked(changes, nil, nil)
	if err != nil {
		writeDeployError(w, err)
		return
	}
	if _, tracked := a.deployments[d.ID]; tracked {
		if err := a.store.commit(dropOp(d)); err != nil {
			writeMessage(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		a.dropDeploymentLocked(d)
	}
	deployed(w, http.StatusOK, nd)
}

// versionAt is app id's newest stored version at or before v (nil: none).
func (a *Apps) versionAt(ctx context.Context, id string, versions []string, cur *App, v string) (*App, error) {
	best := ""
	for _, x := range versions {
		if x <= v && x > best {
			best = x
		}
	}
	switch {
	case best == "":
		return nil, nil
	case cur != nil && cur.Version == best:
		return cur, nil
	}
	m, err := a.store.list(ctx, versionKey(id, best))
	if err != nil {
		return nil, err
	}
	b, ok := m[versionKey(id, best)]
	if !ok {
		return nil, nil
	}
	var app App
	if err := json.Unmarshal(b, &app); err != nil {
		return nil, fmt.Errorf("decode %s: %w", versionKey(id, best), err)
	}
	app.normalize()
	return &app, nil
}

// currentStepLocked is the index of d's first step with an app that has
// not converged yet (0 for a one-step deployment).
func (a *Apps) currentStepLocked(d *Deployment) int {
	if len(d.Steps) < 2 {
		return 0
	}
	for i, s := range d.Steps {
		for _, act := range s.Actions {
			if !a.convergedLocked(act.App) {
				return i
			}
		}
	}
	return len(d.Steps) - 1
}
