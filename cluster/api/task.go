package api

import (
	"errors"
	"fmt"
)

// ID is the Mesos v1 JSON wrapper of every identifier: {"value": "..."}.
type ID struct {
	Value string `json:"value"`
}

// TaskState is a Mesos task state. The lifecycle, as the agent drives it:
//
//	STAGING ──► STARTING ──► RUNNING ──► FINISHED | FAILED | KILLED
//	   │            │           │  ▲
//	   │            │           ▼  │ (agent back)
//	   │            │        KILLING / UNREACHABLE / LOST
//	   └────────────┴──► ERROR | DROPPED | FAILED | GONE | LOST
//
// TASK_LOST is not terminal: a task may come back to RUNNING when its agent
// re-registers. Transitions lists every legal edge; Next enforces it.
type TaskState string

// The Mesos task states.
const (
	TaskStaging        TaskState = "TASK_STAGING"
	TaskStarting       TaskState = "TASK_STARTING"
	TaskRunning        TaskState = "TASK_RUNNING"
	TaskKilling        TaskState = "TASK_KILLING"
	TaskFinished       TaskState = "TASK_FINISHED"
	TaskFailed         TaskState = "TASK_FAILED"
	TaskKilled         TaskState = "TASK_KILLED"
	TaskError          TaskState = "TASK_ERROR"
	TaskLost           TaskState = "TASK_LOST"
	TaskDropped        TaskState = "TASK_DROPPED"
	TaskUnreachable    TaskState = "TASK_UNREACHABLE"
	TaskGone           TaskState = "TASK_GONE"
	TaskGoneByOperator TaskState = "TASK_GONE_BY_OPERATOR"
	TaskUnknown        TaskState = "TASK_UNKNOWN"
)

// AllTaskStates in the order Mesos lists them in summaries.
var AllTaskStates = []TaskState{
	TaskStaging, TaskStarting, TaskRunning, TaskKilling, TaskFinished, TaskKilled, TaskFailed,
	TaskLost, TaskError, TaskDropped, TaskUnreachable, TaskGone, TaskGoneByOperator, TaskUnknown,
}

// Terminal reports whether no further update can follow s.
func (s TaskState) Terminal() bool {
	switch s {
	case TaskFinished, TaskFailed, TaskKilled, TaskError, TaskDropped, TaskGone, TaskGoneByOperator:
		return true
	}
	return false
}

// ErrIllegalTransition is returned by Next for an edge Transitions lacks.
var ErrIllegalTransition = errors.New("illegal task state transition")

// endings are the states any live task may end in.
var endings = []TaskState{TaskFinished, TaskFailed, TaskKilled, TaskError, TaskDropped, TaskGone, TaskGoneByOperator, TaskLost, TaskUnreachable}

// Transitions is the one table of legal task state changes.
var Transitions = map[TaskState][]TaskState{
	TaskStaging:     append([]TaskState{TaskStarting, TaskRunning, TaskKilling}, endings...),
	TaskStarting:    append([]TaskState{TaskRunning, TaskKilling}, endings...),
	TaskRunning:     append([]TaskState{TaskKilling}, endings...),
	TaskKilling:     endings,
	TaskUnreachable: append([]TaskState{TaskRunning, TaskStarting, TaskStaging, TaskKilling}, endings...),
	TaskLost:        append([]TaskState{TaskRunning, TaskStarting, TaskStaging, TaskKilling}, endings...),
	TaskUnknown:     append([]TaskState{TaskRunning}, endings...),
}

// Next returns to if from → to is legal. A repeated state is legal (a
// health or reconciliation update carries the same state again).
func Next(from, to TaskState) (TaskState, error) {
	if from == to || from == "" {
		return to, nil
	}
	for _, s := range Transitions[from] {
		if s == to {
			return to, nil
		}
	}
	return from, fmt.Errorf("%w: %s -> %s", ErrIllegalTransition, from, to)
}

// ReasonFetcherFailed: a URI of the task could not be fetched. Mesos'
// TaskStatus.Reason has no such value (Mesos reports
// REASON_CONTAINER_LAUNCH_FAILED); nodectl names the fetcher.
const ReasonFetcherFailed = "REASON_FETCHER_FAILED"

