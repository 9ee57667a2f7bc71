package cluster

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
	"nodectl/cluster/auth"
)

// The operator calls DRAIN_AGENT, DEACTIVATE_AGENT and REACTIVATE_AGENT
// (drain.go), each under its own permission (Mesos' ACLs drain_agents,
// deactivate_agents, reactivate_agents; a drain with mark_gone also needs
// mark_agents_gone, as in Mesos), and GET_AGENTS / GET_STATE with each
// agent's deactivated and drain_info.

// agentRef is Mesos' AgentID.
type agentRef struct {
	Value string `json:"value"`
}

// drainCall is the part of an operator Call these calls read
// (master.proto's Call.DrainAgent, DeactivateAgent, ReactivateAgent).
type drainCall struct {
	Type       string `json:"type"`
	DrainAgent *struct {
		AgentID        *agentRef       `json:"agent_id"`
		MaxGracePeriod json.RawMessage `json:"max_grace_period,omitempty"`
		MarkGone       bool            `json:"mark_gone,omitempty"`
	} `json:"drain_agent,omitempty"`
	DeactivateAgent *struct {
		AgentID *agentRef `json:"agent_id"`
	} `json:"deactivate_agent,omitempty"`
	ReactivateAgent *struct {
		AgentID *agentRef `json:"agent_id"`
	} `json:"reactivate_agent,omitempty"`
}

// drainOperator serves the drain calls and GET_AGENTS / GET_STATE; false
// for other calls. The route's permission is get_endpoints: each drain
// call checks its own here.
func (m *Master) drainOperator(w http.ResponseWriter, r *http.Request, typ string, body []byte, protoAnswer bool) bool {
	switch typ {
	case "GET_AGENTS", "GET_STATE":
		m.drainDecoratedGet(w, r, typ, protoAnswer)
		return true
	case "DRAIN_AGENT", "DEACTIVATE_AGENT", "REACTIVATE_AGENT":
	default:
		return false
	}
	var call drainCall
	missing, ok := decodeOperatorCall(w, typ, body, &call)
	if !ok {
		return true
	}
	switch typ {
	case "DRAIN_AGENT":
		c := call.DrainAgent
		if c == nil {
			return missing("drain_agent")
		}
		if c.AgentID == nil || c.AgentID.Value == "" {
			return missing("drain_agent.agent_id")
		}
		grace, err := parseGrace(c.MaxGracePeriod)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("operator call DRAIN_AGENT: max_grace_period: %v", err))
			return true
		}
		if !m.permitAgent(w, r, auth.DrainAgents, c.AgentID.Value) || c.MarkGone && !m.permitAgent(w, r, auth.MarkAgentsGone, c.AgentID.Value) {
			return true
		}
		m.answer(w, m.DrainAgent(r.Context(), DrainAgentRequest{AgentID: c.AgentID.Value, MaxGracePeriod: grace, MarkGone: c.MarkGone}))
	case "DEACTIVATE_AGENT":
		c := call.DeactivateAgent
		if c == nil || c.AgentID == nil || c.AgentID.Value == "" {
			return missing("deactivate_agent.agent_id")
		}
		if m.permitAgent(w, r, auth.DeactivateAgents, c.AgentID.Value) {
			m.answer(w, m.DeactivateAgent(r.Context(), c.AgentID.Value))
		}
	case "REACTIVATE_AGENT":
		c := call.ReactivateAgent
		if c == nil || c.AgentID == nil || c.AgentID.Value == "" {
			return missing("reactivate_agent.agent_id")
		}
		if m.permitAgent(w, r, auth.ReactivateAgents, c.AgentID.Value) {
			m.answer(w, m.ReactivateAgent(r.Context(), c.AgentID.Value))
		}
	}
	return true
}

// permitAgent checks perm on agent id: an ACL may name the agent by id or
// by hostname.
func (m *Master) permitAgent(w http.ResponseWriter, r *http.Request, perm auth.Perm, id string) bool {
	m.mu.Lock()
	host := ""
	if a := m.agents[id]; a != nil {
		host = a.Info.Hostname
	}
	m.mu.Unlock()
	if host != "" && m.allowed(r, perm, host) {
		return true
	}
	return m.permit(w, r, perm, id)
}

// parseGrace reads max_grace_period in the forms clients send:
// google.protobuf.Duration as JSON ({"seconds": 600, "nanos": 0}, seconds
// also as a string), Mesos' DurationInfo ({"nanoseconds": N}), and
// duration strings ("600s", Mesos' "10mins").
func parseGrace(raw json.RawMessage) (*api.DurationInfo, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		d, err := api.ParseDuration(s) // Go's "600s" or Mesos' "10mins"
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q is not a duration (say \"30secs\", \"10mins\" or \"600s\")", s)
		}
		return &api.DurationInfo{Nanoseconds: int64(d)}, nil
	}
	var obj struct {
		Seconds     json.Number `json:"seconds"`
		Nanos       json.Number `json:"nanos"`
		Nanoseconds json.Number `json:"nanoseconds"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("want {\"seconds\": N} or a duration such as \"10mins\": %w", err)
	}
	num := func(n json.Number) (float64, error) {
		if n == "" {
			return 0, nil
		}
		return strconv.ParseFloat(string(n), 64)
	}
	sec, err := num(obj.Seconds)
	if err != nil {
		return nil, fmt.Errorf("seconds: %w", err)
	}
	nanos, err := num(obj.Nanos)
	if err != nil {
		return nil, fmt.Errorf("nanos: %w", err)
	}
	ns, err := num(obj.Nanoseconds)
	if err != nil {
		return nil, fmt.Errorf("nanoseconds: %w", err)
	}
	total := sec*1e9 + nanos + ns
	if math.IsNaN(total) || total < 0 || total > math.MaxInt64/2 {
		return nil, fmt.Errorf("%v ns is out of range", total)
	}
	return &api.DurationInfo{Nanoseconds: int64(total)}, nil
}

// drainDecoratedGet answers GET_AGENTS / GET_STATE with each agent's
// deactivated and drain_info, as the other GET_* calls are answered.
func (m *Master) drainDecoratedGet(w http.ResponseWriter, r *http.Request, typ string, protoAnswer bool) {
	if protoAnswer && !operatorProtobuf[typ] {
		writeError(w, http.StatusNotAcceptable, fmt.Sprintf("operator call %s is answered only in application/json yet", typ))
		return
	}
	h := m.operatorHandlers()[typ]
	out := h(r)
	agents := out
	if typ == "GET_STATE" {
		agents = out.(map[string]any)["get_agents"]
	}
	if body, ok := agents.(map[string]any); ok {
		list, _ := body["agents"].([]map[string]any)
		m.mu.Lock()
		for _, e := range list {
			info, _ := e["agent_info"].(map[string]any)
			id, _ := info["id"].(map[string]any)
			s, _ := id["value"].(string)
			if a := m.agents[s]; a != nil {
				m.drainJSONLocked(a, e)
			}
		}
		m.mu.Unlock()
	}
	resp := map[string]any{"type": typ, strings.ToLower(typ): out}
	if !protoAnswer {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	js, err := json.Marshal(resp)
	var body []byte
	if err == nil {
		body, err = mesospb.FromJSON(mesospb.OperatorResponse, js)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("operator call %s: encode protobuf: %v", typ, err))
		return
	}
	w.Header().Set("Content-Type", mesospb.MediaProtobuf)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
