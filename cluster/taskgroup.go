package cluster

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"nodectl/cluster/api"
)

// LAUNCH_GROUP (Mesos Offer.Operation.LaunchGroup): every task of the
// group is validated and must fit the offers together, or none of them is
// launched (each gets TASK_ERROR, as Mesos' master answers an invalid task
// group). The agent gets one LAUNCH per task, each naming the group, and
// runs them under one executor (runtime/taskgroup.go). The executor's own
// resources are added to the group's need, as Mesos accounts them.

// launchedTasks are the tasks an operation launches.
func launchedTasks(op api.Operation) []api.TaskInfo {
	switch {
	case op.Launch != nil:
		return op.Launch.TaskInfos
	case op.LaunchGroup != nil:
		return op.LaunchGroup.TaskGroup.Tasks
	}
	return nil
}

// launchGroupLocked launches one task group from avail (by role).
func (m *Master) launchGroupLocked(fw *framework, a *agent, avail map[string]api.Resources, roles []string, lg *api.LaunchGroupOperation, batch map[string]bool, secrets map[string]resolved, now time.Time) {
	tasks := lg.TaskGroup.Tasks
	failAll := func(state api.TaskState, reason, msg string) {
		for _, ti := range tasks {
			m.dropLaunchLocked(fw, ti, state, reason, msg)
		}
	}
	exec := lg.Executor
	switch {
	case len(tasks) == 0:
		m.log.Warn("LAUNCH_GROUP without tasks dropped", "framework_id", fw.id)
		return
	case exec.ExecutorID.Value == "":
		failAll(api.TaskError, api.ReasonTaskGroupInvalid, "Task group executor has no executor_id")
		return
	case exec.Type != "" && exec.Type != api.ExecutorTypeDefault:
		failAll(api.TaskError, api.ReasonTaskGroupInvalid, fmt.Sprintf("Executor type %q is not supported (only DEFAULT)", exec.Type))
		return
	case validateID(exec.ExecutorID.Value) != nil:
		failAll(api.TaskError, api.ReasonTaskGroupInvalid, "Task group executor id is invalid: "+validateID(exec.ExecutorID.Value).Error())
		return
	}
	var valid []api.TaskInfo
	local := map[string]bool{}
	for id := range batch {
		local[id] = true
	}
	need := exec.Resources
	group := &api.GroupLaunch{Executor: exec}
	for _, ti := range tasks {
		v, err := validateTask(ti, fw, a, local)
		if err == nil {
			err = m.validateTaskNetworks(v) // ipam.go
		}
		if err == nil {
			err = m.mayRunAsLocked(fw, v)
		}
		if err != nil {
			failAll(api.TaskError, api.ReasonTaskGroupInvalid, "Task group is invalid: "+err.Error())
			return
		}
		if err := m.maySeeSecretsLocked(fw, v); err != nil {
			failAll(api.TaskError, api.ReasonTaskUnauthorized, "Task group is invalid: "+err.Error())
			return
		}
		if r, ok := secrets[v.TaskID.Value]; ok && r.err != nil {
			failAll(api.TaskError, api.ReasonTaskInvalid, secretRefusal(r.err))
			return
		}
		local[v.TaskID.Value] = true
		need = need.Add(v.Resources)
		valid = append(valid, v)
		group.TaskIDs = append(group.TaskIDs, v.TaskID)
	}
	role := ""
	for _, r := range roles {
		if avail[r].Contains(need) {
			role = r
			break
		}
	}
	if role == "" {
		failAll(api.TaskError, api.ReasonTaskGroupInvalid, fmt.Sprintf("Task group uses more resources (%s) than the offers have left", need))
		return
	}
	// The allocator is told of each task's resources (the executor's go
	// with the first task), so they come back as each task ends.
	for i, ti := range valid {
		res := ti.Resources
		if i == 0 {
			res = res.Add(exec.Resources)
			ti.Resources = res
			valid[i] = ti
		}
		if err := m.alloc.Allocated(fw.id, a.Info.ID, role, res); err != nil {
			m.log.Error("allocator refused an accepted offer's resources", "framework_id", fw.id, "agent_id", a.Info.ID, "err", err)
			for _, rest := range valid[i:] {
				m.dropLaunchLocked(fw, rest, fw.lostState(api.TaskDropped), api.ReasonResourcesUnknown, err.Error())
			}
			return
		}
		avail[role] = avail[role].Subtract(res)
	}
	for _, ti := range valid {
		batch[ti.TaskID.Value] = true
		wire := ti
		if r, ok := secrets[ti.TaskID.Value]; ok {
			wire = r.wire                                           // resolved secrets: sent, never kept
			wire.Resources, wire.AgentID = ti.Resources, ti.AgentID // as validated
		}
		m.launchLocked(fw, a, role, ti, wire, group, now)
	}
}

// validateVolumeSource accepts no source (a host path), a SECRET (checked
// with the task's other secrets) or a SANDBOX_PATH of type PARENT: a
// relative path in the executor's sandbox.
func validateVolumeSource(v api.Volume) error {
	src := v.Source
	if src == nil || src.Type == api.VolumeTypeSecret {
		return nil
	}
	if src.Type != api.VolumeSourceSandboxPath || src.SandboxPath == nil {
		return fmt.Errorf("volume %s: source type %q is not supported (only SECRET and SANDBOX_PATH)", v.ContainerPath, src.Type)
	}
	sp := src.SandboxPath
	if sp.Type != api.SandboxPathParent {
		return fmt.Errorf("volume %s: sandbox_path type %q is not supported (only PARENT)", v.ContainerPath, sp.Type)
	}
	if sp.Path == "" || strings.HasPrefix(sp.Path, "/") || slices.Contains(strings.Split(sp.Path, "/"), "..") {
		return fmt.Errorf("volume %s: sandbox_path.path %q must be relative and must not contain \"..\"", v.ContainerPath, sp.Path)
	}
	if v.HostPath != "" {
		return fmt.Errorf("volume %s: host_path and source are exclusive", v.ContainerPath)
	}
	return nil
}
