package apps

import (
	"crypto/rand"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"nodectl/cluster/api"
)

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// plan is what an app needs now: how many tasks to launch and which to kill.
type plan struct {
	launch int
	kill   []*task
}

// tasksOfLocked is the app's tasks, oldest first.
func (a *Apps) tasksOfLocked(appID string) []*task {
	of := a.tasksByApp[appID]
	out := make([]*task, 0, len(of))
	for _, t := range of {
		out = append(out, t)
	}
	sortTasks(out)
	return out
}

// addTaskLocked and removeTaskLocked keep a.tasks and its index by app
// (tasksOfLocked: the scheduler asks per app and per offer; scanning every
// task of every app each time made placement O(apps × tasks) per offer).
func (a *Apps) addTaskLocked(t *task) {
	if old, ok := a.tasks[t.ID]; ok && old.AppID != t.AppID {
		a.removeTaskLocked(t.ID)
	}
	a.tasks[t.ID] = t
	of := a.tasksByApp[t.AppID]
	if of == nil {
		of = map[string]*task{}
		a.tasksByApp[t.AppID] = of
	}
	of[t.ID] = t
}

func (a *Apps) removeTaskLocked(id string) {
	t, ok := a.tasks[id]
	if !ok {
		return
	}
	delete(a.tasks, id)
	if of := a.tasksByApp[t.AppID]; of != nil {
		delete(of, id)
		if len(of) == 0 {
			delete(a.tasksByApp, t.AppID)
		}
	}
}

// sortTasks orders tasks oldest first (then by id).
func sortTasks(ts []*task) {
	sort.Slice(ts, func(i, j int) bool {
		if !ts[i].StagedAt.Equal(ts[j].StagedAt) {
			return ts[i].StagedAt.Before(ts[j].StagedAt)
		}
		return ts[i].ID < ts[j].ID
	})
}

// planFor decides an app's next actions from its definition and tasks
// (def nil: the app was deleted, its tasks all go).
//
// With no task of an older config it is a scale: launch up to instances,
// kill the surplus by killSelection. Otherwise it is a rolling restart:
// at most instances+⌊maximumOverCapacity×instances⌋ tasks live at once and
// at least ⌈minimumHealthCapacity×instances⌉ healthy ones are kept (running,
// and reported healthy when the task has a health check).
func planFor(def *App, tasks []*task) plan {
	if def != nil && def.resident() {
		return planResident(def, tasks)
	}
	var alive, fresh, old []*task
	for _, t := range tasks {
		if !t.alive() {
			continue
		}
		alive = append(alive, t)
		if def != nil && t.ConfigVersion == def.VersionInfo.LastConfigChangeAt && !t.Draining {
			fresh = append(fresh, t)
		} else {
			old = append(old, t)
		}
	}
	if def == nil {
		return plan{kill: alive}
	}
	n := *def.Instances
	if len(old) == 0 {
		if len(fresh) < n {
			return plan{launch: n - len(fresh)}
		}
		extra := len(fresh) - n
		if extra == 0 {
			return plan{}
		}
		victims := killOrder(fresh, def.KillSelection)
		return plan{kill: victims[:extra]}
	}
	var p plan
	minHealthy := int(math.Ceil(def.UpgradeStrategy.MinimumHealthCapacity * float64(n)))
	over := int(math.Floor(def.UpgradeStrategy.MaximumOverCapacity * float64(n)))
	if minHealthy >= n && over == 0 {
		over = 1 // else nothing could ever move
	}
	if n == 0 {
		minHealthy = 0
	}
	launch := min(n-len(fresh), n+over-len(alive))
	if launch > 0 {
		p.launch = launch
	}
	p.killOld(alive, old, fresh, n, minHealthy, def.KillSelection)
	return p
}

// killOld adds to the plan the old tasks that can go while minHealthy
// tasks stay healthy (unhealthy old ones cost no health and go first), and
// the fresh tasks beyond n.
func (p *plan) killOld(alive, old, fresh []*task, n, minHealthy int, sel string) {
	healthy := 0
	for _, t := range alive {
		if t.healthy() {
			healthy++
		}
	}
	for _, t := range killOrder(old, sel) {
		switch {
		case !t.healthy():
			p.kill = append(p.kill, t)
		case healthy-1 >= minHealthy:
			p.kill = append(p.kill, t)
			healthy--
		}
	}
	if len(fresh) > n {
		p.kill = append(p.kill, killOrder(fresh, sel)[:len(fresh)-n]...)
	}
}

