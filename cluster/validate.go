package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"nodectl/cluster/api"
)

// maxIDLength is Mesos' limit on ids (TaskID, FrameworkID, ...).
const maxIDLength = 255

// validateID checks an id by the Mesos rules. Ids become path components
// of sandboxes and etcd keys, so "/" and ".." could escape them.
func validateID(id string) error {
	switch {
	case id == "":
		return errors.New("id is empty")
	case len(id) > maxIDLength:
		return fmt.Errorf("id is longer than %d bytes", maxIDLength)
	case id == "." || id == "..":
		return fmt.Errorf("id %q is not allowed", id)
	}
	for _, c := range id {
		if c == '/' || c == '\\' || unicode.IsControl(c) || unicode.IsSpace(c) || c == unicode.ReplacementChar {
			return fmt.Errorf("id %q contains %q", id, c)
		}
	}
	return nil
}

// validResources checks resources by the one parser (cluster/api) and
// returns them normalised.
func validResources(rs api.Resources) (api.Resources, error) {
	b, err := json.Marshal(rs)
	if err != nil {
		return nil, err
	}
	return api.ParseResources(string(b))
}

// validateTask checks a task of a LAUNCH on agent a. batch holds the ids
// launched earlier in the same call. It returns the task as it will be
// launched (agent id set, resources normalised); on error, ti unchanged.
func validateTask(ti api.TaskInfo, fw *framework, a *agent, batch map[string]bool) (api.TaskInfo, error) {
	id := ti.TaskID.Value
	if err := validateID(id); err != nil {
		return ti, fmt.Errorf("task id is invalid: %w", err)
	}
	if t := fw.tasks[id]; t != nil || batch[id] {
		return ti, fmt.Errorf("task %s: the framework already has a task with this id", id)
	}
	if ti.AgentID.Value != "" && ti.AgentID.Value != a.Info.ID {
		return ti, fmt.Errorf("task %s names agent %s but the offers are from agent %s", id, ti.AgentID.Value, a.Info.ID)
	}
	rs, err := validResources(ti.Resources)
	if err != nil {
		return ti, fmt.Errorf("task %s resources are invalid: %w", id, err)
	}
	if len(rs) == 0 {
		return ti, fmt.Errorf("task %s uses no resources", id)
	}
	if err := validateCommand(ti); err != nil {
		return ti, fmt.Errorf("task %s: %w", id, err)
	}
	if err := ti.ValidateSecrets(); err != nil {
		return ti, fmt.Errorf("task %s: %w", id, err)
	}
	if kp := ti.KillPolicy; kp != nil && kp.GracePeriod != nil && kp.GracePeriod.Nanoseconds < 0 {
		return ti, fmt.Errorf("task %s: kill_policy.grace_period is negative", id)
	}
	out := ti
	out.Resources = rs
	out.AgentID = api.ID{Value: a.Info.ID}
	return out, nil
}

func validateCommand(ti api.TaskInfo) error {
	if ti.Executor != nil {
		return validateTaskExecutor(ti) // executor.go
	}
	c := ti.Command
	image := false
	if ct := ti.Container; ct != nil {
		if ct.Type != "" && ct.Type != "MESOS" {
			return fmt.Errorf("container type %q is not supported (only MESOS)", ct.Type)
		}
		if ct.Mesos != nil && ct.Mesos.Image != nil {
			img := ct.Mesos.Image
			if img.Type != "DOCKER" || img.Docker == nil || strings.TrimSpace(img.Docker.Name) == "" {
				return errors.New("container image needs type DOCKER and docker.name")
			}
			image = true
		}
		if li := ct.LinuxInfo; li != nil && li.Seccomp != nil && li.Seccomp.Unconfined && li.Seccomp.ProfileName != "" {
			return errors.New("linux_info.seccomp: profile_name and unconfined exclude each other")
		}
		for _, v := range ct.Volumes {
			if v.ContainerPath == "" {
				return errors.New("a volume has no container_path")
			}
			if v.Mode != "RW" && v.Mode != "RO" {
				return fmt.Errorf("volume %s: mode %q is not RW or RO", v.ContainerPath, v.Mode)
			}
			if err := validateVolumeSource(v); err != nil {
				return err
			}
		}
	}
	switch {
	case c == nil:
		return errors.New("no command: a task needs command (nodectl runs no custom executors)")
	case c.IsShell() && strings.TrimSpace(c.Value) == "":
		return errors.New("command.value is empty")
	case !c.IsShell() && c.Value == "" && len(c.Arguments) == 0 && !image:
		return errors.New("command has neither value nor arguments")
	}
	for _, e := range envVars(c) {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return fmt.Errorf("environment variable name %q is invalid", e.Name)
		}
	}
	return nil
}

func envVars(c *api.CommandInfo) []api.EnvVar {
	if c.Environment == nil {
		return nil
	}
	return c.Environment.Variables
}

// validateStatusUpdate checks an agent's update before it touches state.
func validateStatusUpdate(u api.StatusUpdate) error {
	switch {
	case u.AgentID.Value == "":
		return fmt.Errorf("%w: agent_id is required", ErrBadRequest)
	case u.FrameworkID.Value == "":
		return fmt.Errorf("%w: framework_id is required", ErrBadRequest)
	case u.Status.TaskID.Value == "":
		return fmt.Errorf("%w: status.task_id is required", ErrBadRequest)
	case !api.IsTaskState(u.Status.State):
		return fmt.Errorf("%w: status.state %q is not a task state", ErrBadRequest, u.Status.State)
	case u.LatestState != "" && !api.IsTaskState(u.LatestState):
		return fmt.Errorf("%w: latest_state %q is not a task state", ErrBadRequest, u.LatestState)
	case len(u.Status.UUID) != 0 && len(u.Status.UUID) != 16:
		return fmt.Errorf("%w: status.uuid must be 16 bytes", ErrBadRequest)
	}
	return nil
}
