package api

// Custom executors (Mesos ExecutorInfo of type CUSTOM) and the executor
// HTTP API the agent serves to them (Mesos docs/executor-http-api.md,
// include/mesos/v1/executor/executor.proto). A task with an executor is
// sent to the agent in a LAUNCH like any other; the agent starts the
// executor once per (framework, executor id) and hands it the task.

// ExecutorTypeCustom is a framework's own executor.
const ExecutorTypeCustom = "CUSTOM"

// PathExecutor is the executor HTTP API on the agent.
const PathExecutor = "/api/v1/executor"

// ShutdownCall is the body of the scheduler's SHUTDOWN: end an executor.
type ShutdownCall struct {
	ExecutorID ID `json:"executor_id"`
	AgentID    ID `json:"agent_id"`
}

// MessageCall is the body of the scheduler's MESSAGE: data for an executor.
type MessageCall struct {
	AgentID    ID     `json:"agent_id"`
	ExecutorID ID     `json:"executor_id"`
	Data       []byte `json:"data"`
}

// MessageEvent is the scheduler's MESSAGE event: data from an executor.
type MessageEvent struct {
	AgentID    ID     `json:"agent_id"`
	ExecutorID ID     `json:"executor_id"`
	Data       []byte `json:"data"`
}

// Master→agent messages for custom executors.
const (
	// MsgShutdownExecutor ends one executor (scheduler SHUTDOWN).
	MsgShutdownExecutor = "SHUTDOWN_EXECUTOR"
	// MsgFrameworkMessage carries a scheduler MESSAGE to an executor.
	MsgFrameworkMessage = "FRAMEWORK_MESSAGE"
)

// ExecutorMessage is the body of MsgShutdownExecutor and
// MsgFrameworkMessage (Data only for the latter), and of an executor's
// MESSAGE the agent posts to PathExecutorMessage.
type ExecutorMessage struct {
	AgentID     ID     `json:"agent_id,omitempty"`
	FrameworkID ID     `json:"framework_id"`
	ExecutorID  ID     `json:"executor_id"`
	Data        []byte `json:"data,omitempty"`
}

// PathExecutorMessage is where an agent posts an executor's MESSAGE for
// its framework.
const PathExecutorMessage = "/api/agent/v1/executor_message"

// Executor API call types (executor.proto Call.Type).
const (
	ExecCallSubscribe = "SUBSCRIBE"
	ExecCallUpdate    = "UPDATE"
	ExecCallMessage   = "MESSAGE"
	ExecCallHeartbeat = "HEARTBEAT"
)

// ExecutorCall is one call of the executor API.
type ExecutorCall struct {
	ExecutorID  ID                     `json:"executor_id"`
	FrameworkID ID                     `json:"framework_id"`
	Type        string                 `json:"type"`
	Subscribe   *ExecutorSubscribeCall `json:"subscribe,omitempty"`
	Update      *ExecutorUpdateCall    `json:"update,omitempty"`
	Message     *ExecutorMessageCall   `json:"message,omitempty"`
}

// ExecutorSubscribeCall is SUBSCRIBE: what a re-subscribing executor has
// not seen acknowledged.
type ExecutorSubscribeCall struct {
	UnacknowledgedTasks   []TaskInfo           `json:"unacknowledged_tasks,omitempty"`
	UnacknowledgedUpdates []ExecutorUpdateCall `json:"unacknowledged_updates,omitempty"`
}

// ExecutorUpdateCall is UPDATE: a task's status.
type ExecutorUpdateCall struct {
	Status TaskStatus `json:"status"`
}

// ExecutorMessageCall is MESSAGE: data for the scheduler.
type ExecutorMessageCall struct {
	Data []byte `json:"data"`
}

// Executor API event types (executor.proto Event.Type).
const (
	ExecEventSubscribed   = "SUBSCRIBED"
	ExecEventLaunch       = "LAUNCH"
	ExecEventLaunchGroup  = "LAUNCH_GROUP"
	ExecEventKill         = "KILL"
	ExecEventAcknowledged = "ACKNOWLEDGED"
	ExecEventMessage      = "MESSAGE"
	ExecEventError        = "ERROR"
	ExecEventShutdown     = "SHUTDOWN"
	ExecEventHeartbeat    = "HEARTBEAT"
)

// ExecutorEvent is one event of the executor's SUBSCRIBE stream.
type ExecutorEvent struct {
	Type         string                `json:"type"`
	Subscribed   *ExecutorSubscribed   `json:"subscribed,omitempty"`
	Acknowledged *ExecutorAcknowledged `json:"acknowledged,omitempty"`
	Launch       *ExecutorLaunch       `json:"launch,omitempty"`
	Kill         *ExecutorKill         `json:"kill,omitempty"`
	Message      *ExecutorMessageCall  `json:"message,omitempty"`
	Error        *ErrorEvent           `json:"error,omitempty"`
}

// ExecutorSubscribed is SUBSCRIBED.
type ExecutorSubscribed struct {
	ExecutorInfo  ExecutorInfo      `json:"executor_info"`
	FrameworkInfo FrameworkInfo     `json:"framework_info"`
	AgentInfo     ExecutorAgentInfo `json:"agent_info"`
	ContainerID   *ID               `json:"container_id,omitempty"`
}

// ExecutorAgentInfo is Mesos' AgentInfo as the executor API sends it.
type ExecutorAgentInfo struct {
	Hostname  string    `json:"hostname"`
	Port      int       `json:"port,omitempty"`
	Resources Resources `json:"resources,omitempty"`
	ID        *ID       `json:"id,omitempty"`
}

// ExecutorAcknowledged is ACKNOWLEDGED: the framework acknowledged an update.
type ExecutorAcknowledged struct {
	TaskID ID     `json:"task_id"`
	UUID   []byte `json:"uuid"`
}

// ExecutorLaunch is LAUNCH.
type ExecutorLaunch struct {
	Task TaskInfo `json:"task"`
}

// ExecutorKill is KILL.
type ExecutorKill struct {
	TaskID     ID          `json:"task_id"`
	KillPolicy *KillPolicy `json:"kill_policy,omitempty"`
}
