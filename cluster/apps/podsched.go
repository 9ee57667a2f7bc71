package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// Pod scheduling: each pod wants scaling.instances instances of its
// current version. An instance is launched as one LAUNCH_GROUP (one task
// per container, task id <instance id>.<container name>, executor
// instance-<instance id>) on an offer that holds all of its containers'
// resources and the executor's. When one of its tasks ends other than
// TASK_FINISHED the agent kills the others (the default executor's kill
// policy) and the framework kills them too; an instance whose tasks all
// ended is forgotten and replaced after the pod's backoff. Instances of
// an older version are killed once the current version's are all stable.
//
// etcd layout, next to the apps' (store.go):
//
//	pods/<id>                   the current definition of a pod
//	podversions/<id>/<version>  every stored version of a pod
//	podinstances/<instance id>  a launched instance, until all its tasks ended

const (
	prefixPods         = prefix + "pods/"
	prefixPodVersions  = prefix + "podversions/"
	prefixPodInstances = prefix + "podinstances/"
)

func podKey(id string) string           { return prefixPods + escapeID(id) }
func podVersionKey(id, v string) string { return prefixPodVersions + escapeID(id) + "/" + v }

// podTable is the pods and their instances (guarded by Apps.mu).
type podTable struct {
	pods      map[string]*podState
	instances map[string]*podInstance
}

// podState is a pod with what the scheduler keeps about it.
type podState struct {
	def         *Pod
	versions    []string
	backoff     time.Duration
	launchAfter time.Time
	since       time.Time // when the pod's status last changed
	lastStatus  string
	// terminations: the latest terminated instances (podterm.go).
	terminations []podTermination
}