// killOrder sorts tasks (given oldest first) in the order killSelection
// takes them; tasks not healthy (or not running) yet go first either way:
// they serve nobody.
func killOrder(ts []*task, sel string) []*task {
	out := append([]*task(nil), ts...)
	if sel != OldestFirst {
		slices.Reverse(out)
	}
	sort.SliceStable(out, func(i, j int) bool { return !out[i].healthy() && out[j].healthy() })
	return out
}

// step kills what plans say, finishes deployments, and revives or
// suppresses offers.
func (a *Apps) step() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.subscribed {
		return
	}
	now := a.cfg.Now()
	reconciled := a.reconciledLocked(now)
	a.unreachableLocked(now)
	a.drainingLocked() // drain.go
	queued := false
	for _, id := range a.appIDsLocked() {
		st := a.apps[id]
		ts := a.tasksOfLocked(id) // grows with each task staged below
		p := planFor(st.def, ts)
		if reconciled {
			for _, t := range p.kill {
				a.killLocked(t, now)
			}
		}
		if p.launch > 0 {
			queued = true
			if st.queuedSince.IsZero() {
				st.queuedSince = now
			}
			if !st.launchAfter.IsZero() && !now.Before(st.launchAfter) {
				// The backoff is over: revive, which drops the filters of
				// the offers declined meanwhile, so the launch is not left
				// waiting for their refuse_seconds.
				st.launchAfter = time.Time{}
				a.revive = true
			}
		} else {
			st.queuedSince = time.Time{}
		}
	}
	if a.residentStepLocked(now) {
		queued = true // dropped reservations must come back in offers
	}
	if a.podStepLocked(now, reconciled) {
		queued = true // podsched.go
	}
	// Orphans: tasks of apps that no longer exist (after the tasks of
	// the deleted apps that depended on theirs).
	stopWaits := a.stopWaitsLocked()
	for _, t := range a.tasks {
		if a.apps[t.AppID] == nil && reconciled && !stopWaits[t.AppID] {
			a.killLocked(t, now)
		}
		if t.Killing && !t.KillSentAt.IsZero() && now.Sub(t.KillSentAt) > killRetry {
			a.sendKillLocked(t, now)
		}
	}
	a.finishDeploymentsLocked()
	switch {
	case queued && (a.suppressed || a.revive):
		if err := a.cfg.Scheduler.Revive(a.sub, nil); err == nil {
			a.suppressed, a.revive = false, false
		}
	case !queued && !a.suppressed && reconciled:
		if err := a.cfg.Scheduler.Suppress(a.sub, nil); err == nil {
			a.suppressed = true
		}
	}
}

// unreachableLocked applies each app's unreachableStrategy: a task
// unreachable for inactiveAfterSeconds stops counting (it is replaced);
// after expungeAfterSeconds it is forgotten, so that if it comes back it
// is killed as a task nobody knows. A disabled strategy waits forever.
func (a *Apps) unreachableLocked(now time.Time) {
	for id, t := range a.tasks {
		if t.UnreachableSince.IsZero() {
			continue
		}
		st := a.apps[t.AppID]
		if st == nil || st.def == nil || st.def.UnreachableStrategy == nil || st.def.UnreachableStrategy.Disabled {
			continue
		}
		u := st.def.UnreachableStrategy
		away := now.Sub(t.UnreachableSince)
		if !t.Inactive && away >= seconds(u.InactiveAfterSeconds) {
			t.Inactive = true
			a.revive = true
			a.log.Info("unreachable app task inactive; replacing it", "app_id", t.AppID, "task_id", id)
		}
		if away >= seconds(u.ExpungeAfterSeconds) {
			if err := a.store.del(prefixTasks + id); err != nil {
				a.log.Warn("expunge task; retried later", "task_id", id, "err", err)
				continue
			}
			a.removeTaskLocked(id)
			a.log.Info("unreachable app task expunged", "app_id", t.AppID, "task_id", id)
		}
	}
}

