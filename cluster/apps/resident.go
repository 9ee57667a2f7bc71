package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// Resident apps (https://mesosphere.github.io/marathon/docs/persistent-volumes.html): an app with persistent volumes
// (container.volumes[].persistent) keeps each instance on a dynamic
// reservation with its volumes, on one agent, for good.
//
// An instance is a reservation record (etcd: reservations/<instance id>):
//
//	(none) ──offer: RESERVE+CREATE+LAUNCH──▶ new ──task heard from agent──▶ confirmed
//	  ▲                                       │ no task within TaskReservationTimeout
//	  └──── record dropped (timeout, wipe, app deleted): DESTROY+UNRESERVE ◀┘ when offered
//
// While a task runs on it the instance is "launched"; when the task ends
// (kill, failure, scale-down) it is "suspended": the reservation and the
// volume stay, and the next launch of the app takes a suspended instance
// when its agent offers the reserved resources again. New reservations are
// made only while the app has fewer instances than it declares. The
// reservation carries the labels marathon_framework_id and
// marathon_task_id (the instance id): reserved resources with our
// framework id and an instance we do not know are garbage and are
// destroyed and unreserved when offered. Ports are not reserved; each
// launch takes them from the unreserved part of the offer.

// Reservation labels, as Marathon writes them.
const (
	labelFrameworkID = "marathon_framework_id"
	labelTaskID      = "marathon_task_id"
	// prefixReservations holds the resident instances.
	prefixReservations = prefix + "reservations/"
	// DefaultRole is the role the apps framework subscribes and reserves
	// in (Marathon's --mesos_role; "*" cannot be reserved for).
	DefaultRole = "marathon"
	// DefaultTaskReservationTimeout is Marathon's --task_reservation_timeout.
	DefaultTaskReservationTimeout = 20 * time.Second
)

// gcWindow is how long offers are revived after a reservation was
// dropped, so that its resources come back to be destroyed.
var gcWindow = 30 * time.Second

// PersistentVolume is a volume's "persistent" object (size in MiB).
type PersistentVolume struct {
	Type        string     `json:"type,omitempty"`
	Size        float64    `json:"size"`
	MaxSize     float64    `json:"maxSize,omitempty"`
	Constraints [][]string `json:"constraints,omitempty"`
}

// Residency is Marathon's deprecated residency object, filled in with its
// defaults for resident apps.
type Residency struct {
	RelaunchEscalationTimeoutSeconds int    `json:"relaunchEscalationTimeoutSeconds"`
	TaskLostBehavior                 string `json:"taskLostBehavior"`
}

// reservation is one resident instance.
type reservation struct {
	ID        string            `json:"id"` // instance id: the marathon_task_id label
	AppID     string            `json:"appId"`
	AgentID   string            `json:"agentId"`
	Host      string            `json:"host"`
	Attrs     map[string]string `json:"attrs,omitempty"`
	Resources api.Resources     `json:"resources"` // reserved, volumes created: what every launch uses
	Volumes   []localVolume     `json:"volumes"`
	TaskID    string            `json:"taskId,omitempty"` // the task last launched on it
	Confirmed bool              `json:"confirmed"`        // a task on it was heard of from the agent
	Deadline  time.Time         `json:"deadline"`         // an unconfirmed reservation is dropped after it
	// Pod: AppID is a pod's id and TaskID its instance's (podresident.go).
	Pod bool `json:"pod,omitempty"`
}

// localVolume is the task JSON's localVolumes entry.
type localVolume struct {
	RunSpecID     string `json:"runSpecId"`
	ContainerPath string `json:"containerPath"`
	PersistenceID string `json:"persistenceId"`
}

// resident reports whether the app has persistent volumes.
func (a *App) resident() bool { return len(a.persistentVolumes()) > 0 }

// persistentSpecs are the persistent objects of the app's volumes, in
// order.
func (a *App) persistentSpecs() []*PersistentVolume {
	var out []*PersistentVolume
	for _, v := range a.persistentVolumes() {
		out = append(out, v.Persistent)
	}
	return out
}

func (a *App) persistentVolumes() []Volume {
	if a.Container == nil {
		return nil
	}
	var out []Volume
	for _, v := range a.Container.Volumes {
		if v.Persistent != nil {
			out = append(out, v)
		}
	}
	return out
}

