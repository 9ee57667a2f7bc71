package runtime

import (
	"net/http"
	"sort"

	"nodectl/cluster/api"
)

// taskJSONLocked is a task in the Mesos /state shape (shared with the
// master's). The caller holds tasks.mu.
func (a *Agent) taskJSONLocked(t *task) api.StateTask {
	return api.NewStateTask(t.info, t.frameworkID, t.executorID, a.ID(), t.framework.RoleFor(t.info.Resources), t.state, t.statuses)
}

// frameworksJSON is the agent /state "frameworks" list: each framework with
// its executors (one per command task) and their tasks.
func (a *Agent) frameworksJSON() []map[string]any {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	type fwAcc struct {
		info      api.FrameworkInfo
		executors []map[string]any
	}
	fws := map[string]*fwAcc{}
	add := func(t *task, completed bool) {
		f, ok := fws[t.frameworkID]
		if !ok {
			f = &fwAcc{info: t.framework}
			fws[t.frameworkID] = f
		}
		tj := a.taskJSONLocked(t)
		ex := map[string]any{
			"id": t.executorID, "name": "Command Executor (Task: " + t.id + ")", "source": t.id,
			"container": t.containerID, "directory": t.sandbox, "resources": t.info.Resources.Summary(),
			"tasks": []any{}, "queued_tasks": []any{}, "completed_tasks": []any{}, "type": "COMMAND",
		}
		if completed || t.state.Terminal() {
			ex["completed_tasks"] = []any{tj}
		} else {
			ex["tasks"] = []any{tj}
		}
		f.executors = append(f.executors, ex)
	}
	for _, t := range a.tasks.live {
		add(t, false)
	}
	for _, t := range a.tasks.completed {
		add(t, true)
	}
	out := make([]map[string]any, 0, len(fws))
	for id, f := range fws {
		sort.Slice(f.executors, func(i, j int) bool { return f.executors[i]["id"].(string) < f.executors[j]["id"].(string) })
		out = append(out, map[string]any{
			"id": id, "name": f.info.Name, "user": f.info.User, "failover_timeout": f.info.FailoverTimeout,
			"checkpoint": f.info.Checkpoint, "hostname": f.info.Hostname, "role": firstRole(f.info), "roles": f.info.AllRoles(),
			"executors": f.executors, "completed_executors": []any{},
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["id"].(string) < out[j]["id"].(string) })
	return out
}

func firstRole(f api.FrameworkInfo) string { return f.AllRoles()[0] }

// handleStatistics serves /monitor/statistics: one entry per running
// executor container with its cgroup statistics, in the Mesos shape.
func (a *Agent) handleStatistics(w http.ResponseWriter, r *http.Request) {
	out := []map[string]any{}
	for _, t := range a.runningContainers() {
		st, err := t.ctr.Stats()
		if err != nil {
			continue // the container just ended
		}
		out = append(out, map[string]any{
			"executor_id": t.executorID, "executor_name": "Command Executor (Task: " + t.id + ")",
			"framework_id": t.frameworkID, "source": t.id, "statistics": st,
		})
	}
	writeJSON(w, out)
}