// reconciledLocked: every task we launched has been heard of since we
// subscribed, or the grace period is over. Until then nothing is launched
// or killed, so a leader change restarts nothing.
func (a *Apps) reconciledLocked(now time.Time) bool {
	if len(a.reconciling) == 0 {
		return true
	}
	if now.After(a.reconcileBy) {
		a.log.Warn("reconciliation incomplete; acting on what is known", "unanswered", len(a.reconciling))
		// Ask once more: agents still recovering at subscription time have
		// re-registered by now, and the master answers (TASK_GONE/LOST)
		// for a task it never heard of, e.g. one whose ACCEPT died with
		// the previous leader. Without it such a task would count as an
		// instance forever.
		var rts []api.ReconcileTask
		for _, id := range sortedKeys(a.reconciling) {
			rt := api.ReconcileTask{TaskID: api.ID{Value: id}}
			if t := a.tasks[id]; t != nil && t.AgentID != "" {
				rt.AgentID = &api.ID{Value: t.AgentID}
			}
			rts = append(rts, rt)
		}
		_ = a.cfg.Scheduler.Reconcile(a.sub, api.ReconcileCall{Tasks: rts})
		a.reconciling = map[string]bool{}
		return true
	}
	return false
}

// appIDsLocked is the apps' ids in order. The slice is shared until the
// apps change (it is then made again, never changed in place): callers
// must not change it. The Marathon loop's step and every listing walk it;
// sorting 10,000 ids anew each time was an eighth of the leader's CPU
// while apps were being made (a perf profile in make bench-scale).
func (a *Apps) appIDsLocked() []string {
	if a.appIDs == nil {
		a.appIDs = sortedKeys(a.apps)
	}
	return a.appIDs
}

// setAppStateLocked and dropAppStateLocked are the only writers of a.apps.
func (a *Apps) setAppStateLocked(id string, st *appState) {
	if _, ok := a.apps[id]; !ok {
		a.appIDs = nil
	}
	a.apps[id] = st
}

func (a *Apps) dropAppStateLocked(id string) {
	if _, ok := a.apps[id]; ok {
		a.appIDs = nil
	}
	delete(a.apps, id)
}

func (a *Apps) killLocked(t *task, now time.Time) {
	if t.Killing {
		return
	}
	c := t.clone()
	c.Killing = true
	if err := a.store.put(prefixTasks+t.ID, c); err != nil {
		a.log.Warn("checkpoint task kill; retried later", "task_id", t.ID, "err", err)
		return
	}
	t.Killing = true
	a.log.Info("killing app task", "app_id", t.AppID, "task_id", t.ID)
	a.sendKillLocked(t, now)
}

func (a *Apps) sendKillLocked(t *task, now time.Time) {
	t.KillSentAt = now
	kc := api.KillCall{TaskID: api.ID{Value: t.ID}}
	if t.AgentID != "" {
		kc.AgentID = &api.ID{Value: t.AgentID}
	}
	if st := a.apps[t.AppID]; st != nil && st.def != nil && st.def.TaskKillGracePeriodSeconds != nil {
		kc.KillPolicy = &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: int64(seconds(*st.def.TaskKillGracePeriodSeconds))}}
	}
	if err := a.cfg.Scheduler.Kill(a.sub, kc); err != nil {
		a.log.Warn("kill task", "task_id", t.ID, "err", err)
	}
}

// offersLocked launches what fits and declines the rest.
//
// The apps with instances to launch and the hosts known are found once
// for all the offers of an event (an app's queue only shrinks while its
// tasks are placed, and every offer's host is known from the start): a
// walk of every app and every task for each offer held the Marathon lock
// for 10–16 s when 1,000 agents offered at once to a leader with 10,000
// apps (make bench-scale), and every API call waited for it.
func (a *Apps) offersLocked(offers []api.Offer) {
	now := a.cfg.Now()
	reconciled := a.reconciledLocked(now)
	for _, o := range offers {
		for field, v := range offerAttrs(o) {
			if a.seen[field] == nil {
				a.seen[field] = map[string]time.Time{}
			}
			a.seen[field][v] = now
		}
	}
	queued := a.queuedAppsLocked()
	hosts := a.knownValuesLocked("hostname", now)
	for _, o := range offers {
		if a.maintenanceDeclineLocked(o, now) { // maintenance.go
			continue
		}
		var infos []api.TaskInfo
		var ops []api.Operation
		frameworkRole := a.offerRole(o) == a.cfg.Role // resident apps and pods run in it (roles.go)
		if reconciled {
			if frameworkRole {
				o, ops = a.residentOfferLocked(o, now)
			}
			infos = a.placeLocked(o, now, queued, hosts)
		}
		if len(infos) > 0 {
			ops = append(ops, api.Operation{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: infos}})
		}
		if reconciled && frameworkRole {
			ops = append(ops, a.placePodsLocked(o, infos, now)...) // podsched.go
		}
		if len(ops) == 0 {
			refuse := declineIdle
			if a.anyQueuedLocked(queued) {
				refuse = declineBusy
			}
			_ = a.cfg.Scheduler.Decline(a.sub, api.DeclineCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &refuse}})
			continue
		}
		refuse := 1.0
		err := a.cfg.Scheduler.Accept(a.sub, api.AcceptCall{
			OfferIDs:   []api.ID{o.ID},
			Operations: ops,
			Filters:    &api.Filters{RefuseSeconds: &refuse},
		})
		if err != nil {
			a.log.Warn("accept offer", "err", err)
			for _, op := range ops {
				a.dropGroupLaunchLocked(op) // podsched.go
				if op.Launch == nil {
					continue
				}
				for _, ti := range op.Launch.TaskInfos {
					a.removeTaskLocked(ti.TaskID.Value)
					_ = a.store.del(prefixTasks + ti.TaskID.Value)
				}
			}
		}
	}
}

