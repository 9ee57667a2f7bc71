package api

// StateTask is a task as Mesos' master and agent /state endpoints show it
// (https://mesos.apache.org/documentation/latest/endpoints/master/state/,
// .../slave/state/): one type for both, so the two views cannot drift.
type StateTask struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	FrameworkID string            `json:"framework_id"`
	ExecutorID  string            `json:"executor_id"`
	SlaveID     string            `json:"slave_id"`
	State       TaskState         `json:"state"`
	Resources   map[string]any    `json:"resources"`
	Role        string            `json:"role,omitempty"`
	Statuses    []StateTaskStatus `json:"statuses"`
	Container   *ContainerInfo    `json:"container,omitempty"`
	Labels      []Label           `json:"labels,omitempty"`
}

// StateTaskStatus is one entry of a StateTask's statuses: a state it
// reached, when, and in which container.
type StateTaskStatus struct {
	State           TaskState        `json:"state"`
	Timestamp       float64          `json:"timestamp"`
	ContainerStatus *ContainerStatus `json:"container_status,omitempty"`
}

// NewStateTask is the /state view of a task: its definition, where it
// runs (frameworkID, executorID — empty on the master for a command
// task, as Mesos shows it —, agentID), its role, and its state history.
func NewStateTask(info TaskInfo, frameworkID, executorID, agentID, role string, state TaskState, history []TaskStatus) StateTask {
	st := StateTask{
		ID: info.TaskID.Value, Name: info.Name, FrameworkID: frameworkID, ExecutorID: executorID, SlaveID: agentID,
		State: state, Resources: info.Resources.Summary(), Role: role, Container: info.Container,
		Statuses: make([]StateTaskStatus, 0, len(history)),
	}
	for _, s := range history {
		st.Statuses = append(st.Statuses, StateTaskStatus{State: s.State, Timestamp: s.Timestamp, ContainerStatus: s.ContainerStatus})
	}
	if info.Labels != nil {
		st.Labels = info.Labels.Labels
	}
	return st
}
