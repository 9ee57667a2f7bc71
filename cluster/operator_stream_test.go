package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
	"nodectl/cluster/auth"
)

// opStream is an operator SUBSCRIBE stream read in a goroutine: each
// record decoded to Mesos JSON.
type opStream struct {
	t      *testing.T
	resp   *http.Response
	events chan map[string]any
}

// withPrincipal serves h with the principal named by the X-Test-Principal
// header (a superuser when it is "root").
func withPrincipal(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if who := r.Header.Get("X-Test-Principal"); who != "" {
			r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Name: who, Kind: auth.KindBasic, Superuser: who == "root"}))
		}
		h.ServeHTTP(w, r)
	})
}

// opSubscribe opens SUBSCRIBE on srv as who, in protobuf when proto.
func opSubscribe(t *testing.T, srv *httptest.Server, who string, proto bool) (*opStream, int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", "application/json")
	if proto {
		req.Header.Set("Accept", mesospb.MediaProtobuf)
	}
	if who != "" {
		req.Header.Set("X-Test-Principal", who)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode, string(b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); proto && ct != mesospb.MediaProtobuf || !proto && ct != mesospb.MediaJSON {
		t.Fatalf("Content-Type %q", ct)
	}
	s := &opStream{t: t, resp: resp, events: make(chan map[string]any, 1000)}
	go func() {
		defer close(s.events)
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			n, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				return
			}
			rec := make([]byte, n)
			if _, err := io.ReadFull(br, rec); err != nil {
				return
			}
			if proto {
				if rec, err = mesospb.ToJSON(mesospb.OperatorEvent, rec); err != nil {
					s.events <- map[string]any{"type": "DECODE_ERROR", "error": err.Error()}
					return
				}
			}
			var ev map[string]any
			if err := json.Unmarshal(rec, &ev); err != nil {
				s.events <- map[string]any{"type": "DECODE_ERROR", "error": err.Error()}
				return
			}
			s.events <- ev
		}
	}()
	return s, 200, ""
}

// next is the next event that is not a HEARTBEAT; nil when the stream ended.
func (s *opStream) next() map[string]any {
	s.t.Helper()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return nil
			}
			if ev["type"] == "DECODE_ERROR" {
				s.t.Fatalf("operator stream: %v", ev["error"])
			}
			if ev["type"] != "HEARTBEAT" {
				return ev
			}
		case <-time.After(30 * time.Second):
			s.t.Fatal("no operator event in 30s")
		}
	}
}

// expect reads events up to one of type typ and returns it; the types
// seen on the way are in skipped.
func (s *opStream) expect(typ string) map[string]any {
	s.t.Helper()
	var seen []string
	for {
		ev := s.next()
		if ev == nil {
			s.t.Fatalf("stream ended before %s (saw %v)", typ, seen)
		}
		if ev["type"] == typ {
			return ev
		}
		seen = append(seen, fmt.Sprint(ev["type"]))
	}
}

// TestOperatorSubscribe: in JSON and protobuf, the stream starts with
// SUBSCRIBED carrying the state, then tells of an agent, a framework and a
// task's whole life, and ends when the master stops leading.
func TestOperatorSubscribe(t *testing.T) {
	for _, proto := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "protobuf"}[proto], func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.HeartbeatInterval = 50 * time.Millisecond })
			a1 := h.agent("a1", "cpus:4;mem:1024")
			srv := httptest.NewServer(h.m.routes())
			t.Cleanup(srv.Close)
			s, code, body := opSubscribe(t, srv, "", proto)
			if code != 200 {
				t.Fatalf("SUBSCRIBE: %d %s", code, body)
			}
			sub := s.expect("SUBSCRIBED")
			if hb := dig(sub, "subscribed", "heartbeat_interval_seconds"); hb != 0.05 {
				t.Errorf("heartbeat_interval_seconds %v", hb)
			}
			agents, _ := dig(sub, "subscribed", "get_state", "get_agents", "agents").([]any)
			if len(agents) != 1 || dig(agents[0], "agent_info", "id", "value") != a1 {
				t.Errorf("SUBSCRIBED agents %v", agents)
			}
			a2 := h.agent("a2", "cpus:1;mem:64")
			if ev := s.expect("AGENT_ADDED"); dig(ev, "agent_added", "agent", "agent_info", "id", "value") != a2 {
				t.Errorf("AGENT_ADDED %v", ev)
			}
			must(t, h.m.MarkGone(t.Context(), a2))
			if ev := s.expect("AGENT_REMOVED"); dig(ev, "agent_removed", "agent_id", "value") != a2 {
				t.Errorf("AGENT_REMOVED %v", ev)
			}
			fw := h.subscribe(api.FrameworkInfo{User: "root", Role: "web"})
			if ev := s.expect("FRAMEWORK_ADDED"); dig(ev, "framework_added", "framework", "framework_info", "id", "value") != fw.id() {
				t.Errorf("FRAMEWORK_ADDED %v", ev)
			}
			o := fw.offer()
			fw.launch(o, mkTask("t1", "cpus:1;mem:64"))
			if ev := s.expect("TASK_ADDED"); dig(ev, "task_added", "task", "task_id", "value") != "t1" || dig(ev, "task_added", "task", "state") != "TASK_STAGING" {
				t.Errorf("TASK_ADDED %v", ev)
			}
			h.report(o.AgentID.Value, fw.id(), "t1", api.TaskRunning)
			if ev := s.expect("TASK_UPDATED"); dig(ev, "task_updated", "state") != "TASK_RUNNING" || dig(ev, "task_updated", "status", "task_id", "value") != "t1" ||
				dig(ev, "task_updated", "framework_id", "value") != fw.id() {
				t.Errorf("TASK_UPDATED %v", ev)
			}
			must(t, h.m.TeardownFramework(fw.id()))
			if ev := s.expect("TASK_UPDATED"); dig(ev, "task_updated", "state") != "TASK_KILLED" {
				t.Errorf("TASK_UPDATED %v", ev)
			}
			if ev := s.expect("FRAMEWORK_REMOVED"); dig(ev, "framework_removed", "framework_info", "id", "value") != fw.id() {
				t.Errorf("FRAMEWORK_REMOVED %v", ev)
			}
			// A HEARTBEAT comes every interval.
			for hb := false; !hb; {
				select {
				case ev := <-s.events:
					hb = ev["type"] == "HEARTBEAT"
				case <-time.After(30 * time.Second):
					t.Fatal("no HEARTBEAT")
				}
			}
			h.m.stepDown()
			for ev := s.next(); ev != nil; ev = s.next() {
				t.Logf("after stepping down: %v", ev["type"])
			}
		})
	}
}

