package cluster

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"nodectl/cluster/api"
)

// Custom executors (Mesos ExecutorInfo of type CUSTOM): the master checks
// a task's executor, counts the executor's resources once per (framework,
// agent, executor id) while tasks of it live there (with the first such
// task, as task groups count theirs, taskgroup.go), and relays the
// scheduler's SHUTDOWN and MESSAGE calls to the agent and an executor's
// MESSAGE back to the scheduler. The agent runs the executor and serves it
// the executor HTTP API (runtime/executor*.go).

// validateTaskExecutor checks a task that names an executor: a CUSTOM
// executor with a command, run in a container like a command task's on
// the host's network. Anything nodectl cannot run is refused naming its
// field.
func validateTaskExecutor(ti api.TaskInfo) error {
	e := ti.Executor
	switch {
	case ti.Command != nil:
		return errors.New("a task has either command or executor, not both")
	case ti.Container != nil:
		return errors.New("container: a task on a custom executor runs in the executor's container; set executor.container instead")
	case e.Type != "" && e.Type != api.ExecutorTypeCustom:
		return fmt.Errorf("executor.type %q is not supported here (CUSTOM; DEFAULT executors come with LAUNCH_GROUP)", e.Type)
	case e.Command == nil:
		return errors.New("executor.command is required")
	}
	if err := validateID(e.ExecutorID.Value); err != nil {
		return fmt.Errorf("executor.executor_id is invalid: %w", err)
	}
	if ct := e.Container; ct != nil {
		if ct.Type != "" && ct.Type != "MESOS" {
			return fmt.Errorf("executor.container.type %q is not supported (only MESOS)", ct.Type)
		}
		if ct.Mesos != nil && ct.Mesos.Image != nil {
			return errors.New("executor.container.mesos.image is not supported: custom executors run on the host's filesystem")
		}
		if len(ct.NetworkInfos) > 0 {
			return errors.New("executor.container.network_infos is not supported: custom executors use the host's network")
		}
		if len(ct.Volumes) > 0 {
			return errors.New("executor.container.volumes is not supported for custom executors")
		}
		if ct.LinuxInfo != nil {
			return errors.New("executor.container.linux_info is not supported for custom executors")
		}
	}
	c := e.Command
	switch {
	case c.IsShell() && strings.TrimSpace(c.Value) == "":
		return errors.New("executor.command.value is empty")
	case !c.IsShell() && c.Value == "" && len(c.Arguments) == 0:
		return errors.New("executor.command has neither value nor arguments")
	}
	for _, v := range envVars(c) {
		if v.Name == "" || strings.ContainsAny(v.Name, "=\x00") {
			return fmt.Errorf("executor.command.environment: variable name %q is invalid", v.Name)
		}
		if v.Type == "SECRET" || v.Secret != nil {
			return fmt.Errorf("executor.command.environment: %s: secrets are not supported for custom executors", v.Name)
		}
	}
	if _, err := validResources(e.Resources); err != nil {
		return fmt.Errorf("executor.resources are invalid: %w", err)
	}
	return nil
}

// executorLiveLocked reports whether the framework already has a task of
// executor eid on agent a that is not terminal: its executor's resources
// are counted already.
func executorLiveLocked(fw *framework, agentID, eid string) bool {
	for _, t := range fw.tasks {
		if t.agentID == agentID && t.info.Executor != nil && t.info.Executor.ExecutorID.Value == eid && !t.state.Terminal() {
			return true
		}
	}
	return false
}

// withExecutorResourcesLocked adds a task's executor's resources to the
// task's when the executor is not running on the agent yet.
func withExecutorResourcesLocked(fw *framework, a *agent, ti api.TaskInfo) api.TaskInfo {
	e := ti.Executor
	if e == nil || executorLiveLocked(fw, a.Info.ID, e.ExecutorID.Value) {
		return ti
	}
	if rs, err := validResources(e.Resources); err == nil && len(rs) > 0 {
		ti.Resources = ti.Resources.Add(rs)
	}
	return ti
}

// executorAgentLocked finds the agent a SHUTDOWN or MESSAGE names, for a
// framework that runs (or ran) the executor there.
func (m *Master) executorAgentLocked(fw *framework, agentID, eid string) (*agent, error) {
	if agentID == "" || eid == "" {
		return nil, fmt.Errorf("%w: expecting 'agent_id' and 'executor_id' to be present", ErrBadCall)
	}
	a := m.agents[agentID]
	if a == nil {
		return nil, fmt.Errorf("%w: agent %s is not registered", ErrBadCall, agentID)
	}
	return a, nil
}

// Shutdown implements the scheduler's SHUTDOWN: the agent ends the
// executor (its SHUTDOWN event, then a kill after the grace period).
func (m *Master) Shutdown(s Subscription, c api.ShutdownCall) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	a, err := m.executorAgentLocked(fw, c.AgentID.Value, c.ExecutorID.Value)
	if err != nil {
		return err
	}
	a.outbox.push(api.AgentMessage{Type: api.MsgShutdownExecutor, Executor: &api.ExecutorMessage{
		FrameworkID: api.ID{Value: fw.id}, ExecutorID: c.ExecutorID,
	}})
	return nil
}

// FrameworkMessage implements the scheduler's MESSAGE: best effort, as in
// Mesos; the agent drops it when the executor is not subscribed.
func (m *Master) FrameworkMessage(s Subscription, c api.MessageCall) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	a, err := m.executorAgentLocked(fw, c.AgentID.Value, c.ExecutorID.Value)
	if err != nil {
		return err
	}
	a.outbox.push(api.AgentMessage{Type: api.MsgFrameworkMessage, Executor: &api.ExecutorMessage{
		FrameworkID: api.ID{Value: fw.id}, ExecutorID: c.ExecutorID, Data: c.Data,
	}})
	return nil
}

// handleExecutorMessage serves POST PathExecutorMessage: an executor's
// MESSAGE, relayed by its agent, becomes the framework's MESSAGE event
// (dropped when the framework is not connected, as in Mesos).
func (m *Master) handleExecutorMessage(w http.ResponseWriter, r *http.Request) {
	var msg api.ExecutorMessage
	if !readJSON(w, r, &msg) {
		return
	}
	if msg.AgentID.Value == "" || msg.FrameworkID.Value == "" || msg.ExecutorID.Value == "" {
		writeError(w, http.StatusBadRequest, "agent_id, framework_id and executor_id are required")
		return
	}
	m.mu.Lock()
	fw := m.frameworks[msg.FrameworkID.Value]
	_, known := m.agents[msg.AgentID.Value]
	if fw != nil && fw.sink != nil && known {
		fw.sink.Send(api.Event{Type: api.EventMessage, Message: &api.MessageEvent{
			AgentID: msg.AgentID, ExecutorID: msg.ExecutorID, Data: msg.Data,
		}})
	}
	m.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}
