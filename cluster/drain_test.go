package cluster

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
	"nodectl/cluster/auth"
)

// drainState is an agent's deactivated and drain_info.state from GET_AGENTS.
func (h *harness) drainState(id string) (deactivated bool, state string, grace int64) {
	h.t.Helper()
	code, body := h.serve("POST", "/api/v1", `{"type":"GET_AGENTS"}`)
	var resp struct {
		GetAgents struct {
			Agents []struct {
				AgentInfo struct {
					ID struct{ Value string } `json:"id"`
				} `json:"agent_info"`
				Deactivated bool `json:"deactivated"`
				DrainInfo   *struct {
					State  string `json:"state"`
					Config struct {
						MaxGracePeriod *api.DurationInfo `json:"max_grace_period"`
					} `json:"config"`
				} `json:"drain_info"`
			} `json:"agents"`
		} `json:"get_agents"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &resp) != nil {
		h.t.Fatalf("GET_AGENTS: %d %s", code, body)
	}
	for _, a := range resp.GetAgents.Agents {
		if a.AgentInfo.ID.Value == id {
			if a.DrainInfo != nil {
				state = a.DrainInfo.State
				if g := a.DrainInfo.Config.MaxGracePeriod; g != nil {
					grace = g.Nanoseconds
				}
			}
			return a.Deactivated, state, grace
		}
	}
	h.t.Fatalf("GET_AGENTS has no agent %s: %s", id, body)
	return
}

func offerAgents(os []api.Offer) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.AgentID.Value)
	}
	return out
}

// DRAIN_AGENT: the agent's offers are rescinded and it gets no more; the
// tasks of ordinary frameworks are killed with their grace period capped
// by max_grace_period and end with REASON_AGENT_DRAINING; tasks of a
// framework that replaces them itself (LabelReplacesOnDrain) are left to
// it. The state survives a leader change and a re-registration;
// REACTIVATE is refused while DRAINING; once no task is left the agent is
// DRAINED, and REACTIVATE makes it offered again.
func TestDrainAgent(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("a1", "cpus:4;mem:1024")
	plain := h.subscribe(api.FrameworkInfo{Name: "plain"})
	aware := h.subscribe(api.FrameworkInfo{Name: "aware", Labels: &api.Labels{Labels: []api.Label{{Key: LabelReplacesOnDrain, Value: "true"}}}})

	// plain runs p1 (kill policy 60 s) on a1, aware runs w1.
	o := plain.offer()
	p1 := mkTask("p1", "cpus:0.1;mem:32")
	p1.KillPolicy = &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: int64(time.Minute)}}
	plain.launch(o, p1)
	h.report(a1, plain.id(), "p1", api.TaskRunning)
	aware.running(a1, "w1")
	h.messages(a1)
	plain.events()
	h.advance(6 * time.Second) // the accept's filter is over
	outstanding := append(plain.offers(), aware.offers()...)
	if len(outstanding) == 0 {
		t.Fatal("no outstanding offer of a1 before the drain")
	}

	if code, body := h.serve("POST", "/api/v1", `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"`+a1+`"},"max_grace_period":{"seconds":10}}}`); code != 200 {
		t.Fatalf("DRAIN_AGENT: %d %s", code, body)
	}
	var rescinded int
	for _, f := range []*fwClient{plain, aware} {
		for _, e := range f.events() {
			if e.Type == api.EventRescind {
				rescinded++
			}
		}
	}
	if rescinded != len(outstanding) {
		t.Errorf("%d offers rescinded, want %d", rescinded, len(outstanding))
	}
	msgs := h.messages(a1)
	wantStrings(t, "messages to a1", msgTypes(msgs), []string{"KILL p1"})
	if g := msgs[0].Kill.GracePeriod; g == nil || g.Nanoseconds != int64(10*time.Second) {
		t.Errorf("kill grace %+v, want 10s (the task's 60s capped)", g)
	}
	if d, s, g := h.drainState(a1); !d || s != DrainDraining || g != int64(10*time.Second) {
		t.Errorf("GET_AGENTS: deactivated %v state %q grace %d", d, s, g)
	}
	h.advance(6 * time.Second)
	if os := append(plain.offers(), aware.offers()...); len(os) != 0 {
		t.Errorf("a draining agent offered: %v", offerAgents(os))
	}
	h.report(a1, plain.id(), "p1", api.TaskKilled)
	if st := plain.update(); st.State != api.TaskKilled || st.Reason != api.ReasonAgentDraining {
		t.Errorf("p1's update %s, want TASK_KILLED REASON_AGENT_DRAINING", fmtStatus(st))
	}
	h.advance(time.Second)
	if _, s, _ := h.drainState(a1); s != DrainDraining {
		t.Errorf("state %q with w1 still running, want DRAINING", s)
	}
	if code, body := h.serve("POST", "/api/v1", `{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"`+a1+`"}}}`); code != 400 || !strings.Contains(body, "DRAINING") {
		t.Errorf("REACTIVATE while DRAINING: %d %s", code, body)
	}

	// A leader change: the drain state is reloaded; the re-registered
	// agent stays unoffered.
	h.restart()
	h.reregister(a1, "a1", "cpus:4;mem:1024",
		api.AgentTask{FrameworkID: api.ID{Value: aware.id()}, Task: mkTask("w1", "cpus:0.1;mem:32"), State: api.TaskRunning})
	h.messages(a1)
	if d, s, _ := h.drainState(a1); !d || s != DrainDraining {
		t.Errorf("after the leader change: deactivated %v state %q", d, s)
	}
	plain = h.subscribe(api.FrameworkInfo{Name: "plain", ID: &api.ID{Value: plain.id()}})
	aware = h.subscribe(api.FrameworkInfo{Name: "aware", ID: &api.ID{Value: aware.id()}, Labels: &api.Labels{Labels: []api.Label{{Key: LabelReplacesOnDrain, Value: "true"}}}})
	h.advance(6 * time.Second)
	if os := append(plain.offers(), aware.offers()...); len(os) != 0 {
		t.Errorf("a draining agent offered after the leader change: %v", offerAgents(os))
	}
	if ms := msgTypes(h.messages(a1)); len(ms) != 0 {
		t.Errorf("messages to a1 after the leader change %v: w1 is its framework's to move", ms)
	}

	// The aware framework moves w1 itself.
	must(t, h.m.Kill(aware.sub, api.KillCall{TaskID: api.ID{Value: "w1"}}))
	h.report(a1, aware.id(), "w1", api.TaskKilled)
	if st := aware.update(); st.Reason == api.ReasonAgentDraining {
		t.Errorf("w1's update %s: its framework killed it", fmtStatus(st))
	}
	h.advance(time.Second)
	if d, s, _ := h.drainState(a1); !d || s != DrainDrained {
		t.Errorf("no task left: deactivated %v state %q, want DRAINED", d, s)
	}
	if code, body := h.serve("POST", "/api/v1", `{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"`+a1+`"}}}`); code != 200 {
		t.Fatalf("REACTIVATE_AGENT: %d %s", code, body)
	}
	if d, s, _ := h.drainState(a1); d || s != "" {
		t.Errorf("after REACTIVATE: deactivated %v state %q", d, s)
	}
	h.advance(6 * time.Second)
	if os := append(plain.offers(), aware.offers()...); len(os) == 0 {
		t.Error("a reactivated agent is not offered")
	}
	if code, body := h.serve("POST", "/api/v1", `{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"`+a1+`"}}}`); code != 400 || !strings.Contains(body, "not deactivated") {
		t.Errorf("REACTIVATE of an active agent: %d %s", code, body)
	}
}

// DEACTIVATE_AGENT stops offers and kills nothing; /state and /slaves
// show it; mark_gone removes a drained agent for good; bad calls are 400.
func TestDrainDeactivateAndMarkGone(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("a1", "cpus:1;mem:128")
	a2 := h.agent("a2", "cpus:1;mem:128")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.running(a1, "t1")
	if code, body := h.serve("POST", "/api/v1", `{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"`+a1+`"}}}`); code != 200 {
		t.Fatalf("DEACTIVATE_AGENT: %d %s", code, body)
	}
	if ms := msgTypes(h.messages(a1)); len(ms) != 0 {
		t.Errorf("deactivation sent %v", ms)
	}
	fw.events()
	h.advance(6 * time.Second)
	for _, id := range offerAgents(fw.offers()) {
		if id == a1 {
			t.Error("a deactivated agent offered")
		}
	}
	var ids []api.ID // fw's outstanding offers (a2's): declined for long
	h.m.mu.Lock()
	for id := range h.m.frameworks[fw.id()].offers {
		ids = append(ids, api.ID{Value: id})
	}
	h.m.mu.Unlock()
	refuse := 3600.0
	must(t, h.m.Decline(fw.sub, api.DeclineCall{OfferIDs: ids, Filters: &api.Filters{RefuseSeconds: &refuse}}))
	code, body := h.serve("GET", "/slaves", "")
	if code != 200 || !strings.Contains(body, `"deactivated":true`) {
		t.Errorf("/slaves: %d %s", code, body)
	}
	for _, c := range []struct{ body, want string }{
		{`{"type":"DRAIN_AGENT"}`, "'drain_agent' is missing"},
		{`{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"nope"}}}`, "unknown agent"},
		{`{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"` + a2 + `"},"max_grace_period":"soon"}}`, "not a duration"},
		{`{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"` + a2 + `"},"bogus":1}}`, "bogus"},
	} {
		if code, body := h.serve("POST", "/api/v1", c.body); code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 400 %q", c.body, code, body, c.want)
		}
	}
	pa := h.subscribe(api.FrameworkInfo{Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	h.advance(6 * time.Second)
	pa.running(a2, "g1")
	if code, body := h.serve("POST", "/api/v1", `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"`+a2+`"},"mark_gone":true,"max_grace_period":"1mins"}}`); code != 200 {
		t.Fatalf("DRAIN_AGENT mark_gone: %d %s", code, body)
	}
	if _, _, g := h.drainState(a2); g != int64(time.Minute) {
		t.Errorf("grace %d, want 1mins", g)
	}
	wantStrings(t, "messages to a2", msgTypes(h.messages(a2)), []string{"KILL g1"})
	h.advance(time.Second)
	if _, s, _ := h.drainState(a2); s != DrainDraining {
		t.Errorf("state %q with g1 running", s)
	}
	h.report(a2, pa.id(), "g1", api.TaskKilled)
	if st := pa.update(); st.State != api.TaskGoneByOperator || st.Reason != api.ReasonAgentDraining {
		t.Errorf("g1's update %s, want TASK_GONE_BY_OPERATOR (mark_gone)", fmtStatus(st))
	}
	if s := h.taskState(pa.id(), "g1"); s != api.TaskGoneByOperator {
		t.Errorf("g1's state %s", s)
	}
	h.advance(time.Second)
	h.m.mu.Lock()
	_, gone := h.m.removals.gone[a2]
	h.m.mu.Unlock()
	if !gone {
		t.Error("a drained agent with mark_gone is not gone")
	}
	h.m.mu.Lock()
	_, kept := h.m.drains[a2]
	h.m.mu.Unlock()
	if kept {
		t.Error("the drain state of a gone agent is kept")
	}
	// a1 stays deactivated across a leader change.
	h.restart()
	h.reregister(a1, "a1", "cpus:1;mem:128",
		api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("t1", "cpus:0.1;mem:32"), State: api.TaskRunning})
	fw = h.subscribe(api.FrameworkInfo{ID: &api.ID{Value: fw.id()}})
	h.advance(6 * time.Second)
	if os := fw.offers(); len(os) != 0 {
		t.Errorf("a deactivated agent offered after a leader change: %v", offerAgents(os))
	}
}

// Each call needs its own permission (Mesos' drain_agents,
// deactivate_agents, reactivate_agents; mark_gone also mark_agents_gone);
// an ACL may name the agent by hostname.
func TestDrainACLs(t *testing.T) {
	acls, err := auth.ParseACLs(`{"permissive": false,
		"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"type": "ANY"}}],
		"drain_agents": [{"principals": {"values": ["ops"]}, "agents": {"values": ["a1"]}}],
		"deactivate_agents": [{"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}}]}`)
	must(t, err)
	h := newHarness(t, func(c *Config) { c.Guard = auth.New(auth.Config{ACLs: acls}) })
	a1 := h.agent("a1", "cpus:1;mem:128")
	a2 := h.agent("a2", "cpus:1;mem:128")
	as := func(who, body string) (int, string) {
		t.Helper()
		req := httptest.NewRequest("POST", "/api/v1", strings.NewReader(body))
		req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Name: who, Kind: auth.KindBasic}))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.m.routes().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	drain := func(id, extra string) string {
		return `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"` + id + `"}` + extra + `}}`
	}
	if code, body := as("dev", drain(a1, "")); code != 403 || !strings.Contains(body, "drain_agents") {
		t.Errorf("dev drains: %d %s", code, body)
	}
	if code, body := as("ops", drain(a2, "")); code != 403 {
		t.Errorf("ops drains a2: %d %s", code, body)
	}
	if code, body := as("ops", drain(a1, `,"mark_gone":true`)); code != 403 || !strings.Contains(body, "mark_agents_gone") {
		t.Errorf("ops drains a1 with mark_gone: %d %s", code, body)
	}
	if code, body := as("ops", `{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"`+a1+`"}}}`); code != 403 || !strings.Contains(body, "reactivate_agents") {
		t.Errorf("ops reactivates: %d %s", code, body)
	}
	if code, body := as("ops", `{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"`+a2+`"}}}`); code != 200 {
		t.Errorf("ops deactivates a2: %d %s", code, body)
	}
	if code, body := as("ops", drain(a1, "")); code != 200 {
		t.Errorf("ops drains a1 (by hostname): %d %s", code, body)
	}
}