// normalizeResident sets the resident defaults; called by normalize
// before the general ones.
func (a *App) normalizeResident() {
	if !a.resident() {
		return
	}
	if a.UpgradeStrategy == nil {
		a.UpgradeStrategy = &UpgradeStrategy{MinimumHealthCapacity: 0.5, MaximumOverCapacity: 0}
	}
	if a.UnreachableStrategy == nil {
		a.UnreachableStrategy = &Unreachable{Disabled: true}
	}
	if a.Residency == nil {
		a.Residency = &Residency{RelaunchEscalationTimeoutSeconds: 3600, TaskLostBehavior: "WAIT_FOREVER"}
	}
	for i := range a.Container.Volumes {
		v := &a.Container.Volumes[i]
		if v.Persistent == nil {
			continue
		}
		if v.Mode == "" {
			v.Mode = "RW"
		}
		if v.Persistent.Type == "" {
			v.Persistent.Type = "root"
		}
	}
}

// validateResident returns the 422 details of persistent volumes and of
// what a resident app must keep.
func (a *App) validateResident() []Detail {
	var ds []Detail
	add := func(path string, msg ...string) { ds = append(ds, Detail{Path: path, Errors: msg}) }
	if a.Container == nil || !a.resident() {
		return nil
	}
	for i, v := range a.Container.Volumes {
		if v.Persistent == nil {
			continue
		}
		p := fmt.Sprintf("/container/volumes/%d", i)
		switch {
		case v.ContainerPath == "":
			add(p+"/containerPath", "must not be empty")
		case strings.Contains(v.ContainerPath, "/"):
			add(p+"/containerPath", `value must not contain "/"`)
		case v.ContainerPath == "." || v.ContainerPath == "..":
			add(p+"/containerPath", "must name a directory in the sandbox")
		}
		if v.Mode != "RW" {
			add(p+"/mode", "must be RW")
		}
		ds = append(ds, validatePersistent(p+"/persistent", v.Persistent)...)
	}
	if us := a.UpgradeStrategy; us != nil {
		if us.MaximumOverCapacity != 0 {
			add("/upgradeStrategy/maximumOverCapacity", fmt.Sprintf("got %g, expected 0 for resident apps (old instances are killed before new ones start)", us.MaximumOverCapacity))
		}
		if us.MinimumHealthCapacity > 0.5 {
			add("/upgradeStrategy/minimumHealthCapacity", fmt.Sprintf("got %g, expected at most 0.5 for resident apps", us.MinimumHealthCapacity))
		}
	}
	if u := a.UnreachableStrategy; u == nil || !u.Disabled {
		add("/unreachableStrategy", "unreachableStrategy must be disabled for resident tasks")
	}
	return ds
}

// validatePersistent returns the 422 details of a normalized persistent
// object (an app's or a pod's volume) at path p.
func validatePersistent(p string, pv *PersistentVolume) []Detail {
	var ds []Detail
	add := func(path string, msg ...string) { ds = append(ds, Detail{Path: path, Errors: msg}) }
	if !(pv.Size > 0) || math.IsInf(pv.Size, 0) {
		add(p+"/size", "must be greater than 0")
	}
	switch pv.Type {
	case "root", "path", "mount": // diskplace.go
	default:
		add(p+"/type", "must be one of root, path, mount")
	}
	if pv.MaxSize != 0 && pv.Type != "mount" {
		add(p+"/maxSize", "Only mount volumes can have maxSize")
	}
	if pv.MaxSize != 0 && !(pv.MaxSize >= pv.Size) {
		add(p+"/maxSize", "must be greater than or equal to size")
	}
	if len(pv.Constraints) > 0 && pv.Type == "root" {
		add(p+"/constraints", "Constraints on root volumes are not supported")
	} else if _, err := compileVolumeConstraints(pv.Constraints); err != nil {
		add(p+"/constraints", err.Error())
	}
	return ds
}

// residentChanges returns the 422 details of an update that changes what
// a resident app reserved: cpus, mem, disk and its persistent volumes.
func residentChanges(old, app *App) []Detail {
	if old == nil || !old.resident() && !app.resident() {
		return nil
	}
	var ds []Detail
	for _, f := range []struct {
		path     string
		was, now float64
	}{{"/cpus", *old.Cpus, *app.Cpus}, {"/mem", *old.Mem, *app.Mem}, {"/disk", *old.Disk, *app.Disk}} {
		if f.was != f.now {
			ds = append(ds, Detail{Path: f.path, Errors: []string{fmt.Sprintf("resident app resources cannot change (was %g)", f.was)}})
		}
	}
	key := func(a *App) string {
		var parts []string
		for _, v := range a.persistentVolumes() {
			parts = append(parts, fmt.Sprintf("%s:%g:%s", v.ContainerPath, v.Persistent.Size, v.Persistent.Type))
		}
		return strings.Join(parts, ",")
	}
	if key(old) != key(app) {
		ds = append(ds, Detail{Path: "/container/volumes", Errors: []string{"persistent volumes of a resident app cannot change (sizes, paths or count)"}})
	}
	return ds
}

