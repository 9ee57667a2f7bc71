package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"nodectl/cluster/api/mesospb"
)

// The agents' operator API through the master:
//
//	POST /agents/{agentId}/api/v1 (also under /master) → the agent's POST /api/v1
//
// The agent's own port admits only master and admin certificates
// (docs/security.md), so principals reach an agent's operator API here,
// under the master's ACLs: the route needs get_endpoints; LIST_FILES and
// READ_FILE need what the master's /files needs for that path
// (files_proxy.go: access_sandboxes and a task the caller may see, or
// access_mesos_logs for the agent's log); GET_STATE, GET_TASKS,
// GET_EXECUTORS, GET_FRAMEWORKS and GET_CONTAINERS show every framework
// on the agent, so they are for principals that see everything (others:
// 403, and the master's own GET_STATE and GET_TASKS filter by
// view_frameworks and view_tasks). The body and the answer pass unchanged,
// in JSON or protobuf.

// agentStateCalls are the agent calls that show every framework's tasks.
var agentStateCalls = map[string]bool{
	"GET_STATE": true, "GET_TASKS": true, "GET_EXECUTORS": true, "GET_FRAMEWORKS": true, "GET_CONTAINERS": true,
}

func (m *Master) proxyAgentOperator(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("read body: %v", err))
		return
	}
	in, ok := requestCodec(r.Header.Get("Content-Type"))
	if !ok {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("agent operator API: Content-Type %q is not supported; send application/json or application/x-protobuf", r.Header.Get("Content-Type")))
		return
	}
	js := body
	if in.proto {
		if js, err = mesospb.ToJSON(mesospb.AgentCall, body); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed agent operator call: %v", err))
			return
		}
	}
	var call struct {
		Type      string `json:"type"`
		ListFiles *struct {
			Path string `json:"path"`
		} `json:"list_files"`
		ReadFile *struct {
			Path string `json:"path"`
		} `json:"read_file"`
	}
	if err := json.Unmarshal(js, &call); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed agent operator call: %v", err))
		return
	}
	var filePath *string
	switch {
	case call.Type == "LIST_FILES" && call.ListFiles != nil:
		filePath = &call.ListFiles.Path
	case call.Type == "READ_FILE" && call.ReadFile != nil:
		filePath = &call.ReadFile.Path
	}
	switch {
	case filePath != nil && !m.sandboxAllowed(r, *filePath):
		writeError(w, http.StatusForbidden, fmt.Sprintf("Forbidden: this principal may not access '%s' (access_sandboxes, view_tasks)", *filePath))
		return
	case agentStateCalls[call.Type] && !m.viewOf(r).all:
		writeError(w, http.StatusForbidden, fmt.Sprintf("Forbidden: %s through the master shows every framework on the agent and is for principals that see all frameworks and tasks; the master's GET_STATE and GET_TASKS show what this principal may see", call.Type))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	m.proxyToAgent(w, r, r.PathValue("agentId"), "/api/v1", "operator", agentFilesTimeout)
}