// opACLs: ops may see frameworks and tasks and do every operator call;
// viewer sees frameworks but no tasks; nobody may read the endpoints.
const opACLs = `{"permissive": false,
	"get_endpoints": [{"principals": {"values": ["ops", "viewer"]}, "paths": {"type": "ANY"}}],
	"view_frameworks": [{"principals": {"values": ["ops", "viewer"]}, "users": {"type": "ANY"}}],
	"view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	"reserve_resources": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
	"unreserve_resources": [{"principals": {"values": ["ops"]}, "reserver_principals": {"type": "ANY"}}],
	"create_volumes": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}],
	"destroy_volumes": [{"principals": {"values": ["ops"]}, "creator_principals": {"type": "ANY"}}],
	"teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}],
	"mark_agents_gone": [{"principals": {"values": ["ops"]}, "agents": {"type": "ANY"}}]}`

func aclHarness(t *testing.T) *harness {
	acls, err := auth.ParseACLs(opACLs)
	must(t, err)
	return newHarness(t, func(c *Config) {
		c.Guard = auth.New(auth.Config{ACLs: acls})
		c.HeartbeatInterval = time.Hour
	})
}

// TestOperatorSubscribeACLs: a principal without view_tasks gets the
// framework's events but none of its task's. (The route's get_endpoints
// is the auth.Router's, checked in node/e2e's TestOperatorStreamDCOSClient.)
func TestOperatorSubscribeACLs(t *testing.T) {
	h := aclHarness(t)
	h.agent("a1", "cpus:4;mem:1024")
	srv := httptest.NewServer(withPrincipal(h.m.routes()))
	t.Cleanup(srv.Close)
	ops, _, _ := opSubscribe(t, srv, "ops", false)
	viewer, code, body := opSubscribe(t, srv, "viewer", false)
	if code != 200 {
		t.Fatalf("viewer subscribes: %d %s", code, body)
	}
	ops.expect("SUBSCRIBED")
	viewer.expect("SUBSCRIBED")
	fw := h.subscribe(api.FrameworkInfo{User: "root", Role: "web"})
	fw.launch(fw.offer(), mkTask("t1", "cpus:1;mem:64"))
	must(t, h.m.TeardownFramework(fw.id()))
	ops.expect("TASK_ADDED")
	ops.expect("FRAMEWORK_REMOVED")
	for _, want := range []string{"FRAMEWORK_ADDED", "FRAMEWORK_REMOVED"} {
		if ev := viewer.next(); ev["type"] != want {
			t.Fatalf("viewer got %v, want %s (no task events)", ev["type"], want)
		}
	}
}

// TestOperatorSubscriberTooSlow: a subscriber that does not read is
// dropped once its queue is full, not grown.
func TestOperatorSubscriberTooSlow(t *testing.T) {
	h := newHarness(t)
	s := &opSub{v: view{m: h.m, all: true}, events: make(chan []byte, opQueueLen), full: make(chan struct{})}
	h.m.mu.Lock()
	h.m.opSubs = map[*opSub]struct{}{s: {}}
	for i := 0; i <= opQueueLen; i++ {
		h.m.publishAgentRemovedLocked(fmt.Sprint("a", i))
	}
	_, still := h.m.opSubs[s]
	h.m.mu.Unlock()
	select {
	case <-s.full:
	default:
		t.Fatal("overflowing subscriber not told")
	}
	if still || len(s.events) != opQueueLen {
		t.Fatalf("subscriber kept: %v, queued %d", still, len(s.events))
	}
}