// planResident is planFor for resident apps: never more live tasks than
// instances (each needs its reservation), and in a rolling restart old
// tasks are killed before new ones start, keeping at least
// ⌈minimumHealthCapacity×instances⌉ healthy unless that would block
// progress altogether (then one goes at a time).
func planResident(def *App, tasks []*task) plan {
	var alive, fresh, old []*task
	for _, t := range tasks {
		if !t.alive() {
			continue
		}
		alive = append(alive, t)
		if t.ConfigVersion == def.VersionInfo.LastConfigChangeAt {
			fresh = append(fresh, t)
		} else {
			old = append(old, t)
		}
	}
	n := *def.Instances
	var p plan
	if len(old) == 0 {
		if len(fresh) < n {
			return plan{launch: n - len(fresh)}
		}
		if extra := len(fresh) - n; extra > 0 {
			return plan{kill: killOrder(fresh, def.KillSelection)[:extra]}
		}
		return plan{}
	}
	p.launch = max(0, min(n-len(fresh), n-len(alive)))
	minHealthy := int(math.Ceil(def.UpgradeStrategy.MinimumHealthCapacity * float64(n)))
	if minHealthy >= n {
		minHealthy = max(0, n-1)
	}
	p.killOld(alive, old, fresh, n, minHealthy, def.KillSelection)
	return p
}

// residentOfferLocked handles the reserved part of an offer and the
// resident apps' launches. It returns the offer with only the unreserved
// resources nobody took (for the other apps) and the operations to send
// first: DESTROY/UNRESERVE of garbage, RESERVE/CREATE of new instances,
// and one LAUNCH of resident tasks.
func (a *Apps) residentOfferLocked(o api.Offer, now time.Time) (api.Offer, []api.Operation) {
	byInst := map[string]api.Resources{}
	var insts []string
	var left, static api.Resources
	for _, r := range o.Resources {
		d := r.Dynamic()
		switch {
		case d == nil && (r.Role == "" || r.Role == "*"):
			left = append(left, r)
		case d == nil:
			static = append(static, r) // statically reserved for the offer's role: for the other apps (roles.go)
		case d != nil && r.Label(labelFrameworkID) == a.frameworkID && a.frameworkID != "":
			inst := r.Label(labelTaskID)
			if _, ok := byInst[inst]; !ok {
				insts = append(insts, inst)
			}
			byInst[inst] = append(byInst[inst], r)
		}
		// Reservations of others (operators, other frameworks) are left alone.
	}
	sort.Strings(insts)
	var ops []api.Operation
	for _, inst := range insts {
		r := a.reservations[inst]
		if r != nil && a.reservationOwnedLocked(r) { // podresident.go
			continue
		}
		rs := byInst[inst]
		delete(byInst, inst)
		vols := rs.Volumes()
		plain := rs.Subtract(vols)
		for _, v := range vols {
			plain = plain.Add(api.Resources{v.WithoutVolume()})
		}
		if len(vols) > 0 {
			ops = append(ops, api.Operation{Type: api.OperationDestroy, Destroy: &api.VolumesOperation{Volumes: vols}})
		}
		ops = append(ops, api.Operation{Type: api.OperationUnreserve, Unreserve: &api.ResourcesOperation{Resources: plain}})
		a.log.Info("releasing a reservation no instance uses", "instance_id", inst, "agent_id", o.AgentID.Value)
	}
	o.Resources = left
	attrs := offerAttrs(o)
	var infos []api.TaskInfo
	for _, id := range a.appIDsLocked() {
		st := a.apps[id]
		if st.def == nil || !st.def.resident() || now.Before(st.launchAfter) {
			continue
		}
		p := planFor(st.def, a.tasksOfLocked(id))
		for range p.launch {
			ti, rops, ok := a.launchResidentLocked(st, &o, attrs, byInst, now)
			if !ok {
				break
			}
			ops = append(ops, rops...)
			infos = append(infos, ti)
		}
	}
	ops = append(ops, a.residentPodsOfferLocked(&o, attrs, byInst, now)...) // podresident.go
	if len(infos) > 0 {
		ops = append(ops, api.Operation{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: infos}})
	}
	o.Resources = append(o.Resources, static...)
	return o, ops
}

