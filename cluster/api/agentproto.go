package api

// Agent protocol, beyond registration and pings:
//
//   - the agent keeps one long-lived GET PathStream open to the leader; the
//     master writes AgentMessage values to it as newline-delimited JSON
//     (LAUNCH, KILL, ACKNOWLEDGE, SHUTDOWN_FRAMEWORK, HEARTBEAT);
//   - the agent POSTs each status update to PathStatus, or the updates
//     due together (the heads of several tasks' streams) to
//     PathStatuses as one StatusBatch; the master deduplicates by UUID,
//     forwards to the framework, and relays the framework's
//     acknowledgement back down the stream as ACKNOWLEDGE.
const (
	PathStream   = "/api/agent/v1/stream"
	PathStatus   = "/api/agent/v1/status"
	PathStatuses = "/api/agent/v1/statuses"
)

// MaxStatusBatch bounds the updates of one StatusBatch.
const MaxStatusBatch = 256

// StatusBatch is several agent→master status updates in one request, at
// most one per task (each the head of its task's stream): a burst of
// container starts on one agent is then a few requests, not one per
// update. Masters older than the batch answer 404; agents then send one
// update per request.
type StatusBatch struct {
	Updates []StatusUpdate `json:"updates"`
}

// StatusBatchResult answers a StatusBatch: how many updates the master
// took, and why it refused the others (each is retried like a refused
// single update).
type StatusBatchResult struct {
	Accepted int                `json:"accepted"`
	Refused  []StatusBatchError `json:"refused,omitempty"`
}

// StatusBatchError is one refused update of a StatusBatch.
type StatusBatchError struct {
	TaskID  string `json:"task_id"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Types of AgentMessage.
const (
	MsgLaunch            = "LAUNCH"
	MsgKill              = "KILL"
	MsgAcknowledge       = "ACKNOWLEDGE"
	MsgShutdownFramework = "SHUTDOWN_FRAMEWORK"
	MsgHeartbeat         = "HEARTBEAT"
	// MsgCheckpointResources carries the agent's complete set of dynamic
	// reservations and persistent volumes, after every change and on
	// every (re-)registration; the agent creates and destroys volume
	// directories to match.
	MsgCheckpointResources = "CHECKPOINT_RESOURCES"
)

// AgentMessage is one master→agent message on the stream.
type AgentMessage struct {
	Type              string             `json:"type"`
	Launch            *LaunchMessage     `json:"launch,omitempty"`
	Kill              *KillMessage       `json:"kill,omitempty"`
	Acknowledge       *AckMessage        `json:"acknowledge,omitempty"`
	ShutdownFramework *ShutdownFramework `json:"shutdown_framework,omitempty"`
	// CheckpointResources is set for MsgCheckpointResources.
	CheckpointResources *CheckpointResources `json:"checkpoint_resources,omitempty"`
	// Executor is set for MsgShutdownExecutor and MsgFrameworkMessage
	// (executor.go).
	Executor *ExecutorMessage `json:"executor,omitempty"`
}

// CheckpointResources is an agent's dynamic reservations and volumes.
type CheckpointResources struct {
	Resources Resources `json:"resources"`
}

// LaunchMessage asks the agent to run a task for a framework.
type LaunchMessage struct {
	Framework FrameworkInfo `json:"framework"`
	Task      TaskInfo      `json:"task"`
	// Group is set when the task is one of a task group (LAUNCH_GROUP).
	Group *GroupLaunch `json:"group,omitempty"`
}

// KillMessage asks the agent to kill a task; GracePeriod overrides the
// task's kill policy.
type KillMessage struct {
	FrameworkID ID            `json:"framework_id"`
	TaskID      ID            `json:"task_id"`
	GracePeriod *DurationInfo `json:"grace_period,omitempty"`
}

// AckMessage relays a framework's acknowledgement of the update with UUID.
type AckMessage struct {
	FrameworkID ID     `json:"framework_id"`
	TaskID      ID     `json:"task_id"`
	UUID        []byte `json:"uuid"`
}

// ShutdownFramework tells the agent to kill every task of a framework.
type ShutdownFramework struct {
	FrameworkID ID `json:"framework_id"`
}

// StatusUpdate is an agent→master status update. LatestState is the newest
// state the agent knows, which may be ahead of Status while older updates
// are still being delivered in order.
type StatusUpdate struct {
	AgentID     ID         `json:"agent_id"`
	FrameworkID ID         `json:"framework_id"`
	Status      TaskStatus `json:"status"`
	LatestState TaskState  `json:"latest_state,omitempty"`
}

// AgentTask is a task an agent reports when it re-registers.
type AgentTask struct {
	FrameworkID ID        `json:"framework_id"`
	Task        TaskInfo  `json:"task"`
	State       TaskState `json:"state"`
}