// Sources and reasons of status updates (the ones nodectl produces).
const (
	SourceMaster   = "SOURCE_MASTER"
	SourceAgent    = "SOURCE_AGENT"
	SourceExecutor = "SOURCE_EXECUTOR"

	ReasonCommandExecutorFailed    = "REASON_COMMAND_EXECUTOR_FAILED"
	ReasonContainerLaunchFailed    = "REASON_CONTAINER_LAUNCH_FAILED"
	ReasonContainerLimitationMem   = "REASON_CONTAINER_LIMITATION_MEMORY"
	ReasonContainerLimitationDisk  = "REASON_CONTAINER_LIMITATION_DISK"
	ReasonExecutorTerminated       = "REASON_EXECUTOR_TERMINATED"
	ReasonExecutorReregTimeout     = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"
	ReasonInvalidOffers            = "REASON_INVALID_OFFERS"
	ReasonResourcesUnknown         = "REASON_RESOURCES_UNKNOWN"
	ReasonTaskInvalid              = "REASON_TASK_INVALID"
	ReasonTaskUnauthorized         = "REASON_TASK_UNAUTHORIZED"
	ReasonTaskUnknown              = "REASON_TASK_UNKNOWN"
	ReasonTaskKilledDuringLaunch   = "REASON_TASK_KILLED_DURING_LAUNCH"
	ReasonAgentRemoved             = "REASON_SLAVE_REMOVED"
	ReasonAgentDraining            = "REASON_AGENT_DRAINING"
	ReasonAgentDisconnected        = "REASON_SLAVE_DISCONNECTED"
	ReasonAgentRestarted           = "REASON_SLAVE_RESTARTED"
	ReasonAgentUnknown             = "REASON_SLAVE_UNKNOWN"
	ReasonReconciliation           = "REASON_RECONCILIATION"
	ReasonFrameworkRemoved         = "REASON_FRAMEWORK_REMOVED"
	ReasonGCError                  = "REASON_GC_ERROR"
	ReasonHealthCheckFailed        = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
	ReasonExecutorTerminatedReboot = "REASON_AGENT_REBOOTED"
)

// Environment is Mesos' {"variables": [{"name","value"}]}.
type Environment struct {
	Variables []EnvVar `json:"variables,omitempty"`
}

// EnvVar is one environment variable (Mesos Environment.Variable): a
// VALUE (the default) or a SECRET, whose value the agent gets resolved.
type EnvVar struct {
	Name   string  `json:"name"`
	Value  string  `json:"value"`
	Type   string  `json:"type,omitempty"` // VALUE (default) or SECRET
	Secret *Secret `json:"secret,omitempty"`
}

// CommandURI is a file fetched into the sandbox before the task starts.
type CommandURI struct {
	Value      string `json:"value"`
	Executable bool   `json:"executable,omitempty"`
	Extract    *bool  `json:"extract,omitempty"`
	Cache      bool   `json:"cache,omitempty"`
	OutputFile string `json:"output_file,omitempty"`
}

// CommandInfo is what to run. With Shell (the default) Value runs under
// /bin/sh -c; otherwise Value is the executable and Arguments its argv.
type CommandInfo struct {
	Value       string       `json:"value,omitempty"`
	Shell       *bool        `json:"shell,omitempty"`
	Arguments   []string     `json:"arguments,omitempty"`
	Environment *Environment `json:"environment,omitempty"`
	URIs        []CommandURI `json:"uris,omitempty"`
	User        string       `json:"user,omitempty"`
}

// IsShell is Shell's value with its default (true).
func (c CommandInfo) IsShell() bool { return c.Shell == nil || *c.Shell }

// Image names a container image (Mesos Image, DOCKER type).
type Image struct {
	Type   string       `json:"type"` // DOCKER
	Docker *DockerImage `json:"docker,omitempty"`
	// Cached false re-pulls the image even when the store has it (Mesos'
	// Image.cached, default true; Marathon's forcePullImage sets it false).
	Cached *bool `json:"cached,omitempty"`
}

// DockerImage is a registry or local image reference.
type DockerImage struct {
	Name string `json:"name"`
	// Config is the registry credentials for pulling the image: a secret
	// whose value is a Docker config.json (Mesos Image.Docker.config).
	Config *Secret `json:"config,omitempty"`
}

// Volume is a Mesos container volume: a host path (or, later, a persistent
// volume) mounted at ContainerPath.
type Volume struct {
	ContainerPath string `json:"container_path"`
	HostPath      string `json:"host_path,omitempty"`
	Mode          string `json:"mode"` // RW or RO
	// Source is a SECRET volume: a file with the secret's value at
	// ContainerPath (Mesos Volume.Source.SECRET), or a SANDBOX_PATH volume
	// of a task group (taskgroup.go).
	Source *VolumeSource `json:"source,omitempty"`
}

// MesosContainer is the MESOS containerizer's part of ContainerInfo.
type MesosContainer struct {
	Image *Image `json:"image,omitempty"`
}

