package runtime

import (
	"net/http"
)

// handleContainers is Mesos' agent /containers
// (https://mesos.apache.org/documentation/latest/endpoints/slave/containers/):
// one entry per running container with its ids, resource statistics and
// status (the container id, the executor's pid, its network addresses).
func (a *Agent) handleContainers(w http.ResponseWriter, r *http.Request) {
	out := []map[string]any{}
	for _, t := range a.runningContainers() {
		st, err := t.ctr.Stats()
		if err != nil {
			continue // the container just ended
		}
		status := map[string]any{
			"container_id": map[string]any{"value": t.containerID},
			"executor_pid": t.ctr.Pid(),
		}
		if len(t.netInfos) > 0 {
			status["network_infos"] = t.netInfos
		}
		out = append(out, map[string]any{
			"container_id": t.containerID,
			"executor_id":  t.executorID, "executor_name": "Command Executor (Task: " + t.id + ")",
			"framework_id": t.frameworkID, "source": t.id,
			"statistics": st, "status": status,
		})
	}
	writeJSON(w, out)
}

// runningContainers are the live tasks that have a container and have not
// ended.
func (a *Agent) runningContainers() []*task {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	var running []*task
	for _, t := range a.tasks.live {
		if t.ctr != nil && !t.state.Terminal() {
			running = append(running, t)
		}
	}
	return running
}