// launchResidentLocked launches one instance of a resident app from the
// offer: on a suspended reservation of this agent, or else (if the app
// has fewer instances than declared) on a new reservation, whose RESERVE
// and CREATE it returns.
func (a *Apps) launchResidentLocked(st *appState, o *api.Offer, attrs map[string]string, byInst map[string]api.Resources, now time.Time) (api.TaskInfo, []api.Operation, bool) {
	def := st.def
	var mine []*reservation
	for _, r := range a.reservationsOfLocked(def.ID) {
		mine = append(mine, r)
		if r.AgentID != o.AgentID.Value || a.reservationBusyLocked(r) || !byInst[r.ID].Contains(r.Resources) {
			continue
		}
		ports, ok := fitPorts(def, o.Resources)
		if !ok {
			return api.TaskInfo{}, nil, false
		}
		ti, ok := a.residentTaskLocked(st, r, o, ports, now)
		if !ok {
			return api.TaskInfo{}, nil, false
		}
		delete(byInst, r.ID)
		o.Resources = o.Resources.Subtract(ti.Resources) // the ports
		return ti, nil, true
	}
	if len(mine) >= *def.Instances || !meetsConstraints(def, attrs, a.tasksOfLocked(def.ID)) {
		return api.TaskInfo{}, nil, false
	}
	need, _, ok := fit(def, o.Resources)
	if !ok {
		return api.TaskInfo{}, nil, false
	}
	base := need.Filter(func(r api.Resource) bool { return r.Name != "ports" })
	picked, ok := pickVolumeDisks(def.persistentSpecs(), o.Resources.Subtract(base)) // diskplace.go: one disk per volume, in order
	if !ok {
		return api.TaskInfo{}, nil, false
	}
	volDisk := picked.Add(nil)
	if !o.Resources.Contains(base.Add(volDisk)) {
		return api.TaskInfo{}, nil, false
	}
	ports, ok := fitPorts(def, o.Resources.Subtract(base.Add(volDisk)))
	if !ok {
		return api.TaskInfo{}, nil, false
	}
	inst := taskPrefix(def.ID) + "." + a.cfg.NewID()
	labels := &api.Labels{Labels: []api.Label{{Key: labelFrameworkID, Value: a.frameworkID}, {Key: labelTaskID, Value: inst}}}
	reserved := base.Add(volDisk).Reserve(a.cfg.Role, a.cfg.Principal, labels)
	r := &reservation{ID: inst, AppID: def.ID, AgentID: o.AgentID.Value, Host: o.Hostname, Attrs: attrs,
		Deadline: now.Add(a.cfg.TaskReservationTimeout)}
	var vols api.Resources
	final := reserved
	for i, v := range def.persistentVolumes() {
		pid := taskPrefix(def.ID) + "#" + v.ContainerPath + "#" + a.cfg.NewID()
		d := api.Resources{picked[i]}.Reserve(a.cfg.Role, a.cfg.Principal, labels)[0]
		d.Disk = &api.DiskInfo{Persistence: &api.Persistence{ID: pid, Principal: a.cfg.Principal},
			Volume: &api.DiskVolume{ContainerPath: v.ContainerPath, Mode: api.VolumeRW}, Source: picked[i].Source()}
		vols = append(vols, d)
		final = final.Subtract(api.Resources{d.WithoutVolume()}).Add(api.Resources{d})
		r.Volumes = append(r.Volumes, localVolume{RunSpecID: def.ID, ContainerPath: v.ContainerPath, PersistenceID: pid})
	}
	r.Resources = final
	if err := a.store.put(prefixReservations+r.ID, r); err != nil {
		a.log.Warn("checkpoint reservation before reserving", "instance_id", r.ID, "err", err)
		return api.TaskInfo{}, nil, false
	}
	a.reservations[r.ID] = r
	ops := []api.Operation{{Type: api.OperationReserve, Reserve: &api.ResourcesOperation{Resources: reserved}}}
	if len(vols) > 0 {
		ops = append(ops, api.Operation{Type: api.OperationCreate, Create: &api.VolumesOperation{Volumes: vols}})
	}
	a.log.Info("reserving for a resident instance", "app_id", def.ID, "instance_id", r.ID, "agent_id", r.AgentID, "resources", final.String())
	ti, ok := a.residentTaskLocked(st, r, o, ports, now)
	if !ok {
		return api.TaskInfo{}, nil, false // the reservation times out unconfirmed
	}
	// What the reservation and the ports took is no longer free in the offer.
	o.Resources = o.Resources.Subtract(base.Add(volDisk)).Subtract(ti.Resources)
	return ti, ops, true
}