// queuedAppsLocked is the ids, in order, of the apps with instances to
// launch.
func (a *Apps) queuedAppsLocked() []string {
	var ids []string
	for _, id := range a.appIDsLocked() {
		if planFor(a.apps[id].def, a.tasksOfLocked(id)).launch > 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

// anyQueuedLocked: an app of queued (queuedAppsLocked, earlier in the
// same hold of the lock) still has instances to launch, or a pod has.
func (a *Apps) anyQueuedLocked(queued []string) bool {
	for _, id := range queued {
		if st := a.apps[id]; st != nil && planFor(st.def, a.tasksOfLocked(id)).launch > 0 {
			return true
		}
	}
	return a.podsQueuedLocked()
}

// placeLocked fills one offer with the queued instances of the apps in
// queued (queuedAppsLocked), app by app; hosts are the hosts known. The
// tasks it places are checkpointed together before it returns them (one
// transaction per offer, batch.go); a task that could not be written is
// not launched.
func (a *Apps) placeLocked(o api.Offer, now time.Time, queued []string, hosts map[string]bool) []api.TaskInfo {
	left := o.Resources
	attrs := offerAttrs(o)
	var infos []api.TaskInfo
	var staged []stagedTask
	for _, id := range queued {
		st := a.apps[id]
		if st == nil || st.def == nil || st.def.resident() || now.Before(st.launchAfter) || !a.dependenciesReadyLocked(st.def) || !a.usableOffer(st.def, o) {
			continue // resident apps launch in residentOfferLocked
		}
		ts := a.tasksOfLocked(id) // grows with each task staged below
		p := planFor(st.def, ts)
		// Spread: with no constraints, at most ⌈tasks / hosts⌉ per host
		// while other hosts may still offer; relaxed once the app has
		// waited spreadPatience, so one full host cannot stall it.
		spread := len(st.def.Constraints) == 0 && len(hosts) > 1 && (st.queuedSince.IsZero() || now.Sub(st.queuedSince) < spreadPatience)
		target := p.launch
		for _, t := range ts {
			if t.alive() {
				target++
			}
		}
		for range p.launch {
			if !meetsConstraints(st.def, attrs, ts) {
				break
			}
			if spread && !underSpreadLimit(ts, "hostname", o.Hostname, target, len(hosts)) {
				break
			}
			if !a.groupsBalancedLocked(st.def, ts, attrs, target, now) {
				break
			}
			need, ports, ok := fit(st.def, acceptedPart(st.def, left)) // roles.go
			if !ok {
				break
			}
			left = left.Subtract(need)
			t := &task{
				ID: taskPrefix(id) + "." + a.cfg.NewID(), AppID: id, Version: st.def.Version,
				ConfigVersion: st.def.VersionInfo.LastConfigChangeAt, AgentID: o.AgentID.Value, Host: o.Hostname,
				Ports: ports, Attrs: attrs, State: api.TaskStaging, StagedAt: now,
			}
			hcs := healthChecks(st.def, ports)
			t.HealthChecked = len(hcs) > 0
			t.ReadinessChecked = len(st.def.ReadinessChecks) > 0
			op, err := putOp(prefixTasks+t.ID, t)
			if err != nil {
				a.log.Warn("checkpoint task before launch", "task_id", t.ID, "err", err)
				return a.commitStagedLocked(staged, infos)
			}
			a.addTaskLocked(t) // staged: committed below, before the ACCEPT
			ts = append(ts, t)
			ti := taskInfo(st.def, t, need)
			if len(hcs) > 0 {
				ti.HealthCheck = &hcs[0]
				ti.MoreHealthChecks = hcs[1:]
			}
			infos = append(infos, ti)
			staged = append(staged, stagedTask{t, op})
		}
	}
	return a.commitStagedLocked(staged, infos) // batch.go: one transaction for the offer
}

// dependenciesReadyLocked: every app def depends on that exists has
// finished its deployments with all its instances healthy, so apps start
// (and restart) after what they depend on.
func (a *Apps) dependenciesReadyLocked(def *App) bool {
	return a.depsReadyLocked(def) // its groups' dependencies too (deploymany.go)
}

// taskInfo builds the Mesos TaskInfo of an app task, with Marathon's
// task environment (https://mesosphere.github.io/marathon/docs/task-environment-vars.html).
func taskInfo(def *App, t *task, res api.Resources) api.TaskInfo {
	env := map[string]string{}
	for k, v := range def.Env {
		if s, ok := v.(string); ok {
			env[k] = s
		}
	}
	env["MARATHON_APP_ID"] = def.ID
	env["MARATHON_APP_VERSION"] = def.Version
	env["MESOS_TASK_ID"] = t.ID
	env["HOST"] = t.Host
	env["MARATHON_APP_RESOURCE_CPUS"] = strconv.FormatFloat(*def.Cpus, 'f', -1, 64)
	env["MARATHON_APP_RESOURCE_MEM"] = strconv.FormatFloat(*def.Mem, 'f', -1, 64)
	env["MARATHON_APP_RESOURCE_DISK"] = strconv.FormatFloat(*def.Disk, 'f', -1, 64)
	env["MARATHON_APP_RESOURCE_GPUS"] = strconv.Itoa(def.Gpus)
	var labelNames []string
	for _, k := range sortedKeys(def.Labels) {
		n := envName(k)
		labelNames = append(labelNames, n)
		env["MARATHON_APP_LABEL_"+n] = def.Labels[k]
	}
	env["MARATHON_APP_LABELS"] = strings.Join(labelNames, " ")
	if def.Container != nil && def.Container.Docker != nil {
		env["MARATHON_APP_DOCKER_IMAGE"] = def.Container.Docker.Image
	}
	var ports []string
	portDefs := def.hostPortDefs()
	for i, p := range t.Ports {
		ps := strconv.Itoa(p)
		ports = append(ports, ps)
		env["PORT"+strconv.Itoa(i)] = ps
		if i < len(portDefs) && portDefs[i].Name != "" {
			name := portDefs[i].Name
			env["PORT_"+envName(name)] = ps
		}
	}
	if len(t.Ports) > 0 {
		env["PORT"] = ports[0]
		env["PORTS"] = strings.Join(ports, ",")
	}
	var vars []api.EnvVar
	for _, k := range sortedKeys(env) {
		vars = append(vars, api.EnvVar{Name: k, Value: env[k]})
	}
	vars = append(vars, secretEnv(def)...)
	cmd := &api.CommandInfo{Environment: &api.Environment{Variables: vars}, User: def.User}
	switch {
	case def.Cmd != "":
		cmd.Value = def.Cmd
	case len(def.Args) > 0:
		cmd.Shell = new(bool)
		cmd.Arguments = def.Args
		cmd.Value = argsValue(def)
	default:
		cmd.Shell = new(bool) // the image's entrypoint
	}
	for _, f := range def.Fetch {
		cmd.URIs = append(cmd.URIs, api.CommandURI{Value: f.URI, Executable: f.Executable, Extract: f.Extract, Cache: f.Cache, OutputFile: f.DestPath})
	}
	ti := api.TaskInfo{
		Name: taskName(def.ID), TaskID: api.ID{Value: t.ID},
		AgentID: api.ID{Value: t.AgentID}, Resources: res, Command: cmd,
		Discovery: discoveryInfo(def, t.Ports), // discovery.go
	}
	if c := def.Container; c != nil {
		ci := &api.ContainerInfo{Type: "MESOS"}
		if c.Docker != nil && c.Docker.Image != "" {
			ci.Mesos = &api.MesosContainer{Image: dockerImage(c.Docker)}
			ci.Mesos.Image.Docker.Config = pullConfigSecret(c.Docker.PullConfig, def.Secrets) // pullconfig.go
		}
		for _, v := range c.Volumes {
			if v.Secret != "" {
				ci.Volumes = append(ci.Volumes, secretVolume(def, v))
				continue
			}
			ci.Volumes = append(ci.Volumes, api.Volume{ContainerPath: v.ContainerPath, HostPath: v.HostPath, Mode: v.Mode})
		}
		ci.LinuxInfo = c.linuxInfo()
		ci.NetworkInfos = networkInfos(def, t.Ports) // network.go
		ti.Container = ci
	}
	if g := def.TaskKillGracePeriodSeconds; g != nil {
		ti.KillPolicy = &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: int64(seconds(*g))}}
	}
	if len(def.Labels) > 0 {
		ti.Labels = &api.Labels{}
		for _, k := range sortedKeys(def.Labels) {
			ti.Labels.Labels = append(ti.Labels.Labels, api.Label{Key: k, Value: def.Labels[k]})
		}
	}
	return ti
}

