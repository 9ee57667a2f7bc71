package cluster

import (
	"encoding/json"
	"errors"
	"net/http"

	"nodectl/cluster/api"
)

// handleOperation serves the operator endpoints POST /master/reserve,
// /master/unreserve, /master/create-volumes and /master/destroy-volumes
// (form slaveId=, resources= or volumes= a JSON array of resources). As in
// Mesos: 202 once validated and applied on the master, 400 for missing or
// bad parameters or an unknown agent, 409 when the agent's free resources
// cannot satisfy the operation.
func (m *Master) handleOperation(opType, param string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "malformed form: "+err.Error())
			return
		}
		agentID := r.PostForm.Get("slaveId")
		if agentID == "" {
			agentID = r.PostForm.Get("agentId")
		}
		if agentID == "" {
			writeError(w, http.StatusBadRequest, "Missing 'slaveId' query parameter in the request body")
			return
		}
		raw := r.PostForm.Get(param)
		if raw == "" {
			writeError(w, http.StatusBadRequest, "Missing '"+param+"' query parameter in the request body")
			return
		}
		var rs api.Resources
		if err := json.Unmarshal([]byte(raw), &rs); err != nil {
			writeError(w, http.StatusBadRequest, "Error in parsing '"+param+"' query parameter: "+err.Error())
			return
		}
		if !m.permitOperation(w, r, opType, rs) {
			return
		}
		op := api.Operation{Type: opType}
		switch opType {
		case api.OperationReserve:
			op.Reserve = &api.ResourcesOperation{Resources: rs}
		case api.OperationUnreserve:
			op.Unreserve = &api.ResourcesOperation{Resources: rs}
		case api.OperationCreate:
			op.Create = &api.VolumesOperation{Volumes: rs}
		case api.OperationDestroy:
			op.Destroy = &api.VolumesOperation{Volumes: rs}
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
}
