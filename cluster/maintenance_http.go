package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// The maintenance endpoints (Mesos' /maintenance/schedule,
// /maintenance/status, /machine/down, /machine/up, with and without
// /master) and operator calls (GET_MAINTENANCE_SCHEDULE,
// UPDATE_MAINTENANCE_SCHEDULE, GET_MAINTENANCE_STATUS, START_MAINTENANCE,
// STOP_MAINTENANCE). Each needs its Mesos ACL; a principal limited by
// ACLs to some machines sees only those and may change only those.

func (m *Master) maintenanceRoutes() []auth.Route {
	var rs []auth.Route
	both := func(method, path string, perm auth.Perm, h http.HandlerFunc) {
		rs = append(rs, auth.Route{Pattern: method + " " + path, Perm: perm, Handler: m.leaderOnly(h)},
			auth.Route{Pattern: method + " /master" + path, Perm: perm, Handler: m.leaderOnly(h)})
	}
	both("GET", "/maintenance/schedule", auth.GetMaintenanceSchedule, func(w http.ResponseWriter, r *http.Request) {
		s, err := m.visibleSchedule(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
	both("POST", "/maintenance/schedule", auth.UpdateMaintenanceSchedule, func(w http.ResponseWriter, r *http.Request) {
		var s api.MaintenanceSchedule
		if !readStrict(w, r, &s) {
			return
		}
		m.answer(w, m.updateSchedule(r, s))
	})
	both("GET", "/maintenance/status", auth.GetMaintenanceStatus, func(w http.ResponseWriter, r *http.Request) {
		s, err := m.visibleStatus(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
	both("POST", "/machine/down", auth.StartMaintenance, func(w http.ResponseWriter, r *http.Request) {
		var ids []api.MachineID
		if !readStrict(w, r, &ids) {
			return
		}
		m.answer(w, m.machinesCall(r, auth.StartMaintenance, ids, m.StartMaintenance))
	})
	both("POST", "/machine/up", auth.StopMaintenance, func(w http.ResponseWriter, r *http.Request) {
		var ids []api.MachineID
		if !readStrict(w, r, &ids) {
			return
		}
		m.answer(w, m.machinesCall(r, auth.StopMaintenance, ids, m.StopMaintenance))
	})
	return rs
}

// answer is 200 with no body, or the error.
func (m *Master) answer(w http.ResponseWriter, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// readStrict decodes a JSON body refusing unknown fields (never silently
// dropped) and trailing data.
func readStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("read body: %v", err))
		return false
	}
	if err := decodeStrict(body, v); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON: data after the value")
	}
	return nil
}

// permitMachines checks perm on every machine of ids.
func (m *Master) permitMachines(r *http.Request, perm auth.Perm, ids []api.MachineID) error {
	for _, id := range ids {
		n, err := normalizeMachine(id)
		if err != nil {
			return err
		}
		if !m.allowed(r, perm, n.String()) {
			p, _ := auth.From(r.Context())
			return fmt.Errorf("%w: principal '%s' may not %s on machine '%s'", errMaintForbidden, p.Name, perm, n)
		}
	}
	return nil
}

var errMaintForbidden = api.ErrForbidden

func (m *Master) machinesCall(r *http.Request, perm auth.Perm, ids []api.MachineID, do func(ctx context.Context, ids []api.MachineID) error) error {
	if err := m.permitMachines(r, perm, ids); err != nil {
		return err
	}
	return do(r.Context(), ids)
}

func (m *Master) updateSchedule(r *http.Request, s api.MaintenanceSchedule) error {
	cur, err := m.MaintenanceSchedule()
	if err != nil {
		return err
	}
	var ids []api.MachineID
	for _, sc := range []api.MaintenanceSchedule{cur, s} {
		for _, w := range sc.Windows {
			ids = append(ids, w.MachineIDs...)
		}
	}
	if err := m.permitMachines(r, auth.UpdateMaintenanceSchedule, ids); err != nil {
		return err
	}
	return m.UpdateMaintenanceSchedule(r.Context(), s)
}

// visibleSchedule is the schedule as r's principal may see it.
func (m *Master) visibleSchedule(r *http.Request) (api.MaintenanceSchedule, error) {
	s, err := m.MaintenanceSchedule()
	if err != nil {
		return s, err
	}
	out := api.MaintenanceSchedule{Windows: []api.MaintenanceWindow{}}
	for _, w := range s.Windows {
		var ids []api.MachineID
		for _, id := range w.MachineIDs {
			if m.allowed(r, auth.GetMaintenanceSchedule, id.String()) {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			w.MachineIDs = ids
			out.Windows = append(out.Windows, w)
		}
	}
	return out, nil
}

// visibleStatus is the status as r's principal may see it.
func (m *Master) visibleStatus(r *http.Request) (api.MaintenanceStatus, error) {
	s, err := m.MaintenanceStatus()
	if err != nil {
		return s, err
	}
	out := api.MaintenanceStatus{DrainingMachines: []api.DrainingMachine{}, DownMachines: []api.MachineID{}}
	for _, d := range s.DrainingMachines {
		if m.allowed(r, auth.GetMaintenanceStatus, d.ID.String()) {
			out.DrainingMachines = append(out.DrainingMachines, d)
		}
	}
	for _, id := range s.DownMachines {
		if m.allowed(r, auth.GetMaintenanceStatus, id.String()) {
			out.DownMachines = append(out.DownMachines, id)
		}
	}
	return out, nil
}

// maintenanceCall is the part of an operator Call the maintenance calls
// read (master.proto's Call.UpdateMaintenanceSchedule, StartMaintenance,
// StopMaintenance).
type maintenanceCall struct {
	Type                      string `json:"type"`
	UpdateMaintenanceSchedule *struct {
		Schedule api.MaintenanceSchedule `json:"schedule"`
	} `json:"update_maintenance_schedule,omitempty"`
	StartMaintenance *struct {
		Machines []api.MachineID `json:"machines"`
	} `json:"start_maintenance,omitempty"`
	StopMaintenance *struct {
		Machines []api.MachineID `json:"machines"`
	} `json:"stop_maintenance,omitempty"`
}

// maintenanceOperator serves the maintenance operator calls; false for
// other calls. The route's permission is get_endpoints: each call checks
// its own here.
func (m *Master) maintenanceOperator(w http.ResponseWriter, r *http.Request, typ string, body []byte, protoAnswer bool) bool {
	perms := map[string]auth.Perm{
		"GET_MAINTENANCE_SCHEDULE": auth.GetMaintenanceSchedule, "GET_MAINTENANCE_STATUS": auth.GetMaintenanceStatus,
		"UPDATE_MAINTENANCE_SCHEDULE": auth.UpdateMaintenanceSchedule, "START_MAINTENANCE": auth.StartMaintenance, "STOP_MAINTENANCE": auth.StopMaintenance,
	}
	perm, ok := perms[typ]
	if !ok {
		return false
	}
	if !m.permit(w, r, perm, "") {
		return true
	}
	var call maintenanceCall
	missing, ok := decodeOperatorCall(w, typ, body, &call)
	if !ok {
		return true
	}
	switch typ {
	case "GET_MAINTENANCE_SCHEDULE":
		s, err := m.visibleSchedule(r)
		if err != nil {
			writeErr(w, err)
			return true
		}
		m.writeOperatorAnswer(w, typ, map[string]any{"schedule": s}, protoAnswer) // operator_answer.go
	case "GET_MAINTENANCE_STATUS":
		s, err := m.visibleStatus(r)
		if err != nil {
			writeErr(w, err)
			return true
		}
		m.writeOperatorAnswer(w, typ, map[string]any{"status": s}, protoAnswer)
	case "UPDATE_MAINTENANCE_SCHEDULE":
		if call.UpdateMaintenanceSchedule == nil {
			return missing("update_maintenance_schedule")
		}
		m.answer(w, m.updateSchedule(r, call.UpdateMaintenanceSchedule.Schedule))
	case "START_MAINTENANCE":
		if call.StartMaintenance == nil {
			return missing("start_maintenance")
		}
		m.answer(w, m.machinesCall(r, perm, call.StartMaintenance.Machines, m.StartMaintenance))
	case "STOP_MAINTENANCE":
		if call.StopMaintenance == nil {
			return missing("stop_maintenance")
		}
		m.answer(w, m.machinesCall(r, perm, call.StopMaintenance.Machines, m.StopMaintenance))
	}
	return true
}

// decodeOperatorCall decodes an operator call's body into call, strictly
// (an unknown field is refused naming it). On failure it has answered 400
// and ok is false; missing answers 400 for an absent field of the call and
// returns true (handled), for the callers' switch.
func decodeOperatorCall(w http.ResponseWriter, typ string, body []byte, call any) (missing func(field string) bool, ok bool) {
	if err := decodeStrict(body, call); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("operator call %s: %v", typ, err))
		return nil, false
	}
	return func(field string) bool {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("operator call %s: '%s' is missing", typ, field))
		return true
	}, true
}
