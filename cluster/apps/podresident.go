package apps

import (
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// Resident pods (Marathon docs: "Persistent Volumes", its pod example,
// https://mesosphere.github.io/marathon/docs/persistent-volumes.html): a
// pod with volumes[].persistent keeps each instance on a dynamic
// reservation with its volumes on one agent, as resident apps do
// (resident.go), and shares their machinery: the reservation records
// (reservations/<id>, with pod set), the offer's reserved part
// (residentOfferLocked), garbage collection (DESTROY + UNRESERVE of
// reserved resources no record owns), the reservation timeout and disk
// placement (diskplace.go: root, path and mount volumes).
//
// A reservation holds the whole instance: the executor's and every
// container's cpus, mem and disk, and the volumes. Each launch is one
// LAUNCH_GROUP on it: the volumes are the executor's resources (their
// container path is the volume's name, as Marathon builds them), and a
// container mounting one gets a SANDBOX_PATH volume of type PARENT with
// that name at its mountPath, so that every container of the instance
// sees the same directory (runtime/taskgroup.go). Host ports of the
// endpoints come from the unreserved part of the offer at each launch.
//
// When the instance ends (failure, kill, agent restart) the reservation
// stays and the pod's next launch takes it when its agent offers the
// reserved resources again: same agent, same data. Scaling down drops the
// reservations beyond scaling.instances (suspended ones first, then those
// of the instances killed for it), and deleting the pod drops all of its
// reservations: their volumes are destroyed and resources unreserved when
// next offered (Marathon's Decommissioned goal).

// podPersistent is one persistent volume of a pod.
type podPersistent struct {
	name string
	pv   *PersistentVolume
}

// persistentVolumes are the pod's persistent volumes, in order, with
// type root by default (undecodable ones are left out; validate names
// them).
func (p *Pod) persistentVolumes() []podPersistent {
	var out []podPersistent
	for _, v := range p.Volumes {
		if len(v.Persistent) == 0 {
			continue
		}
		var pv PersistentVolume
		if strictDecode(v.Persistent, &pv) != nil {
			continue
		}
		if pv.Type == "" {
			pv.Type = "root"
		}
		out = append(out, podPersistent{name: v.Name, pv: &pv})
	}
	return out
}

// resident reports whether the pod has persistent volumes.
func (p *Pod) resident() bool {
	for _, v := range p.Volumes {
		if len(v.Persistent) > 0 {
			return true
		}
	}
	return false
}

func (p *Pod) persistentSpecs() []*PersistentVolume {
	var out []*PersistentVolume
	for _, v := range p.persistentVolumes() {
		out = append(out, v.pv)
	}
	return out
}

// validateResident returns the 422 details of the pod's persistent
// volumes and of what a resident pod must keep (Marathon's
// PodsValidation: resident pods cannot be over-provisioned and are not
// replaced when unreachable).
func (p *Pod) validateResident() []Detail {
	var ds []Detail
	add := func(at, msg string) { ds = append(ds, Detail{Path: at, Errors: []string{msg}}) }
	for i, v := range p.Volumes {
		if len(v.Persistent) == 0 {
			continue
		}
		at := fmt.Sprintf("/volumes/%d/persistent", i)
		if v.Host != "" || v.Secret != "" {
			add(fmt.Sprintf("/volumes/%d", i), "a volume is one of host, persistent and secret")
		}
		var pv PersistentVolume
		if err := strictDecode(v.Persistent, &pv); err != nil {
			add(at, "invalid persistent volume: "+err.Error())
			continue
		}
		if pv.Type == "" {
			pv.Type = "root"
		}
		ds = append(ds, validatePersistent(at, &pv)...) // resident.go
	}
	if !p.resident() {
		return ds
	}
	if _, maxOver, err := p.upgrade(); err == nil && maxOver != 0 {
		add("/scheduling/upgrade/maximumOverCapacity", fmt.Sprintf("got %g, expected 0 for pods with persistent volumes (old instances are killed before new ones start)", maxOver))
	}
	if u, err := p.unreachable(); err == nil && !u.Disabled {
		add("/scheduling/unreachableStrategy", "unreachableStrategy must be disabled for pods with persistent volumes")
	}
	return ds
}

// residentPodChanges returns the 422 details of an update that changes
// what a resident pod reserved: its containers' and executor's
// resources and its persistent volumes.
func residentPodChanges(old, p *Pod) []Detail {
	if old == nil || !old.resident() && !p.resident() {
		return nil
	}
	key := func(x *Pod) string {
		parts := []string{fmt.Sprintf("executor:%+v", *x.ExecutorResources)}
		for _, c := range x.Containers {
			parts = append(parts, fmt.Sprintf("%s:%g:%g:%g", c.Name, c.Resources.Cpus, c.Resources.Mem, c.Resources.Disk))
		}
		for _, v := range x.persistentVolumes() {
			parts = append(parts, fmt.Sprintf("%s:%g:%s:%g:%v", v.name, v.pv.Size, v.pv.Type, v.pv.MaxSize, v.pv.Constraints))
		}
		return strings.Join(parts, ",")
	}
	if key(old) == key(p) {
		return nil
	}
	return []Detail{{Path: "/containers", Errors: []string{"the reserved resources of a pod with persistent volumes cannot change (containers, their resources, executorResources and persistent volumes)"}}}
}

// podPersistentMount is the SANDBOX_PATH volume of mount m when it names
// a persistent volume of the pod: the executor's volume of that name.
func podPersistentMount(def *Pod, m PodVolumeMount) *api.Volume {
	for _, v := range def.Volumes {
		if v.Name != m.Name || len(v.Persistent) == 0 {
			continue
		}
		mode := "RW"
		if m.ReadOnly {
			mode = "RO"
		}
		return &api.Volume{ContainerPath: m.MountPath, Mode: mode, Source: &api.VolumeSource{
			Type: api.VolumeSourceSandboxPath, SandboxPath: &api.SandboxPath{Type: api.SandboxPathParent, Path: v.Name},
		}}
	}
	return nil
}

// reservationOwnedLocked: r's app or pod still exists.
func (a *Apps) reservationOwnedLocked(r *reservation) bool {
	if r.Pod {
		return a.pods.pods[r.AppID] != nil
	}
	return a.apps[r.AppID] != nil && a.apps[r.AppID].def != nil
}

// podReservationBusyLocked: an instance runs on pod reservation r.
func (a *Apps) podReservationBusyLocked(r *reservation) bool {
	return a.pods.instances[r.TaskID] != nil
}

// podReservationsLocked are a pod's reservations, oldest id first.
func (a *Apps) podReservationsLocked(podID string) []*reservation {
	var out []*reservation
	for _, r := range a.reservationsOfLocked(podID) {
		if r.Pod {
			out = append(out, r)
		}
	}
	return out
}

// residentPodsOfferLocked launches the resident pods' instances from an
// offer: o holds its unreserved resources (what is taken is removed) and
// byInst the reserved ones by reservation. It returns RESERVE and CREATE
// of new reservations and the LAUNCH_GROUPs.
func (a *Apps) residentPodsOfferLocked(o *api.Offer, attrs map[string]string, byInst map[string]api.Resources, now time.Time) []api.Operation {
	var ops []api.Operation
	for _, id := range sortedKeys(a.pods.pods) {
		ps := a.pods.pods[id]
		if !ps.def.resident() || now.Before(ps.launchAfter) {
			continue
		}
		launch, _ := podPlan(ps.def, a.instancesOfLocked(id))
		for ; launch > 0; launch-- {
			rops, ok := a.launchResidentPodLocked(ps.def, o, attrs, byInst, now)
			if !ok {
				break
			}
			ops = append(ops, rops...)
		}
	}
	return ops
}

// launchResidentPodLocked launches one instance of a resident pod: on a
// suspended reservation of this agent, or else (while the pod has fewer
// reservations than instances) on a new one, whose RESERVE and CREATE go
// first.
func (a *Apps) launchResidentPodLocked(def *Pod, o *api.Offer, attrs map[string]string, byInst map[string]api.Resources, now time.Time) ([]api.Operation, bool) {
	mine := a.podReservationsLocked(def.ID)
	for _, r := range mine {
		if r.AgentID != o.AgentID.Value || a.reservationBusyLocked(r) || !byInst[r.ID].Contains(r.Resources) {
			continue
		}
		op, ok := a.residentGroupLocked(def, r, o, now)
		if !ok {
			return nil, false
		}
		delete(byInst, r.ID)
		return []api.Operation{op}, true
	}
	var placed []*task
	for _, i := range a.instancesOfLocked(def.ID) {
		if i.alive() {
			placed = append(placed, &task{ID: i.ID, Host: i.Host, Attrs: i.Attrs, State: api.TaskRunning})
		}
	}
	if len(mine) >= def.instances() || !meetsConstraints(&App{Constraints: def.constraints()}, attrs, placed) {
		return nil, false
	}
	base := podResources(o.Resources, *def.ExecutorResources)
	for _, c := range def.Containers {
		base = base.Add(podResources(o.Resources, c.Resources))
	}
	if !o.Resources.Contains(base) {
		return nil, false
	}
	pvs := def.persistentVolumes()
	picked, ok := pickVolumeDisks(def.persistentSpecs(), o.Resources.Subtract(base)) // diskplace.go
	if !ok {
		return nil, false
	}
	volDisk := picked.Add(nil)
	if !o.Resources.Contains(base.Add(volDisk)) {
		return nil, false
	}
	if _, _, ok := pickEndpointPorts(def, o.Resources.Subtract(base.Add(volDisk))); !ok {
		return nil, false
	}
	prefix := strings.ReplaceAll(strings.TrimPrefix(def.ID, "/"), "/", "_")
	id := prefix + ".resident-" + a.cfg.NewID()
	labels := &api.Labels{Labels: []api.Label{{Key: labelFrameworkID, Value: a.frameworkID}, {Key: labelTaskID, Value: id}}}
	reserved := base.Add(volDisk).Reserve(a.cfg.Role, a.cfg.Principal, labels)
	r := &reservation{ID: id, AppID: def.ID, Pod: true, AgentID: o.AgentID.Value, Host: o.Hostname, Attrs: attrs,
		Deadline: now.Add(a.cfg.TaskReservationTimeout)}
	var vols api.Resources
	final := reserved
	for i, v := range pvs {
		pid := prefix + "#" + v.name + "#" + a.cfg.NewID()
		d := api.Resources{picked[i]}.Reserve(a.cfg.Role, a.cfg.Principal, labels)[0]
		d.Disk = &api.DiskInfo{Persistence: &api.Persistence{ID: pid, Principal: a.cfg.Principal},
			Volume: &api.DiskVolume{ContainerPath: v.name, Mode: api.VolumeRW}, Source: picked[i].Source()}
		vols = append(vols, d)
		final = final.Subtract(api.Resources{d.WithoutVolume()}).Add(api.Resources{d})
		r.Volumes = append(r.Volumes, localVolume{RunSpecID: def.ID, ContainerPath: v.name, PersistenceID: pid})
	}
	r.Resources = final
	if err := a.store.put(prefixReservations+r.ID, r); err != nil {
		a.log.Warn("checkpoint reservation before reserving", "instance_id", r.ID, "err", err)
		return nil, false
	}
	a.reservations[r.ID] = r
	ops := []api.Operation{{Type: api.OperationReserve, Reserve: &api.ResourcesOperation{Resources: reserved}}}
	if len(vols) > 0 {
		ops = append(ops, api.Operation{Type: api.OperationCreate, Create: &api.VolumesOperation{Volumes: vols}})
	}
	a.log.Info("reserving for a resident pod instance", "pod_id", def.ID, "reservation", r.ID, "agent_id", r.AgentID, "resources", final.String())
	o.Resources = o.Resources.Subtract(base.Add(volDisk))
	op, ok := a.residentGroupLocked(def, r, o, now)
	if !ok {
		return nil, false // the reservation times out unconfirmed
	}
	return append(ops, op), true
}

// residentGroupLocked launches an instance on reservation r: its
// resources are carved out of the reservation (the volumes go to the
// executor) and the endpoints' host ports out of o's unreserved ones. The
// instance and the reservation's new instance are persisted together
// before anything is launched.
func (a *Apps) residentGroupLocked(def *Pod, r *reservation, o *api.Offer, now time.Time) (api.Operation, bool) {
	vols := r.Resources.Volumes()
	var d *api.ReservationInfo
	for _, x := range r.Resources {
		if d = x.Dynamic(); d != nil {
			break
		}
	}
	if d == nil {
		return api.Operation{}, false
	}
	carve := func(pr PodResources) api.Resources {
		return podResources(nil, pr).Reserve(d.Role, d.Principal, d.Labels)
	}
	exec := carve(*def.ExecutorResources).Add(vols)
	sum := exec
	var parts []api.Resources
	for _, c := range def.Containers {
		p := carve(c.Resources)
		parts = append(parts, p)
		sum = sum.Add(p)
	}
	if !r.Resources.Contains(sum) {
		a.log.Warn("pod instance does not fit its reservation", "pod_id", def.ID, "reservation", r.ID, "need", sum.String(), "reserved", r.Resources.String())
		return api.Operation{}, false
	}
	ports, role, ok := pickEndpointPorts(def, o.Resources) // podendpoints.go
	if !ok {
		return api.Operation{}, false
	}
	op, inst := a.groupLaunchLocked(def, *o, r.Attrs, now, exec, parts, ports, role)
	inst.Reservation = r.ID
	nr := *r
	nr.TaskID = inst.ID
	iop, err := putOp(prefixPodInstances+inst.ID, inst)
	var rop clientv3.Op
	if err == nil {
		rop, err = putOp(prefixReservations+r.ID, &nr)
	}
	if err == nil {
		err = a.store.commit(iop, rop)
	}
	if err != nil {
		a.log.Warn("checkpoint pod instance before launch", "instance_id", inst.ID, "reservation", r.ID, "err", err)
		return api.Operation{}, false
	}
	a.pods.instances[inst.ID] = inst
	r.TaskID = inst.ID
	o.Resources = o.Resources.Subtract(allPortsResource(def, ports, role))
	a.log.Info("launching resident pod instance", "pod_id", def.ID, "instance_id", inst.ID, "reservation", r.ID, "agent_id", inst.AgentID)
	return op, true
}

// podResidentStatusLocked confirms an instance's reservation once the
// agent reports one of its tasks.
func (a *Apps) podResidentStatusLocked(i *podInstance, st api.TaskStatus) error {
	r := a.reservations[i.Reservation]
	if st.Source == api.SourceMaster || r == nil || r.Confirmed {
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

// wipePodInstanceLocked serves ?wipe=true of a pod instance kill: the
// instance's reservation is dropped with it, so that a fresh instance
// starts, anywhere, with empty volumes (as wipe does for resident apps).
func (a *Apps) wipePodInstanceLocked(i *podInstance) {
	if r := a.reservations[i.Reservation]; r != nil && r.Pod {
		a.dropReservationLocked(r, "wiped")
	}
}

// residentPodStepLocked drops the reservations no pod keeps: all of a
// deleted pod's, and those beyond a pod's scaling.instances (suspended
// ones first, then those whose instance is being killed).
func (a *Apps) residentPodStepLocked() {
	byPod := map[string][]*reservation{}
	for _, id := range sortedKeys(a.reservations) {
		if r := a.reservations[id]; r.Pod {
			byPod[r.AppID] = append(byPod[r.AppID], r)
		}
	}
	for _, podID := range sortedKeys(byPod) {
		rs := byPod[podID]
		ps := a.pods.pods[podID]
		if ps == nil {
			for _, r := range rs {
				a.dropReservationLocked(r, "pod deleted")
			}
			continue
		}
		excess := len(rs) - ps.def.instances()
		sort.SliceStable(rs, func(x, y int) bool { return !a.reservationBusyLocked(rs[x]) && a.reservationBusyLocked(rs[y]) })
		for _, r := range rs {
			if excess <= 0 {
				break
			}
			i := a.pods.instances[r.TaskID]
			if i == nil || i.Killing {
				a.dropReservationLocked(r, "pod scaled down")
				excess--
			}
		}
	}
}
