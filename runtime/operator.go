package runtime

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

// The agent's operator API v1: POST /api/v1 (also under /slave(1)), Mesos'
// include/mesos/v1/agent/agent.proto and
// https://mesos.apache.org/documentation/latest/operator-http-api/#agent-api.
// The read-only calls are answered from the agent's own state, in Mesos'
// JSON shape ({"type": "GET_X", "get_x": {...}}) or in protobuf (agent.proto
// under cluster/api/mesospb), as the Accept header asks; a call may come in
// either. The calls that start, attach to or kill processes, and those
// that change the agent, are refused with 400 naming the call and why.
//
// Authorization is the agent port's (docs/security.md): only master and
// admin certificates reach it, both superusers, so the agent applies no
// per-framework filter of its own. Principals reach these calls through
// the master (POST /agents/{agentId}/api/v1, cluster/agentoperator.go),
// which applies the ACLs: get_endpoints for the call, view_frameworks and
// view_tasks for the state calls, access_sandboxes and the task's
// visibility for LIST_FILES and READ_FILE, as for /files.

// agentOperatorRefused are the agent calls nodectl does not serve, each
// with the reason given in its 400.
var agentOperatorRefused = map[string]string{
	"SET_LOGGING_LEVEL":               "the agent's log level is set by --logging_level at start",
	"LAUNCH_NESTED_CONTAINER":         "nested containers are not supported; run a process in a task with `nodectl exec`",
	"WAIT_NESTED_CONTAINER":           "nested containers are not supported; run a process in a task with `nodectl exec`",
	"KILL_NESTED_CONTAINER":           "nested containers are not supported; run a process in a task with `nodectl exec`",
	"REMOVE_NESTED_CONTAINER":         "nested containers are not supported; run a process in a task with `nodectl exec`",
	"LAUNCH_NESTED_CONTAINER_SESSION": "use `nodectl exec` (the master's exec sessions) to run a process in a task",
	"ATTACH_CONTAINER_INPUT":          "use `nodectl exec` (the master's exec sessions) to attach to a task",
	"ATTACH_CONTAINER_OUTPUT":         "read a task's output with LIST_FILES/READ_FILE or /files/read, or attach with `nodectl exec`",
	"LAUNCH_CONTAINER":                "standalone containers are not supported; launch tasks through a framework or the Marathon API",
	"WAIT_CONTAINER":                  "standalone containers are not supported",
	"KILL_CONTAINER":                  "standalone containers are not supported; kill tasks through their framework",
	"REMOVE_CONTAINER":                "standalone containers are not supported",
	"ADD_RESOURCE_PROVIDER_CONFIG":    "resource providers are not supported",
	"UPDATE_RESOURCE_PROVIDER_CONFIG": "resource providers are not supported",
	"REMOVE_RESOURCE_PROVIDER_CONFIG": "resource providers are not supported",
	"MARK_RESOURCE_PROVIDER_GONE":     "resource providers are not supported",
	"PRUNE_IMAGES":                    "use `nodectl image prune` on the node; unused layers are also collected with finished sandboxes",
}

// agentCall is the part of an agent Call the served calls read.
type agentCall struct {
	Type      string `json:"type"`
	ListFiles *struct {
		Path string `json:"path"`
	} `json:"list_files"`
	ReadFile *struct {
		Path   string       `json:"path"`
		Offset json.Number  `json:"offset"`
		Length *json.Number `json:"length"`
	} `json:"read_file"`
}

// operatorError answers an operator call with a JSON {"message"}.
func operatorError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(api.Error{Message: msg})
}

// wantsProtobuf picks the answer's codec from Accept: protobuf when it is
// acceptable with a higher q than JSON; JSON on a tie, for wildcards and
// for an empty header (as Mesos). ok=false: nothing acceptable.
func wantsProtobuf(accept string) (proto, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return false, true
	}
	bestJSON, bestProto := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, has := params["q"]; has {
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				q = v
			}
		}
		if q <= 0 {
			continue
		}
		switch mt {
		case mesospb.MediaJSON, "application/*", "*/*":
			bestJSON = max(bestJSON, q)
		case mesospb.MediaProtobuf:
			bestProto = max(bestProto, q)
		}
	}
	if bestJSON < 0 && bestProto < 0 {
		return false, false
	}
	return bestProto > bestJSON, true
}