// fitPorts picks the app's host ports out of unreserved resources.
func fitPorts(def *App, left api.Resources) ([]int, bool) {
	d := *def
	zero := 0.0
	d.Cpus, d.Mem, d.Disk = &zero, &zero, &zero
	_, ports, ok := fit(&d, left)
	return ports, ok
}

// residentTaskLocked records a task launched on reservation r and
// returns its TaskInfo: the reserved resources plus the ports. The task
// and the reservation's new task id are persisted in one transaction
// before anything is launched; false when they could not be.
func (a *Apps) residentTaskLocked(st *appState, r *reservation, o *api.Offer, ports []int, now time.Time) (api.TaskInfo, bool) {
	def := st.def
	t := &task{
		ID: taskPrefix(def.ID) + "." + a.cfg.NewID(), AppID: def.ID, Version: def.Version,
		ConfigVersion: def.VersionInfo.LastConfigChangeAt, AgentID: o.AgentID.Value, Host: o.Hostname,
		Ports: ports, Attrs: r.Attrs, State: api.TaskStaging, StagedAt: now,
	}
	res := r.Resources
	if len(ports) > 0 {
		var rg []api.Range
		for _, p := range ports {
			rg = append(rg, api.Range{Begin: uint64(p), End: uint64(p)})
		}
		res = res.Add(api.Resources{api.RangesResource("ports", rg...)})
	}
	hcs := healthChecks(def, ports)
	t.HealthChecked = len(hcs) > 0
	nr := *r
	nr.TaskID = t.ID
	top, err := putOp(prefixTasks+t.ID, t)
	var rop clientv3.Op
	if err == nil {
		rop, err = putOp(prefixReservations+r.ID, &nr)
	}
	if err == nil {
		err = a.store.commit(top, rop)
	}
	if err != nil {
		a.log.Warn("checkpoint task before launch", "task_id", t.ID, "instance_id", r.ID, "err", err)
		return api.TaskInfo{}, false
	}
	a.addTaskLocked(t)
	r.TaskID = t.ID
	ti := taskInfo(def, t, res)
	if len(hcs) > 0 {
		ti.HealthCheck = &hcs[0]
		ti.MoreHealthChecks = hcs[1:]
	}
	a.log.Info("launching resident task", "app_id", def.ID, "task_id", t.ID, "instance_id", r.ID, "agent_id", t.AgentID)
	return ti, true
}