// ContainerInfo says how to containerize a task.
type ContainerInfo struct {
	Type      string          `json:"type"` // MESOS
	Mesos     *MesosContainer `json:"mesos,omitempty"`
	Volumes   []Volume        `json:"volumes,omitempty"`
	LinuxInfo *LinuxInfo      `json:"linux_info,omitempty"`
	// NetworkInfos puts the task on CNI networks (Mesos' network/cni
	// isolator); none: the host's network.
	NetworkInfos []NetworkInfo `json:"network_infos,omitempty"`
}

// NetworkInfo is Mesos' NetworkInfo: the network a container joins by
// Name (a CNI network; "mesos-bridge" is the agent's built-in bridge) and
// the host ports forwarded to it.
type NetworkInfo struct {
	Name         string           `json:"name,omitempty"`
	IPAddresses  []IPAddress      `json:"ip_addresses,omitempty"`
	Labels       *Labels          `json:"labels,omitempty"`
	PortMappings []NetPortMapping `json:"port_mappings,omitempty"`
}

// IPAddress is Mesos' NetworkInfo.IPAddress.
type IPAddress struct {
	Protocol  string `json:"protocol,omitempty"` // IPv4 or IPv6
	IPAddress string `json:"ip_address,omitempty"`
}

// NetPortMapping is Mesos' NetworkInfo.PortMapping: HostPort on the agent
// forwards to ContainerPort in the container ("tcp" or "udp").
type NetPortMapping struct {
	HostPort      uint32 `json:"host_port"`
	ContainerPort uint32 `json:"container_port"`
	Protocol      string `json:"protocol,omitempty"`
}

// LinuxInfo is Mesos' ContainerInfo.LinuxInfo; only its seccomp part is
// supported.
type LinuxInfo struct {
	Seccomp *SeccompInfo `json:"seccomp,omitempty"`
}

// SeccompInfo is Mesos' SeccompInfo: a profile in the agent's
// --seccomp_config_dir instead of its default, or no filter at all
// (unconfined; only for principals the master allows, docs/runtime.md).
type SeccompInfo struct {
	ProfileName string `json:"profile_name,omitempty"`
	Unconfined  bool   `json:"unconfined,omitempty"`
}

// DurationInfo is Mesos' {"nanoseconds": n}.
type DurationInfo struct {
	Nanoseconds int64 `json:"nanoseconds"`
}

// KillPolicy overrides the agent's kill grace period for one task.
type KillPolicy struct {
	GracePeriod *DurationInfo `json:"grace_period,omitempty"`
}

// Label is a key/value pair; Labels wraps them as Mesos JSON does.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// Labels is Mesos' {"labels": [...]}.
type Labels struct {
	Labels []Label `json:"labels,omitempty"`
}