// handleOperator serves the agent's POST /api/v1.
func (a *Agent) handleOperator(w http.ResponseWriter, r *http.Request) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != mesospb.MediaJSON && ct != mesospb.MediaProtobuf {
		operatorError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("agent operator API: Content-Type %q is not supported; send application/json or application/x-protobuf", r.Header.Get("Content-Type")))
		return
	}
	outProto, ok := wantsProtobuf(r.Header.Get("Accept"))
	if !ok {
		operatorError(w, http.StatusNotAcceptable, fmt.Sprintf("agent operator API: Accept %q is not supported; accept application/json or application/x-protobuf", r.Header.Get("Accept")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		operatorError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("read body: %v", err))
		return
	}
	if ct == mesospb.MediaProtobuf {
		if body, err = mesospb.ToJSON(mesospb.AgentCall, body); err != nil {
			operatorError(w, http.StatusBadRequest, fmt.Sprintf("malformed agent operator call: %v", err))
			return
		}
	}
	var call agentCall
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&call); err != nil {
		operatorError(w, http.StatusBadRequest, fmt.Sprintf("malformed agent operator call: %v", err))
		return
	}
	resp, err := a.operatorCall(call)
	if err != nil {
		code := api.HTTPStatus(err)
		if code == http.StatusInternalServerError {
			a.log.Error("agent operator API", "call", call.Type, "err", err)
		}
		operatorError(w, code, err.Error())
		return
	}
	out := map[string]any{"type": call.Type, strings.ToLower(call.Type): resp}
	js, err := json.Marshal(out)
	if err == nil && outProto {
		js, err = mesospb.FromJSON(mesospb.AgentResponse, js)
	}
	if err != nil {
		a.log.Error("agent operator API: encode response", "call", call.Type, "err", err)
		operatorError(w, http.StatusInternalServerError, fmt.Sprintf("agent operator call %s: encode: %v", call.Type, err))
		return
	}
	if outProto {
		w.Header().Set("Content-Type", mesospb.MediaProtobuf)
	} else {
		w.Header().Set("Content-Type", mesospb.MediaJSON)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(js)
}

// operatorCall answers one call with the body of its response field.
func (a *Agent) operatorCall(call agentCall) (any, error) {
	switch call.Type {
	case "GET_HEALTH":
		return map[string]any{"healthy": true}, nil
	case "GET_FLAGS":
		flags := joinFlags(a.cfg.Flags)
		out := make([]map[string]string, 0, len(flags))
		for _, k := range sortedKeys(flags) {
			out = append(out, map[string]string{"name": strings.ReplaceAll(k, "-", "_"), "value": flags[k]})
		}
		return map[string]any{"flags": out}, nil
	case "GET_VERSION":
		return map[string]any{"version_info": api.BuildInfo()}, nil
	case "GET_METRICS":
		snap := a.metrics.Snapshot()
		out := make([]map[string]any, 0, len(snap))
		for _, k := range sortedKeys(snap) {
			out = append(out, map[string]any{"name": k, "value": snap[k]})
		}
		return map[string]any{"metrics": out}, nil
	case "GET_LOGGING_LEVEL":
		level := 0
		if strings.EqualFold(a.cfg.Flags["logging-level"], "DEBUG") || strings.EqualFold(a.cfg.Flags["logging_level"], "DEBUG") {
			level = 1 // glog's verbosity, as Mesos reports it
		}
		return map[string]any{"level": level}, nil
	case "LIST_FILES":
		if call.ListFiles == nil {
			return nil, fmt.Errorf("%w: LIST_FILES needs list_files.path", api.ErrInvalid)
		}
		infos, err := api.ListFiles(a.filesConfig().resolve, call.ListFiles.Path)
		if err != nil {
			return nil, err
		}
		return map[string]any{"file_infos": infos}, nil
	case "READ_FILE":
		return a.readFileCall(call)
	case "GET_STATE":
		return map[string]any{"get_tasks": a.v1Tasks(), "get_executors": a.v1Executors(), "get_frameworks": a.v1Frameworks()}, nil
	case "GET_CONTAINERS":
		return map[string]any{"containers": a.v1Containers()}, nil
	case "GET_FRAMEWORKS":
		return a.v1Frameworks(), nil
	case "GET_EXECUTORS":
		return a.v1Executors(), nil
	case "GET_TASKS":
		return a.v1Tasks(), nil
	case "GET_AGENT":
		info := a.info()
		ai := map[string]any{
			"hostname": info.Hostname, "port": info.Port, "resources": nonNilResources(info.Resources),
			"attributes": v1Attributes(info.Attributes),
		}
		if info.ID != "" {
			ai["id"] = map[string]any{"value": info.ID}
		}
		return map[string]any{"agent_info": ai}, nil
	case "GET_RESOURCE_PROVIDERS":
		return map[string]any{"resource_providers": []any{}}, nil
	case "GET_OPERATIONS":
		return map[string]any{"operations": []any{}}, nil
	}
	if why, ok := agentOperatorRefused[call.Type]; ok {
		return nil, fmt.Errorf("%w: agent operator call %s is not supported by nodectl: %s", api.ErrInvalid, call.Type, why)
	}
	if call.Type == "" {
		return nil, fmt.Errorf("%w: agent operator call without a type", api.ErrInvalid)
	}
	return nil, fmt.Errorf("%w: unknown agent operator call %q", api.ErrInvalid, call.Type)
}