// reservationsOfLocked is an app's instances, oldest id first.
func (a *Apps) reservationsOfLocked(appID string) []*reservation {
	var out []*reservation
	for _, r := range a.reservations {
		if r.AppID == appID {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// reservationBusyLocked: a live task runs on r.
func (a *Apps) reservationBusyLocked(r *reservation) bool {
	if r.Pod {
		return a.podReservationBusyLocked(r) // podresident.go
	}
	t := a.tasks[r.TaskID]
	return t != nil && !t.State.Terminal()
}

func (a *Apps) reservationOfTaskLocked(taskID string) *reservation {
	for _, r := range a.reservations {
		if r.TaskID == taskID || r.ID == taskID {
			return r
		}
	}
	return nil
}

// residentStatusLocked confirms a reservation once the agent reports its
// task.
func (a *Apps) residentStatusLocked(st api.TaskStatus) error {
	if st.Source == api.SourceMaster {
		return nil
	}
	r := a.reservationOfTaskLocked(st.TaskID.Value)
	if r == nil || r.Confirmed {
		return nil
	}
	c := *r
	c.Confirmed = true
	if err := a.store.put(prefixReservations+r.ID, &c); err != nil {
		return fmt.Errorf("checkpoint reservation %s: %w", r.ID, err)
	}
	r.Confirmed = true
	return nil
}

// dropReservationLocked forgets an instance; its resources are destroyed
// and unreserved when next offered.
func (a *Apps) dropReservationLocked(r *reservation, why string) {
	if err := a.store.del(prefixReservations + r.ID); err != nil {
		a.log.Warn("forget reservation; retried later", "instance_id", r.ID, "err", err)
		return
	}
	delete(a.reservations, r.ID)
	a.gcUntil = a.cfg.Now().Add(gcWindow)
	a.revive = true
	a.log.Info("resident instance dropped", "app_id", r.AppID, "instance_id", r.ID, "agent_id", r.AgentID, "why", why)
}

// residentStepLocked drops reservations whose launch never came
// (--task_reservation_timeout) and says whether offers are still needed
// to release dropped ones.
func (a *Apps) residentStepLocked(now time.Time) bool {
	a.residentPodStepLocked() // podresident.go
	for _, id := range sortedKeys(a.reservations) {
		r := a.reservations[id]
		if !r.Confirmed && now.After(r.Deadline) && !a.reservationBusyLocked(r) {
			a.dropReservationLocked(r, "no task within the reservation timeout")
		}
	}
	return now.Before(a.gcUntil)
}

// dropAppReservationsLocked releases every instance of a deleted app.
func (a *Apps) dropAppReservationsLocked(appID string) {
	for _, r := range a.reservationsOfLocked(appID) {
		a.dropReservationLocked(r, "app deleted")
	}
}

// handleWipe serves DELETE /v2/apps/{id}/tasks/{taskId}?wipe=true: the
// instance's task is killed and its volume and reservation released, so
// that a fresh instance starts (anywhere, empty).
func (a *Apps) handleWipeLocked(w http.ResponseWriter, r *http.Request, st *appState, taskID string) {
	if isTrue(r, "scale") {
		writeMessage(w, http.StatusBadRequest, "You cannot use scale and wipe at the same time.")
		return
	}
	res := a.reservationOfTaskLocked(taskID)
	t := a.tasks[taskID]
	if res != nil && res.AppID != st.def.ID || res == nil && (t == nil || t.AppID != st.def.ID) {
		writeMessage(w, http.StatusNotFound, fmt.Sprintf("Task '%s' does not exist", taskID))
		return
	}
	var out map[string]any
	if t != nil {
		a.killLocked(t, a.cfg.Now())
		out = a.taskJSONLocked(t)
	}
	if res != nil {
		if out == nil {
			out = a.reservedJSONLocked(res)
		}
		if bt := a.tasks[res.TaskID]; bt != nil && bt != t {
			a.killLocked(bt, a.cfg.Now())
		}
		a.dropReservationLocked(res, "wiped")
	}
	writeJSON(w, http.StatusOK, map[string]any{"task": out})
}

// reservedJSONLocked is the task JSON of a suspended instance: reserved,
// waiting for its agent, no startedAt.
func (a *Apps) reservedJSONLocked(r *reservation) map[string]any {
	return map[string]any{
		"id": r.ID, "appId": r.AppID, "host": r.Host, "ports": []int{}, "servicePorts": []int{},
		"slaveId": r.AgentID, "state": "TASK_RESERVED", "stagedAt": nil, "startedAt": nil,
		"version": "", "healthCheckResults": []any{}, "ipAddresses": ipsOf(r.Host), "role": a.cfg.Role,
		"localVolumes": r.Volumes, "reservation": map[string]any{"state": "suspended", "agentId": r.AgentID},
	}
}

// suspendedJSONLocked lists an app's instances with no live task.
func (a *Apps) suspendedJSONLocked(appID string) []map[string]any {
	var out []map[string]any
	for _, r := range a.reservationsOfLocked(appID) {
		if !a.reservationBusyLocked(r) {
			out = append(out, a.reservedJSONLocked(r))
		}
	}
	return out
}

// residentTaskJSONLocked adds localVolumes to a resident task's JSON.
func (a *Apps) residentTaskJSONLocked(t *task, m map[string]any) {
	if r := a.reservationOfTaskLocked(t.ID); r != nil {
		m["localVolumes"] = r.Volumes
	}
}

// loadReservations reads the instances from etcd.
func (a *Apps) loadReservations(ctx context.Context) (map[string]*reservation, error) {
	out := map[string]*reservation{}
	kvs, err := a.store.list(ctx, prefixReservations)
	if err != nil {
		return nil, err
	}
	for k, v := range kvs {
		var r reservation
		if err := json.Unmarshal(v, &r); err != nil || r.ID == "" {
			a.log.Warn("skipping undecodable reservation", "key", k, "err", err)
			continue
		}
		out[r.ID] = &r
	}
	return out, nil
}