// TestOperatorMutatingCalls: each call needs its own ACL (403 without),
// and its effect shows in GET_AGENTS and GET_FRAMEWORKS; GROW_VOLUME and
// SHRINK_VOLUME are refused by name.
func TestOperatorMutatingCalls(t *testing.T) {
	h := aclHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024;disk:1000")
	mux := withPrincipal(h.m.routes())
	call := func(who, body string) (int, string) {
		t.Helper()
		req := httptest.NewRequest("POST", "/api/v1", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Test-Principal", who)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	res := mustRes(t, "cpus:1;disk:100").Reserve("ops", "ops", nil)
	vol := volumeOf(t, res, "v1")
	agentID := `{"value":"` + ag + `"}`
	reservedCPUs := func() float64 {
		_, out := operatorPost(t, h.m.routes(), "GET_AGENTS", "application/json")
		var got struct {
			GetAgents struct {
				Agents []struct {
					TotalResources api.Resources `json:"total_resources"`
				} `json:"agents"`
			} `json:"get_agents"`
		}
		must(t, json.Unmarshal([]byte(js(out)), &got))
		n := 0.0
		for _, r := range got.GetAgents.Agents[0].TotalResources {
			if r.Name == "cpus" && len(r.Reservations) > 0 {
				n += r.Scalar.Value
			}
		}
		return n
	}
	volumes := func() int {
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		return len(h.m.agents[ag].totalResources().Volumes())
	}
	steps := []struct {
		name, body string
		code       int
		check      func() bool
	}{
		{"reserve", `{"type":"RESERVE_RESOURCES","reserve_resources":{"agent_id":` + agentID + `,"resources":` + js(res) + `}}`, 202, func() bool { return reservedCPUs() == 1 }},
		{"create", `{"type":"CREATE_VOLUMES","create_volumes":{"agent_id":` + agentID + `,"volumes":` + js(vol) + `}}`, 202, func() bool { return volumes() == 1 }},
		{"destroy", `{"type":"DESTROY_VOLUMES","destroy_volumes":{"agent_id":` + agentID + `,"volumes":` + js(vol) + `}}`, 202, func() bool { return volumes() == 0 }},
		{"unreserve", `{"type":"UNRESERVE_RESOURCES","unreserve_resources":{"agent_id":` + agentID + `,"resources":` + js(res) + `}}`, 202, func() bool { return reservedCPUs() == 0 }},
	}
	for _, s := range steps {
		if code, body := call("viewer", s.body); code != http.StatusForbidden {
			t.Errorf("viewer %s: %d %s, want 403", s.name, code, body)
		}
		if code, body := call("ops", s.body); code != s.code || !s.check() {
			t.Fatalf("ops %s: %d %s, want %d and its effect", s.name, code, body, s.code)
		}
	}
	fw := h.subscribe(api.FrameworkInfo{User: "root", Role: "web", Principal: "ops"})
	teardown := `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"` + fw.id() + `"}}}`
	if code, body := call("viewer", teardown); code != http.StatusForbidden {
		t.Errorf("viewer TEARDOWN: %d %s", code, body)
	}
	if code, body := call("ops", teardown); code != 200 {
		t.Fatalf("ops TEARDOWN: %d %s", code, body)
	}
	_, fws := call("ops", `{"type":"GET_FRAMEWORKS"}`)
	var out map[string]any
	must(t, json.Unmarshal([]byte(fws), &out))
	if done, _ := dig(out, "get_frameworks", "completed_frameworks").([]any); len(done) != 1 {
		t.Errorf("after TEARDOWN: %v", out)
	}
	gone := `{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":` + agentID + `}}`
	if code, body := call("viewer", gone); code != http.StatusForbidden {
		t.Errorf("viewer MARK_AGENT_GONE: %d %s", code, body)
	}
	if code, body := call("ops", gone); code != 200 {
		t.Fatalf("ops MARK_AGENT_GONE: %d %s", code, body)
	}
	if _, out := operatorPost(t, h.m.routes(), "GET_AGENTS", "application/json"); len(dig(out, "get_agents", "agents").([]any)) != 0 {
		t.Errorf("after MARK_AGENT_GONE: %v", out)
	}
	for _, typ := range []string{"GROW_VOLUME", "SHRINK_VOLUME"} {
		if code, body := call("ops", `{"type":"`+typ+`"}`); code != 400 || !strings.Contains(body, typ+" is not supported") {
			t.Errorf("%s: %d %s", typ, code, body)
		}
	}
	if code, body := call("ops", `{"type":"TEARDOWN"}`); code != 400 || !strings.Contains(body, "framework_id") {
		t.Errorf("TEARDOWN without framework_id: %d %s", code, body)
	}
	// The calls come in protobuf too.
	rec := operatorProto(t, withPrincipal(h.m.routes()), `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"nope"}}}`, "application/json")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "no framework found") {
		t.Errorf("protobuf TEARDOWN: %d %s", rec.Code, rec.Body)
	}
}