func (a *Agent) readFileCall(call agentCall) (any, error) {
	rf := call.ReadFile
	if rf == nil {
		return nil, fmt.Errorf("%w: READ_FILE needs read_file.path and read_file.offset", api.ErrInvalid)
	}
	offset, err := strconv.ParseInt(string(rf.Offset), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: READ_FILE offset %q: not an integer", api.ErrInvalid, rf.Offset)
	}
	length := int64(-1)
	if rf.Length != nil {
		if length, err = strconv.ParseInt(string(*rf.Length), 10, 64); err != nil || length < 0 {
			return nil, fmt.Errorf("%w: READ_FILE length %q: not a non-negative integer", api.ErrInvalid, *rf.Length)
		}
	}
	data, size, err := api.ReadFile(a.filesConfig().resolve, rf.Path, offset, length)
	if err != nil {
		return nil, err
	}
	return map[string]any{"size": size, "data": base64.StdEncoding.EncodeToString(data)}, nil
}

// filesConfig is the files API's view of this agent's sandboxes and log.
func (a *Agent) filesConfig() FilesConfig {
	wd, err := filepath.Abs(a.cfg.WorkDir)
	if err != nil {
		wd = a.cfg.WorkDir
	}
	return FilesConfig{WorkDir: wd, AgentID: a.ID, LogFile: a.cfg.LogFile}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func nonNilResources(r api.Resources) api.Resources {
	if r == nil {
		return api.Resources{}
	}
	return r
}

// v1Attributes is Mesos' repeated Attribute form of attrs.
func v1Attributes(attrs api.Attributes) []map[string]any {
	out := []map[string]any{}
	for _, k := range sortedKeys(attrs) {
		switch v := attrs[k].(type) {
		case float64, int, int64:
			out = append(out, map[string]any{"name": k, "type": "SCALAR", "scalar": map[string]any{"value": v}})
		default:
			out = append(out, map[string]any{"name": k, "type": "TEXT", "text": map[string]any{"value": fmt.Sprint(v)}})
		}
	}
	return out
}

// v1TaskLocked is t in Mesos' v1 Task form. The caller holds tasks.mu.
func (a *Agent) v1TaskLocked(t *task, agentID string) map[string]any {
	statuses := t.statuses
	if statuses == nil {
		statuses = []api.TaskStatus{}
	}
	out := map[string]any{
		"name": t.info.Name, "task_id": t.info.TaskID, "framework_id": map[string]any{"value": t.frameworkID},
		"executor_id": map[string]any{"value": t.executorID}, "agent_id": map[string]any{"value": agentID},
		"state": t.state, "resources": nonNilResources(t.info.Resources), "statuses": statuses,
		"role": t.framework.RoleFor(t.info.Resources),
	}
	if n := len(t.statuses); n > 0 {
		out["status_update_state"] = t.statuses[n-1].State
	}
	if t.info.Container != nil {
		out["container"] = t.info.Container
	}
	if t.info.Labels != nil {
		out["labels"] = t.info.Labels
	}
	if hc := t.info.HealthCheck; hc != nil {
		out["health_check"] = mesosHealthCheck(*hc)
	}
	if t.info.KillPolicy != nil {
		out["kill_policy"] = t.info.KillPolicy
	}
	if c := t.info.Command; c != nil && c.User != "" {
		out["user"] = c.User
	} else if t.framework.User != "" {
		out["user"] = t.framework.User
	}
	return out
}

// mesosHealthCheck is hc as Mesos declares it: nodectl's HTTPS type is
// Mesos' HTTP with scheme https.
func mesosHealthCheck(hc api.HealthCheck) api.HealthCheck {
	if hc.Type == "HTTPS" {
		hc.Type = "HTTP"
		if hc.HTTP != nil {
			h := *hc.HTTP
			if h.Scheme == "" {
				h.Scheme = "https"
			}
			hc.HTTP = &h
		}
	}
	return hc
}

// v1Tasks is GET_TASKS' body: the live tasks as launched (not yet
// terminal) or terminated, and the completed ones.
func (a *Agent) v1Tasks() map[string]any {
	id := a.ID()
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	launched, terminated, completed := []map[string]any{}, []map[string]any{}, []map[string]any{}
	for _, t := range a.sortedLiveLocked() {
		if t.state.Terminal() {
			terminated = append(terminated, a.v1TaskLocked(t, id))
		} else {
			launched = append(launched, a.v1TaskLocked(t, id))
		}
	}
	for _, t := range a.tasks.completed {
		completed = append(completed, a.v1TaskLocked(t, id))
	}
	return map[string]any{
		"pending_tasks": []any{}, "queued_tasks": []any{},
		"launched_tasks": launched, "terminated_tasks": terminated, "completed_tasks": completed,
	}
}

func (a *Agent) sortedLiveLocked() []*task {
	out := make([]*task, 0, len(a.tasks.live))
	for _, t := range a.tasks.live {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// v1Executors is GET_EXECUTORS' body: one command executor per task
// (nodectl runs no custom executors), completed once its task is.
func (a *Agent) v1Executors() map[string]any {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	live, done := []map[string]any{}, []map[string]any{}
	ex := func(t *task) map[string]any {
		return map[string]any{"executor_info": map[string]any{
			"executor_id": map[string]any{"value": t.executorID}, "framework_id": map[string]any{"value": t.frameworkID},
			"resources": nonNilResources(t.info.Resources),
		}}
	}
	for _, t := range a.sortedLiveLocked() {
		if t.state.Terminal() {
			done = append(done, ex(t))
		} else {
			live = append(live, ex(t))
		}
	}
	for _, t := range a.tasks.completed {
		done = append(done, ex(t))
	}
	return map[string]any{"executors": live, "completed_executors": done}
}

// v1Frameworks is GET_FRAMEWORKS' body: the frameworks with a live task
// here, and those with only completed ones.
func (a *Agent) v1Frameworks() map[string]any {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	live, done := map[string]api.FrameworkInfo{}, map[string]api.FrameworkInfo{}
	for _, t := range a.tasks.live {
		live[t.frameworkID] = withID(t.framework, t.frameworkID)
	}
	for _, t := range a.tasks.completed {
		if _, ok := live[t.frameworkID]; !ok {
			done[t.frameworkID] = withID(t.framework, t.frameworkID)
		}
	}
	list := func(m map[string]api.FrameworkInfo) []map[string]any {
		out := []map[string]any{}
		for _, id := range sortedKeys(m) {
			out = append(out, map[string]any{"framework_info": m[id]})
		}
		return out
	}
	return map[string]any{"frameworks": list(live), "completed_frameworks": list(done)}
}

func withID(fi api.FrameworkInfo, id string) api.FrameworkInfo {
	if fi.ID == nil || fi.ID.Value == "" {
		fi.ID = &api.ID{Value: id}
	}
	return fi
}

// v1Containers is GET_CONTAINERS' containers: the running ones with
// their status and resource statistics (as /containers).
func (a *Agent) v1Containers() []map[string]any {
	out := []map[string]any{}
	for _, t := range a.runningContainers() {
		st, err := t.ctr.Stats()
		if err != nil {
			continue // the container just ended
		}
		status := map[string]any{"container_id": map[string]any{"value": t.containerID}, "executor_pid": t.ctr.Pid()}
		if len(t.netInfos) > 0 {
			status["network_infos"] = t.netInfos
		}
		out = append(out, map[string]any{
			"framework_id": map[string]any{"value": t.frameworkID}, "executor_id": map[string]any{"value": t.executorID},
			"executor_name": "Command Executor (Task: " + t.id + ")", "container_id": map[string]any{"value": t.containerID},
			"container_status": status, "resource_statistics": st,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i]["container_id"].(map[string]any)["value"].(string) < out[j]["container_id"].(map[string]any)["value"].(string)
	})
	return out
}