// TaskInfo is a task to launch (Mesos v1 TaskInfo, command tasks).
type TaskInfo struct {
	Name      string    `json:"name"`
	TaskID    ID        `json:"task_id"`
	AgentID   ID        `json:"agent_id"`
	Resources Resources `json:"resources"`
	// Executor is the task's custom executor (executor.go); a task has
	// either Command or Executor.
	Executor    *ExecutorInfo  `json:"executor,omitempty"`
	Command     *CommandInfo   `json:"command,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
	KillPolicy  *KillPolicy    `json:"kill_policy,omitempty"`
	Labels      *Labels        `json:"labels,omitempty"`
	HealthCheck *HealthCheck   `json:"health_check,omitempty"`
	// MoreHealthChecks (a nodectl extension: Mesos has one check per task)
	// are checked alongside HealthCheck; the task is healthy when all pass.
	MoreHealthChecks []HealthCheck `json:"nodectl_more_health_checks,omitempty"`
	// Discovery is Mesos' TaskInfo.discovery (dns.go).
	Discovery *DiscoveryInfo `json:"discovery,omitempty"`
}

// ContainerStatus tells where a task runs.
type ContainerStatus struct {
	ContainerID *ID   `json:"container_id,omitempty"`
	ExecutorPID int   `json:"executor_pid,omitempty"`
	NetworkInfo []any `json:"network_infos,omitempty"`
}

// TaskStatus is a status update (Mesos v1 TaskStatus). UUID (base64 in
// JSON, as Mesos) is set on agent updates, which need an acknowledgement;
// master-generated updates carry none.
type TaskStatus struct {
	TaskID          ID               `json:"task_id"`
	State           TaskState        `json:"state"`
	Message         string           `json:"message,omitempty"`
	Source          string           `json:"source,omitempty"`
	Reason          string           `json:"reason,omitempty"`
	AgentID         *ID              `json:"agent_id,omitempty"`
	ExecutorID      *ID              `json:"executor_id,omitempty"`
	Timestamp       float64          `json:"timestamp,omitempty"`
	UUID            []byte           `json:"uuid,omitempty"`
	Healthy         *bool            `json:"healthy,omitempty"`
	ContainerStatus *ContainerStatus `json:"container_status,omitempty"`
	// ExitCode is nodectl's addition: the task's exit status when known.
	ExitCode *int `json:"exit_code,omitempty"`
	// HealthChecks is nodectl's addition next to Healthy, for a task with
	// MoreHealthChecks: the latest result of each check, in order
	// (HealthCheck first). Mesos has one check per task, so Healthy alone.
	HealthChecks []CheckResult `json:"nodectl_health_checks,omitempty"`
}

// CheckResult is one health check's latest result: Healthy nil before
// its first verdict; Message says why it failed.
type CheckResult struct {
	Healthy *bool  `json:"healthy,omitempty"`
	Message string `json:"message,omitempty"`
}

// Capability is a framework capability ({"type": "PARTITION_AWARE"}).
type Capability struct {
	Type string `json:"type"`
}

// FrameworkInfo describes a framework (Mesos v1 FrameworkInfo).
type FrameworkInfo struct {
	ID              *ID          `json:"id,omitempty"`
	User            string       `json:"user"`
	Name            string       `json:"name"`
	Role            string       `json:"role,omitempty"`
	Roles           []string     `json:"roles,omitempty"`
	FailoverTimeout float64      `json:"failover_timeout,omitempty"`
	Checkpoint      bool         `json:"checkpoint,omitempty"`
	Hostname        string       `json:"hostname,omitempty"`
	Principal       string       `json:"principal,omitempty"`
	WebuiURL        string       `json:"webui_url,omitempty"`
	Capabilities    []Capability `json:"capabilities,omitempty"`
	Labels          *Labels      `json:"labels,omitempty"`
}

// HasCapability reports whether f declares capability c.
func (f FrameworkInfo) HasCapability(c string) bool {
	for _, x := range f.Capabilities {
		if x.Type == c {
			return true
		}
	}
	return false
}

// AllRoles is the framework's roles, "*" when it names none.
func (f FrameworkInfo) AllRoles() []string {
	if len(f.Roles) > 0 {
		return f.Roles
	}
	if f.Role != "" {
		return []string{f.Role}
	}
	return []string{"*"}
}

// RoleFor is the allocation role of resources the framework uses when
// nothing recorded it (a task adopted from an agent, a task on the agent's
// /state): the role they are reserved for, if the framework has it, else
// its first role.
func (f FrameworkInfo) RoleFor(rs Resources) string {
	roles := f.AllRoles()
	for _, r := range rs {
		for _, fr := range roles {
			if r.Role == fr {
				return fr
			}
		}
	}
	return roles[0]
}

// HealthCheck is a Mesos-native health check, run by the agent next to the
// task. After GracePeriodSeconds, a failed check counts; after
// ConsecutiveFailures failures in a row the agent kills the task
// (TASK_KILLED, REASON_TASK_HEALTH_CHECK_STATUS_UPDATED). Every change of
// health is reported as a TASK_RUNNING update with Healthy set.
type HealthCheck struct {
	Type                string       `json:"type"` // HTTP, HTTPS (nodectl), TCP or COMMAND
	HTTP                *HTTPCheck   `json:"http,omitempty"`
	TCP                 *TCPCheck    `json:"tcp,omitempty"`
	Command             *CommandInfo `json:"command,omitempty"`
	DelaySeconds        float64      `json:"delay_seconds,omitempty"`
	IntervalSeconds     float64      `json:"interval_seconds,omitempty"`
	TimeoutSeconds      float64      `json:"timeout_seconds,omitempty"`
	ConsecutiveFailures int          `json:"consecutive_failures,omitempty"`
	GracePeriodSeconds  float64      `json:"grace_period_seconds,omitempty"`
}

// HTTPCheck probes http(s)://<agent host>:Port/Path; 200–399 is healthy.
type HTTPCheck struct {
	Port     uint32   `json:"port"`
	Path     string   `json:"path,omitempty"`
	Scheme   string   `json:"scheme,omitempty"` // http (default) or https
	Statuses []uint32 `json:"statuses,omitempty"`
}

// TCPCheck is healthy when a connection to Port opens.
type TCPCheck struct {
	Port uint32 `json:"port"`
}