// healthChecks translates the app's health checks into the Mesos ones
// the agent runs next to the task, in order (a check whose port cannot be
// resolved is left out). Marathon-run (HTTP, HTTPS, TCP, COMMAND) and
// MESOS_* protocols both become agent-run checks; portIndex picks from the
// task's host ports. The Mesos protocol reads 0 as "default", so an
// explicit zero delay or grace period goes as a millisecond.
func healthChecks(def *App, ports []int) []api.HealthCheck {
	var out []api.HealthCheck
	for _, h := range def.HealthChecks {
		if hc := healthCheck(h, ports); hc != nil {
			out = append(out, *hc)
		}
	}
	return out
}

// zeroAsTiny keeps an explicit 0 from reading as "default" on the wire.
func zeroAsTiny(v int) float64 {
	if v <= 0 {
		return 0.001
	}
	return float64(v)
}

// neverKill is consecutive_failures for maxConsecutiveFailures 0: Marathon
// then never kills the task for its health.
const neverKill = 1 << 30

func healthCheck(h HealthCheck, ports []int) *api.HealthCheck {
	out := &api.HealthCheck{
		IntervalSeconds: float64(h.IntervalSeconds), TimeoutSeconds: float64(h.TimeoutSeconds),
		ConsecutiveFailures: h.MaxConsecutiveFailures, GracePeriodSeconds: zeroAsTiny(h.GracePeriodSeconds),
		// Marathon starts its own checks at once; delaySeconds is for MESOS_* ones.
		DelaySeconds: zeroAsTiny(0),
	}
	if strings.HasPrefix(h.Protocol, "MESOS_") {
		out.DelaySeconds = zeroAsTiny(h.DelaySeconds)
	}
	if h.MaxConsecutiveFailures == 0 {
		out.ConsecutiveFailures = neverKill
	}
	port := func() (uint32, bool) {
		if h.Port != nil && *h.Port > 0 {
			return uint32(*h.Port), true
		}
		i := 0
		if h.PortIndex != nil {
			i = *h.PortIndex
		}
		if i < 0 || i >= len(ports) {
			return 0, false
		}
		return uint32(ports[i]), true
	}
	switch h.Protocol {
	case "COMMAND":
		if h.Command == nil {
			return nil
		}
		out.Type = "COMMAND"
		out.Command = &api.CommandInfo{Value: h.Command.Value}
	case "TCP", "MESOS_TCP":
		p, ok := port()
		if !ok {
			return nil
		}
		out.Type = "TCP"
		out.TCP = &api.TCPCheck{Port: p}
	default: // HTTP, HTTPS, MESOS_HTTP, MESOS_HTTPS
		p, ok := port()
		if !ok {
			return nil
		}
		scheme := "http"
		out.Type = "HTTP"
		if strings.HasSuffix(h.Protocol, "HTTPS") {
			out.Type, scheme = "HTTPS", "https"
		}
		path := h.Path
		if path == "" {
			path = "/"
		}
		out.HTTP = &api.HTTPCheck{Port: p, Path: path, Scheme: scheme}
	}
	return out
}

// envName upper-cases a name and maps what a shell variable cannot hold to "_".
func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