// The drain calls in protobuf (max_grace_period as a
// google.protobuf.Duration's fields), and GET_AGENTS' drain_info in
// protobuf.
func TestDrainProtobuf(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("a1", "cpus:1;mem:128")
	mux := h.m.routes()
	rec := operatorProto(t, mux, `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"`+a1+`"},"max_grace_period":{"seconds":7,"nanos":5},"mark_gone":false}}`, "application/json")
	if rec.Code != 200 {
		t.Fatalf("DRAIN_AGENT in protobuf: %d %s", rec.Code, rec.Body)
	}
	if _, s, g := h.drainState(a1); s != DrainDraining || g != 7e9+5 {
		t.Errorf("after a protobuf DRAIN_AGENT: state %q grace %d", s, g)
	}
	rec = operatorProto(t, mux, `{"type":"GET_AGENTS"}`, mesospb.MediaProtobuf)
	if rec.Code != 200 {
		t.Fatalf("GET_AGENTS in protobuf: %d %s", rec.Code, rec.Body)
	}
	js, err := mesospb.ToJSON(mesospb.OperatorResponse, rec.Body.Bytes())
	if err != nil || !strings.Contains(string(js), `"drain_info":{"config":{"mark_gone":false,"max_grace_period":{"nanoseconds":7000000005}},"state":"DRAINING"}`) ||
		!strings.Contains(string(js), `"deactivated":true`) {
		t.Errorf("GET_AGENTS in protobuf: %s %v", js, err)
	}
}
