package api

// Task groups (Mesos LAUNCH_GROUP, include/mesos/v1/mesos.proto
// Offer.Operation.LaunchGroup and TaskGroupInfo): the tasks of a group run
// on one agent under one executor, each in its own (nested) container,
// started together; Mesos' default executor kills the rest of the group
// when one task fails. Marathon launches a pod instance as one group.

// ExecutorTypeDefault is Mesos' built-in default executor.
const ExecutorTypeDefault = "DEFAULT"

// ExecutorInfo is the executor of a task group (the DEFAULT type) or a
// task's custom executor (CUSTOM, with Command; executor.go).
type ExecutorInfo struct {
	Type        string         `json:"type,omitempty"`
	ExecutorID  ID             `json:"executor_id"`
	FrameworkID *ID            `json:"framework_id,omitempty"`
	Command     *CommandInfo   `json:"command,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
	Resources   Resources      `json:"resources,omitempty"`
	Name        string         `json:"name,omitempty"`
	Data        []byte         `json:"data,omitempty"`
}

// TaskGroupInfo is the tasks launched together.
type TaskGroupInfo struct {
	Tasks []TaskInfo `json:"tasks"`
}

// LaunchGroupOperation launches one task group on the offers' agent.
type LaunchGroupOperation struct {
	Executor  ExecutorInfo  `json:"executor"`
	TaskGroup TaskGroupInfo `json:"task_group"`
}

// Volume source types nodectl implements.
const (
	VolumeSourceSandboxPath = "SANDBOX_PATH"
	// SandboxPathParent: the path is relative to the executor's sandbox
	// (shared by every task of the group).
	SandboxPathParent = "PARENT"
)

// SandboxPath is a path in a sandbox (Mesos Volume.Source.SandboxPath).
type SandboxPath struct {
	Type string `json:"type"` // PARENT (SELF is not implemented)
	Path string `json:"path"`
}

// GroupLaunch tells an agent that a LAUNCH is one task of a group: the
// group's executor and every task id of the group, in launch order.
type GroupLaunch struct {
	Executor ExecutorInfo `json:"executor"`
	TaskIDs  []ID         `json:"task_ids"`
}

// ReasonTaskGroupInvalid is Mesos' reason for a task group the master
// refused.
const ReasonTaskGroupInvalid = "REASON_TASK_GROUP_INVALID"
