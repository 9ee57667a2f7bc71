package cluster

import (
	"errors"
	"fmt"
	"net/http"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// The operator calls that change the cluster (master.proto's
// RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES,
// DESTROY_VOLUMES, TEARDOWN, MARK_AGENT_GONE) and SUBSCRIBE
// (operator_stream.go). The route's permission is get_endpoints; each
// call checks its own Mesos ACL here (docs/authorization.md in Mesos):
// reserve_resources by role, unreserve_resources by the reserver,
// create_volumes by role, destroy_volumes by the volume's creator
// (permitOperation, shared with the v0 /reserve endpoints),
// teardown_frameworks by the framework's principal, mark_agents_gone by
// agent id. As in Mesos' src/master/http.cpp the four resource calls
// answer 202 once applied on the master (409 when the agent's free
// resources cannot satisfy them), TEARDOWN and MARK_AGENT_GONE 200.
// GROW_VOLUME and SHRINK_VOLUME are refused with 400: nodectl's volumes
// have no resize.

// mutatingCall is the part of an operator Call these calls read.
type mutatingCall struct {
	Type             string             `json:"type"`
	ReserveResources *agentResourcesArg `json:"reserve_resources,omitempty"`
	UnreserveRes     *agentResourcesArg `json:"unreserve_resources,omitempty"`
	CreateVolumes    *agentVolumesArg   `json:"create_volumes,omitempty"`
	DestroyVolumes   *agentVolumesArg   `json:"destroy_volumes,omitempty"`
	Teardown         *struct {
		FrameworkID api.ID `json:"framework_id"`
	} `json:"teardown,omitempty"`
	MarkAgentGone *struct {
		AgentID api.ID `json:"agent_id"`
	} `json:"mark_agent_gone,omitempty"`
}

type agentResourcesArg struct {
	AgentID   api.ID        `json:"agent_id"`
	Source    api.Resources `json:"source,omitempty"`
	Resources api.Resources `json:"resources"`
}

type agentVolumesArg struct {
	AgentID api.ID        `json:"agent_id"`
	Volumes api.Resources `json:"volumes"`
}

// operatorMore serves SUBSCRIBE and the calls above; false for other
// calls.
func (m *Master) operatorMore(w http.ResponseWriter, r *http.Request, typ string, body []byte) bool {
	switch typ {
	case "SUBSCRIBE":
		m.serveOperatorSubscribe(w, r)
		return true
	case "GROW_VOLUME", "SHRINK_VOLUME":
		writeError(w, http.StatusBadRequest, fmt.Sprintf("operator call %s is not supported: nodectl's persistent volumes cannot be resized; create a new volume (CREATE_VOLUMES) and destroy the old one (DESTROY_VOLUMES)", typ))
		return true
	case "RESERVE_RESOURCES", "UNRESERVE_RESOURCES", "CREATE_VOLUMES", "DESTROY_VOLUMES", "TEARDOWN", "MARK_AGENT_GONE":
	default:
		return false
	}
	var call mutatingCall
	missing, ok := decodeOperatorCall(w, typ, body, &call)
	if !ok {
		return true
	}
	switch typ {
	case "RESERVE_RESOURCES":
		c := call.ReserveResources
		if c == nil {
			return missing("reserve_resources")
		}
		if len(c.Source) > 0 {
			writeError(w, http.StatusBadRequest, "operator call RESERVE_RESOURCES: 'source' (re-reservation) is not supported; unreserve first, then reserve")
			return true
		}
		m.operatorOperation(w, r, c.AgentID.Value, api.Operation{Type: api.OperationReserve, Reserve: &api.ResourcesOperation{Resources: c.Resources}}, c.Resources)
	case "UNRESERVE_RESOURCES":
		c := call.UnreserveRes
		if c == nil {
			return missing("unreserve_resources")
		}
		m.operatorOperation(w, r, c.AgentID.Value, api.Operation{Type: api.OperationUnreserve, Unreserve: &api.ResourcesOperation{Resources: c.Resources}}, c.Resources)
	case "CREATE_VOLUMES":
		c := call.CreateVolumes
		if c == nil {
			return missing("create_volumes")
		}
		m.operatorOperation(w, r, c.AgentID.Value, api.Operation{Type: api.OperationCreate, Create: &api.VolumesOperation{Volumes: c.Volumes}}, c.Volumes)
	case "DESTROY_VOLUMES":
		c := call.DestroyVolumes
		if c == nil {
			return missing("destroy_volumes")
		}
		m.operatorOperation(w, r, c.AgentID.Value, api.Operation{Type: api.OperationDestroy, Destroy: &api.VolumesOperation{Volumes: c.Volumes}}, c.Volumes)
	case "TEARDOWN":
		if call.Teardown == nil || call.Teardown.FrameworkID.Value == "" {
			return missing("teardown.framework_id")
		}
		id := call.Teardown.FrameworkID.Value
		m.mu.Lock()
		owner, known := "", false
		if fw := m.frameworks[id]; fw != nil {
			owner, known = fw.info.Principal, true
		}
		m.mu.Unlock()
		if !known {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("operator call TEARDOWN: no framework found with id %q", id))
			return true
		}
		if !m.permit(w, r, auth.TeardownFrameworks, owner) {
			return true
		}
		m.answer(w, m.TeardownFramework(id))
	case "MARK_AGENT_GONE":
		if call.MarkAgentGone == nil || call.MarkAgentGone.AgentID.Value == "" {
			return missing("mark_agent_gone.agent_id")
		}
		id := call.MarkAgentGone.AgentID.Value
		if err := validateID(id); err != nil {
			writeError(w, http.StatusBadRequest, "operator call MARK_AGENT_GONE: agent id: "+err.Error())
			return true
		}
		if !m.permit(w, r, auth.MarkAgentsGone, id) {
			return true
		}
		m.answer(w, m.MarkGone(r.Context(), id))
	}
	return true
}

// operatorOperation checks and applies one resource operation on an
// agent, as the v0 endpoints do (reserve_http.go), answering 202.
func (m *Master) operatorOperation(w http.ResponseWriter, r *http.Request, agentID string, op api.Operation, rs api.Resources) {
	if agentID == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("operator call %s: 'agent_id' is missing", opCallName(op.Type)))
		return
	}
	if len(rs) == 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("operator call %s: no resources given", opCallName(op.Type)))
		return
	}
	if !m.permitOperation(w, r, op.Type, rs) {
		return
	}
	err := m.ApplyOperation(agentID, op)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusAccepted)
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, errStatus(err), err.Error())
	}
}

func opCallName(opType string) string {
	return map[string]string{
		api.OperationReserve: "RESERVE_RESOURCES", api.OperationUnreserve: "UNRESERVE_RESOURCES",
		api.OperationCreate: "CREATE_VOLUMES", api.OperationDestroy: "DESTROY_VOLUMES",
	}[opType]
}