// podInstance is one launched instance (persisted).
type podInstance struct {
	ID       string            `json:"id"`
	PodID    string            `json:"podId"`
	Version  string            `json:"version"`
	AgentID  string            `json:"agentId"`
	Host     string            `json:"host"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	StagedAt time.Time         `json:"stagedAt"`
	Killing  bool              `json:"killing,omitempty"`
	Tasks    []*podTask        `json:"tasks"`
	// Resources is what the instance uses (its containers' and the executor's).
	Resources  PodResources `json:"resources"`
	KillSentAt time.Time    `json:"-"`
	// Inactive: unreachable past the pod's inactiveAfterSeconds, so it no
	// longer counts (podstrategy.go); derived by each step.
	Inactive bool `json:"-"`
	// Draining: on a draining agent, so replaced as an instance of an old
	// version is (drain.go); derived by each step.
	Draining bool `json:"-"`
	// Ports are the host ports of the pod's endpoints, by endpoint name
	// (podendpoints.go).
	Ports map[string]int `json:"ports,omitempty"`
	// Reservation is the resident instance (reservation id) it runs on,
	// for a pod with persistent volumes (podresident.go).
	Reservation string `json:"reservation,omitempty"`
}

// podTask is one container's task of an instance.
type podTask struct {
	ID          string        `json:"id"`
	Container   string        `json:"container"`
	State       api.TaskState `json:"state"`
	Since       time.Time     `json:"since"`
	Updated     time.Time     `json:"updated"`
	Healthy     *bool         `json:"healthy,omitempty"`
	Checked     bool          `json:"checked,omitempty"`
	Message     string        `json:"message,omitempty"`
	ContainerID string        `json:"containerId,omitempty"`
	ExitCode    *int          `json:"exitCode,omitempty"`
	StartedAt   time.Time     `json:"startedAt,omitzero"` // first TASK_RUNNING
}

func (i *podInstance) ended() bool {
	for _, t := range i.Tasks {
		if !t.State.Terminal() && t.State != api.TaskLost && t.State != api.TaskUnknown {
			return false
		}
	}
	return true
}

// alive: counts as one of the pod's instances.
func (i *podInstance) alive() bool { return !i.Killing && !i.Inactive && !i.ended() }

// Instance statuses (types/podStatus.raml PodInstanceState).
const (
	instPending  = "PENDING"
	instStaging  = "STAGING"
	instStable   = "STABLE"
	instDegraded = "DEGRADED"
	instTerminal = "TERMINAL"
)

// instanceStatus aggregates an instance's task states: TERMINAL when
// every task ended, STABLE when every task runs (and is healthy where it
// has a health check), STAGING while one is still staging or starting
// and none failed, DEGRADED otherwise.
func instanceStatus(i *podInstance) string {
	if len(i.Tasks) == 0 {
		return instPending
	}
	running, staging, ended := 0, 0, 0
	for _, t := range i.Tasks {
		switch {
		case t.State == api.TaskRunning && (!t.Checked || t.Healthy != nil && *t.Healthy):
			running++
		case t.State == api.TaskStaging || t.State == api.TaskStarting:
			staging++
		case t.State.Terminal() || t.State == api.TaskLost || t.State == api.TaskUnknown:
			ended++
		}
	}
	switch {
	case ended == len(i.Tasks):
		return instTerminal
	case running == len(i.Tasks):
		return instStable
	case ended == 0 && staging > 0 && running+staging == len(i.Tasks):
		return instStaging
	}
	return instDegraded
}

// Pod statuses (types/podStatus.raml PodState).
const (
	podStable   = "STABLE"
	podDegraded = "DEGRADED"
	podTerminal = "TERMINAL"
)

// podStatusOf aggregates a pod's instances: STABLE when it has as many
// instances of its current version as it wants, all STABLE, and no other
// instance; TERMINAL when it wants none and has none; DEGRADED otherwise.
func podStatusOf(def *Pod, insts []*podInstance) string {
	want := def.instances()
	stable, other := 0, 0
	for _, i := range insts {
		if i.Version == def.Version && !i.Killing && instanceStatus(i) == instStable {
			stable++
		} else {
			other++
		}
	}
	switch {
	case want == 0 && len(insts) == 0:
		return podTerminal
	case stable == want && other == 0:
		return podStable
	}
	return podDegraded
}

// instancesOfLocked are a pod's instances, oldest first.
func (a *Apps) instancesOfLocked(podID string) []*podInstance {
	var out []*podInstance
	for _, i := range a.pods.instances {
		if i.PodID == podID {
			out = append(out, i)
		}
	}
	sort.Slice(out, func(x, y int) bool {
		if !out[x].StagedAt.Equal(out[y].StagedAt) {
			return out[x].StagedAt.Before(out[y].StagedAt)
		}
		return out[x].ID < out[y].ID
	})
	return out
}

// loadPods reads pods, their versions and instances.
func (a *Apps) loadPods(ctx context.Context) (podTable, error) {
	pt := podTable{pods: map[string]*podState{}, instances: map[string]*podInstance{}}
	defs, err := a.store.list(ctx, prefixPods)
	if err != nil {
		return pt, err
	}
	for k, v := range defs {
		var p Pod
		if err := json.Unmarshal(v, &p); err != nil {
			return pt, fmt.Errorf("decode %s: %w", k, err)
		}
		pt.pods[p.ID] = &podState{def: &p}
	}
	vs, err := a.store.list(ctx, prefixPodVersions)
	if err != nil {
		return pt, err
	}
	for k := range vs {
		esc, ver, ok := strings.Cut(strings.TrimPrefix(k, prefixPodVersions), "/")
		if st := pt.pods["/"+strings.ReplaceAll(esc, "_", "/")]; ok && st != nil {
			st.versions = append(st.versions, ver)
		}
	}
	for _, st := range pt.pods {
		sort.Strings(st.versions)
	}
	insts, err := a.store.list(ctx, prefixPodInstances)
	if err != nil {
		return pt, err
	}
	for k, v := range insts {
		var i podInstance
		if err := json.Unmarshal(v, &i); err != nil {
			return pt, fmt.Errorf("decode %s: %w", k, err)
		}
		pt.instances[i.ID] = &i
	}
	return pt, a.loadPodTerminations(ctx, pt) // podterm.go
}

// installPodsLocked installs loaded pods; their tasks are reconciled
// before anything launches or is killed.
func (a *Apps) installPodsLocked(pt podTable) {
	a.pods = pt
	for _, i := range pt.instances {
		for _, t := range i.Tasks {
			if !t.State.Terminal() {
				a.reconciling[t.ID] = true
			}
		}
	}
}

// podOfTask finds the instance and task of a pod task id.
func (a *Apps) podTaskLocked(id string) (*podInstance, *podTask) {
	k := strings.LastIndexByte(id, '.')
	if k < 0 {
		return nil, nil
	}
	i := a.pods.instances[id[:k]]
	if i == nil {
		return nil, nil
	}
	for _, t := range i.Tasks {
		if t.ID == id {
			return i, t
		}
	}
	return nil, nil
}

// podUpdateLocked applies a status update of a pod task; handled is
// false for any other task. The instance is persisted before the update
// is acknowledged.
func (a *Apps) podUpdateLocked(st api.TaskStatus) (handled bool, err error) {
	i, t := a.podTaskLocked(st.TaskID.Value)
	if i == nil {
		return false, nil
	}
	now := a.cfg.Now()
	old := *t
	if t.State != st.State {
		t.Since = now
	}
	t.State, t.Updated, t.Message = st.State, now, st.Message
	if st.State == api.TaskRunning && t.StartedAt.IsZero() {
		t.StartedAt = now
	}
	if st.Healthy != nil {
		t.Healthy = st.Healthy
	}
	if st.ExitCode != nil {
		t.ExitCode = st.ExitCode
	}
	if cs := st.ContainerStatus; cs != nil && cs.ContainerID != nil {
		t.ContainerID = cs.ContainerID.Value
	}
	gone := i.ended()
	if gone {
		err = a.instanceGoneLocked(i, now) // podterm.go
	} else if old.State != t.State || old.Healthy != t.Healthy {
		err = a.store.put(prefixPodInstances+i.ID, i)
	}
	if err == nil {
		err = a.podResidentStatusLocked(i, st) // podresident.go
	}
	if err != nil {
		*t = old
		return true, a.unackedLocked(t.ID, err)
	}
	if len(st.UUID) > 0 && st.AgentID != nil {
		_ = a.cfg.Scheduler.Acknowledge(a.sub, api.AcknowledgeCall{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID})
	}
	delete(a.reconciling, t.ID)
	if old.State != t.State {
		a.publishLocked("instance_changed_event", map[string]any{
			"instanceId": i.ID, "condition": condition(st.State), "runSpecId": i.PodID, "agentId": i.AgentID,
			"host": i.Host, "runSpecVersion": i.Version,
		})
	}
	failed := (st.State.Terminal() || st.State == api.TaskLost) && st.State != api.TaskFinished
	if failed && !i.Killing {
		// The instance failed: the rest of it goes (the agent does so too).
		if ps := a.pods.pods[i.PodID]; ps != nil && i.Version == ps.def.Version {
			ps.bumpBackoff(ps.def, now)
		}
		a.log.Info("pod instance failed", "pod_id", i.PodID, "instance_id", i.ID, "task_id", t.ID, "state", st.State, "message", st.Message)
		a.killInstanceLocked(i, now)
	}
	if gone {
		delete(a.pods.instances, i.ID)
		a.revive = true
	}
	return true, nil
}

func (s *podState) bumpBackoff(def *Pod, now time.Time) {
	b, f, maxd := 1.0, 1.15, 300.0
	if sc := def.Scheduling; sc != nil && sc.Backoff != nil {
		if sc.Backoff.Backoff != nil {
			b = *sc.Backoff.Backoff
		}
		if sc.Backoff.BackoffFactor != nil {
			f = *sc.Backoff.BackoffFactor
		}
		if sc.Backoff.MaxLaunchDelay != nil {
			maxd = *sc.Backoff.MaxLaunchDelay
		}
	}
	if s.backoff == 0 {
		s.backoff = seconds(b)
	} else {
		s.backoff = min(time.Duration(float64(s.backoff)*f), seconds(maxd))
	}
	s.launchAfter = now.Add(s.backoff)
}

// killInstanceLocked kills every task of an instance that has not ended.
func (a *Apps) killInstanceLocked(i *podInstance, now time.Time) {
	if !i.Killing {
		c := *i
		c.Killing = true
		if err := a.store.put(prefixPodInstances+i.ID, &c); err != nil {
			a.log.Warn("checkpoint pod instance kill; retried later", "instance_id", i.ID, "err", err)
			return
		}
		i.Killing = true
		a.log.Info("killing pod instance", "pod_id", i.PodID, "instance_id", i.ID)
	}
	i.KillSentAt = now
	var grace *api.KillPolicy
	if ps := a.pods.pods[i.PodID]; ps != nil {
		for _, c := range ps.def.Containers {
			if c.Lifecycle != nil && c.Lifecycle.KillGracePeriodSeconds != nil {
				grace = &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: int64(seconds(*c.Lifecycle.KillGracePeriodSeconds))}}
			}
		}
	}
	for _, t := range i.Tasks {
		if t.State.Terminal() {
			continue
		}
		kc := api.KillCall{TaskID: api.ID{Value: t.ID}, KillPolicy: grace}
		if i.AgentID != "" {
			kc.AgentID = &api.ID{Value: i.AgentID}
		}
		if err := a.cfg.Scheduler.Kill(a.sub, kc); err != nil {
			a.log.Warn("kill pod task", "task_id", t.ID, "err", err)
		}
	}
}

// podStepLocked kills what no pod wants and reports whether a pod waits
// for an instance to be launched.
func (a *Apps) podStepLocked(now time.Time, reconciled bool) bool {
	queued := false
	a.podUnreachableLocked(now) // podstrategy.go
	for _, i := range a.pods.instances {
		if i.Killing && !i.KillSentAt.IsZero() && now.Sub(i.KillSentAt) > killRetry {
			a.killInstanceLocked(i, now)
		}
	}
	if !reconciled {
		return false
	}
	for _, i := range a.pods.instances {
		if a.pods.pods[i.PodID] == nil && !i.Killing {
			a.killInstanceLocked(i, now)
		}
	}
	for _, id := range sortedKeys(a.pods.pods) {
		ps := a.pods.pods[id]
		insts := a.instancesOfLocked(id)
		status := podStatusOf(ps.def, insts)
		if status != ps.lastStatus {
			ps.lastStatus, ps.since = status, now
		}
		if status == podStable {
			ps.backoff = 0
		}
		// Scale down (the youngest first) and replace old versions as
		// scheduling.upgrade allows (podstrategy.go).
		launch, kill := podPlan(ps.def, insts)
		if launch > 0 {
			queued = true
		}
		for _, i := range kill {
			a.killInstanceLocked(i, now)
		}
	}
	return queued
}

// podsQueuedLocked: a pod waits for an instance.
func (a *Apps) podsQueuedLocked() bool {
	for id, ps := range a.pods.pods {
		if launch, _ := podPlan(ps.def, a.instancesOfLocked(id)); launch > 0 {
			return true
		}
	}
	return false
}

// placePodsLocked fills what is left of an offer (after the apps' tasks
// in infos) with pod instances, one LAUNCH_GROUP each.
func (a *Apps) placePodsLocked(o api.Offer, infos []api.TaskInfo, now time.Time) []api.Operation {
	left := o.Resources
	for _, ti := range infos {
		left = left.Subtract(ti.Resources)
	}
	attrs := offerAttrs(o)
	var ops []api.Operation
	for _, id := range sortedKeys(a.pods.pods) {
		ps := a.pods.pods[id]
		if now.Before(ps.launchAfter) || ps.def.resident() {
			continue // resident pods launch in residentOfferLocked (podresident.go)
		}
		def := ps.def
		var placed []*task // for constraints: instances as tasks
		insts := a.instancesOfLocked(id)
		for _, i := range insts {
			if i.alive() {
				placed = append(placed, &task{ID: i.ID, Host: i.Host, Attrs: i.Attrs, State: api.TaskRunning})
			}
		}
		cons := &App{Constraints: def.constraints()}
		launch, _ := podPlan(def, insts) // podstrategy.go
		for ; launch > 0; launch-- {
			if !meetsConstraints(cons, attrs, placed) {
				break
			}
			op, inst, need, ok := a.instanceLaunchLocked(def, o, podAcceptedPart(def, left), attrs, now) // roles.go
			if !ok {
				break
			}
			if err := a.store.put(prefixPodInstances+inst.ID, inst); err != nil {
				a.log.Warn("checkpoint pod instance before launch", "instance_id", inst.ID, "err", err)
				return ops
			}
			a.pods.instances[inst.ID] = inst
			left = left.Subtract(need)
			placed = append(placed, &task{ID: inst.ID, Host: inst.Host, Attrs: inst.Attrs, State: api.TaskStaging})
			ops = append(ops, op)
			a.log.Info("launching pod instance", "pod_id", id, "instance_id", inst.ID, "agent_id", inst.AgentID)
		}
	}
	return ops
}

// podResources picks cpus, mem and disk out of left (in the role they
// are offered in).
func podResources(left api.Resources, r PodResources) api.Resources {
	roleOf := func(name string) string {
		for _, x := range left {
			if x.Name == name {
				return x.Role
			}
		}
		return ""
	}
	var need api.Resources
	for _, s := range []struct {
		name string
		v    float64
	}{{"cpus", r.Cpus}, {"mem", r.Mem}, {"disk", r.Disk}} {
		if s.v > 0 {
			x := api.ScalarResource(s.name, s.v)
			x.Role = roleOf(s.name)
			need = append(need, x)
		}
	}
	return need
}

// instanceLaunchLocked builds one instance's LAUNCH_GROUP if it fits left.
func (a *Apps) instanceLaunchLocked(def *Pod, o api.Offer, left api.Resources, attrs map[string]string, now time.Time) (api.Operation, *podInstance, api.Resources, bool) {
	exec := podResources(left, *def.ExecutorResources)
	need := exec
	var parts []api.Resources
	for _, c := range def.Containers {
		r := podResources(left, c.Resources)
		parts = append(parts, r)
		need = need.Add(r)
	}
	if !left.Contains(need) {
		return api.Operation{}, nil, nil, false
	}
	ports, role, ok := pickEndpointPorts(def, left.Subtract(need)) // podendpoints.go
	if !ok {
		return api.Operation{}, nil, nil, false
	}
	need = need.Add(allPortsResource(def, ports, role))
	if !left.Contains(need) {
		return api.Operation{}, nil, nil, false
	}
	op, inst := a.groupLaunchLocked(def, o, attrs, now, exec, parts, ports, role)
	return op, inst, need, true
}

// groupLaunchLocked builds an instance and its LAUNCH_GROUP: the executor
// gets exec and container i parts[i] plus the host ports of its
// endpoints (in role).
func (a *Apps) groupLaunchLocked(def *Pod, o api.Offer, attrs map[string]string, now time.Time, exec api.Resources, parts []api.Resources, ports map[string]int, role string) (api.Operation, *podInstance) {
	total := *def.ExecutorResources
	for _, c := range def.Containers {
		total.Cpus += c.Resources.Cpus
		total.Mem += c.Resources.Mem
		total.Disk += c.Resources.Disk
	}
	inst := &podInstance{
		ID: strings.ReplaceAll(strings.TrimPrefix(def.ID, "/"), "/", "_") + ".instance-" + a.cfg.NewID(), PodID: def.ID, Version: def.Version,
		AgentID: o.AgentID.Value, Host: o.Hostname, Attrs: attrs, StagedAt: now, Resources: total, Ports: ports,
	}
	lg := &api.LaunchGroupOperation{Executor: api.ExecutorInfo{
		Type: api.ExecutorTypeDefault, ExecutorID: api.ID{Value: "instance-" + inst.ID}, Resources: exec,
	}}
	for i, c := range def.Containers {
		ti := podTaskInfo(def, c, inst, parts[i].Add(endpointPortsResource(c, ports, role)))
		lg.TaskGroup.Tasks = append(lg.TaskGroup.Tasks, ti)
		inst.Tasks = append(inst.Tasks, &podTask{ID: ti.TaskID.Value, Container: c.Name, State: api.TaskStaging, Since: now, Updated: now, Checked: ti.HealthCheck != nil})
	}
	return api.Operation{Type: api.OperationLaunchGroup, LaunchGroup: lg}, inst
}

// podTaskInfo is the TaskInfo of one container of an instance, with
// Marathon's pod environment.
func podTaskInfo(def *Pod, c PodContainer, inst *podInstance, res api.Resources) api.TaskInfo {
	env, secretVars := podEnv(def, c) // podsecrets.go
	env["MARATHON_APP_ID"] = def.ID
	env["MARATHON_APP_VERSION"] = def.Version
	env["MARATHON_CONTAINER_ID"] = c.Name
	env["MESOS_TASK_ID"] = inst.ID + "." + c.Name
	env["HOST"] = inst.Host
	endpointEnv(inst, env) // podendpoints.go
	env["MARATHON_CONTAINER_RESOURCE_CPUS"] = strconv.FormatFloat(c.Resources.Cpus, 'f', -1, 64)
	env["MARATHON_CONTAINER_RESOURCE_MEM"] = strconv.FormatFloat(c.Resources.Mem, 'f', -1, 64)
	env["MARATHON_CONTAINER_RESOURCE_DISK"] = strconv.FormatFloat(c.Resources.Disk, 'f', -1, 64)
	var labelNames []string
	for _, k := range sortedKeys(def.Labels) {
		n := envName(k)
		labelNames = append(labelNames, n)
		env["MARATHON_APP_LABEL_"+n] = def.Labels[k]
	}
	env["MARATHON_APP_LABELS"] = strings.Join(labelNames, " ")
	var vars []api.EnvVar
	for _, k := range sortedKeys(env) {
		vars = append(vars, api.EnvVar{Name: k, Value: env[k]})
	}
	vars = append(vars, secretVars...)
	cmd := &api.CommandInfo{Environment: &api.Environment{Variables: vars}, User: containerUser(def, c)} // podexec.go
	switch {
	case c.Exec != nil && c.Exec.Command.Shell != "":
		cmd.Value = c.Exec.Command.Shell
	case c.Exec != nil:
		cmd.Shell = new(bool)
		cmd.Value = argvValue(c) // podexec.go
		cmd.Arguments = c.Exec.Command.Argv
	default:
		cmd.Shell = new(bool) // the image's entrypoint
	}
	cmd.URIs = podArtifacts(c) // podartifacts.go
	ti := api.TaskInfo{
		Name: c.Name, TaskID: api.ID{Value: inst.ID + "." + c.Name}, AgentID: api.ID{Value: inst.AgentID},
		Resources: res, Command: cmd, Container: &api.ContainerInfo{Type: "MESOS"},
	}
	if c.Image != nil {
		ti.Container.Mesos = &api.MesosContainer{Image: &api.Image{Type: "DOCKER", Docker: &api.DockerImage{Name: c.Image.ID,
			Config: pullConfigSecret(c.Image.PullConfig, def.Secrets)}}}
		if c.Image.ForcePull {
			ti.Container.Mesos.Image.Cached = new(bool) // pulled again
		}
	}
	for _, m := range c.VolumeMounts {
		if v := podSecretVolume(def, m); v != nil {
			ti.Container.Volumes = append(ti.Container.Volumes, *v)
			continue
		}
		if v := podPersistentMount(def, m); v != nil { // podresident.go
			ti.Container.Volumes = append(ti.Container.Volumes, *v)
			continue
		}
		if v := podHostVolume(def, m); v != nil { // podvolumes.go
			ti.Container.Volumes = append(ti.Container.Volumes, *v)
			continue
		}
		mode := "RW"
		if m.ReadOnly {
			mode = "RO"
		}
		ti.Container.Volumes = append(ti.Container.Volumes, api.Volume{ContainerPath: m.MountPath, Mode: mode, Source: &api.VolumeSource{
			Type: api.VolumeSourceSandboxPath, SandboxPath: &api.SandboxPath{Type: api.SandboxPathParent, Path: "volumes/" + m.Name},
		}})
	}
	if l := c.Lifecycle; l != nil && l.KillGracePeriodSeconds != nil {
		ti.KillPolicy = &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: int64(seconds(*l.KillGracePeriodSeconds))}}
	}
	if len(c.Labels) > 0 {
		ti.Labels = &api.Labels{}
		for _, k := range sortedKeys(c.Labels) {
			ti.Labels.Labels = append(ti.Labels.Labels, api.Label{Key: k, Value: c.Labels[k]})
		}
	}
	if hc := c.HealthCheck; hc != nil && (hc.Exec != nil || endpointCheck(hc, inst) != nil) {
		// Marathon's pod health check defaults (types/healthCheck.raml).
		get := func(p *int, d int) int {
			if p != nil {
				return *p
			}
			return d
		}
		fails := get(hc.MaxConsecutiveFailures, 3)
		if fails == 0 {
			fails = neverKill
		}
		ti.HealthCheck = endpointCheck(hc, inst) // http and tcp: podendpoints.go
		if hc.Exec != nil {
			ti.HealthCheck = &api.HealthCheck{Type: "COMMAND", Command: &api.CommandInfo{Value: hc.Exec.Command.Shell}}
		}
		ti.HealthCheck.IntervalSeconds, ti.HealthCheck.TimeoutSeconds = float64(get(hc.IntervalSeconds, 60)), float64(get(hc.TimeoutSeconds, 20))
		ti.HealthCheck.GracePeriodSeconds, ti.HealthCheck.DelaySeconds = zeroAsTiny(get(hc.GracePeriodSeconds, 300)), zeroAsTiny(get(hc.DelaySeconds, 15))
		ti.HealthCheck.ConsecutiveFailures = fails
	}
	return ti
}

// podOps stores pod as the current definition and as a version.
func podOps(p *Pod) ([]clientv3.Op, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode pod %s: %w", p.ID, err)
	}
	return []clientv3.Op{clientv3.OpPut(podKey(p.ID), string(b)), clientv3.OpPut(podVersionKey(p.ID, p.Version), string(b))}, nil
}

// dropGroupLaunchLocked forgets the instance of a LAUNCH_GROUP whose
// ACCEPT failed.
func (a *Apps) dropGroupLaunchLocked(op api.Operation) {
	if op.LaunchGroup == nil || len(op.LaunchGroup.TaskGroup.Tasks) == 0 {
		return
	}
	if i, _ := a.podTaskLocked(op.LaunchGroup.TaskGroup.Tasks[0].TaskID.Value); i != nil {
		delete(a.pods.instances, i.ID)
		_ = a.store.del(prefixPodInstances + i.ID)
	}
}
