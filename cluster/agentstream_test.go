package cluster

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// The agent side of the protocol over HTTP: the message stream delivers
// LAUNCH and ACKNOWLEDGE as JSON lines, with heartbeats; status updates
// are POSTed.
func TestAgentProtocolHTTP(t *testing.T) {
	h, srv := newHTTPHarness(t, func(c *Config) { c.AgentHeartbeatInterval = 20 * time.Millisecond })
	resp := post(t, srv.URL+api.PathRegister, `{"agent":{"hostname":"a1","ip":"127.0.0.1","port":5051,"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},{"name":"mem","type":"SCALAR","scalar":{"value":512}}]}}`, nil)
	var reg api.RegisterResponse
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("register: %s %v", resp.Status, err)
	}
	resp.Body.Close()

	stream, err := http.Get(srv.URL + api.PathStream + "?agent_id=" + reg.AgentID)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		t.Fatalf("stream: %s", stream.Status)
	}
	lines := bufio.NewScanner(stream.Body)
	next := func() api.AgentMessage {
		t.Helper()
		for lines.Scan() {
			var m api.AgentMessage
			if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
				t.Fatalf("line %q: %v", lines.Text(), err)
			}
			if m.Type != api.MsgHeartbeat {
				return m
			}
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return api.AgentMessage{}
	}

	// An idle stream carries HEARTBEATs.
	if !lines.Scan() || !strings.Contains(lines.Text(), api.MsgHeartbeat) {
		t.Fatalf("idle stream's first line %q (%v), want a HEARTBEAT", lines.Text(), lines.Err())
	}

	fw := h.subscribe(api.FrameworkInfo{Name: "f", Checkpoint: true})
	fw.launch(fw.offer(), mkTask("t1", "cpus:1;mem:64"))
	m := next()
	if m.Type != api.MsgLaunch || m.Launch.Task.TaskID.Value != "t1" || m.Launch.Task.AgentID.Value != reg.AgentID ||
		m.Launch.Framework.ID == nil || m.Launch.Framework.ID.Value != fw.id() || !m.Launch.Framework.Checkpoint {
		t.Fatalf("message %+v", m)
	}

	uuid := make16(7)
	body, _ := json.Marshal(api.StatusUpdate{AgentID: api.ID{Value: reg.AgentID}, FrameworkID: api.ID{Value: fw.id()},
		Status: api.TaskStatus{TaskID: api.ID{Value: "t1"}, State: api.TaskRunning, UUID: uuid}})
	resp = post(t, srv.URL+api.PathStatus, string(body), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status: %s", resp.Status)
	}
	fw.ack(fw.update())
	if m := next(); m.Type != api.MsgAcknowledge || string(m.Acknowledge.UUID) != string(uuid) {
		t.Fatalf("message %+v", m)
	}

	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"status of an unknown agent", api.PathStatus, `{"agent_id":{"value":"nope"},"framework_id":{"value":"f"},"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING"}}`, 404},
		{"status malformed", api.PathStatus, `{"agent_id":`, 400},
		{"status bad state", api.PathStatus, `{"agent_id":{"value":"` + reg.AgentID + `"},"framework_id":{"value":"f"},"status":{"task_id":{"value":"t"},"state":"RUNNING"}}`, 400},
		{"status bad uuid", api.PathStatus, `{"agent_id":{"value":"` + reg.AgentID + `"},"framework_id":{"value":"f"},"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"AAE="}}`, 400},
		{"register bad id", api.PathRegister, `{"agent":{"id":"../x","hostname":"a","port":1}}`, 400},
		{"register no host", api.PathRegister, `{"agent":{"port":1}}`, 400},
		{"register bad resources", api.PathRegister, `{"agent":{"hostname":"a","port":1,"resources":{"x":1}}}`, 400},
	} {
		resp := post(t, srv.URL+tc.path, tc.body, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s, want %d", tc.name, resp.Status, b, tc.want)
		}
	}
	unknown, err := http.Get(srv.URL + api.PathStream + "?agent_id=nope")
	if err != nil {
		t.Fatal(err)
	}
	unknown.Body.Close()
	if unknown.StatusCode != http.StatusNotFound {
		t.Errorf("stream of an unknown agent: %s", unknown.Status)
	}

	// A second stream of the agent replaces the first, which ends.
	second, err := http.Get(srv.URL + api.PathStream + "?agent_id=" + reg.AgentID)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Body.Close()
	for lines.Scan() {
	}
	// Re-registration ends the stream too, and the new one carries on.
	h.reregister(reg.AgentID, "a1", "cpus:2;mem:512", api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("t1", "cpus:1;mem:64"), State: api.TaskRunning})
	rest, _ := io.ReadAll(second.Body)
	for _, l := range strings.Split(strings.TrimSpace(string(rest)), "\n") {
		if l != "" && !strings.Contains(l, api.MsgHeartbeat) {
			t.Errorf("unexpected message on the replaced stream: %s", l)
		}
	}
}

func TestEventQueue(t *testing.T) {
	q := NewEventQueue()
	q.Send(api.Event{Type: "A"})
	q.Send(api.Event{Type: "B"})
	evs, err := q.Next(t.Context())
	if err != nil || len(evs) != 2 {
		t.Fatalf("%v %v", evs, err)
	}
	q.Send(api.Event{Type: "C"})
	q.Close()
	q.Send(api.Event{Type: "D"})
	if evs, err := q.Next(t.Context()); err != nil || len(evs) != 1 || evs[0].Type != "C" {
		t.Fatalf("%v %v", evs, err)
	}
	if _, err := q.Next(t.Context()); err != ErrQueueClosed {
		t.Fatalf("%v, want ErrQueueClosed", err)
	}
	slow := NewEventQueue()
	for range maxQueuedEvents + 1 {
		slow.Send(api.Event{Type: api.EventHeartbeat})
	}
	if _, err := slow.Next(t.Context()); err != ErrQueueOverflow {
		t.Fatalf("%v, want ErrQueueOverflow", err)
	}
}

// A batch of status updates is handled as that many single ones: each
// reaches the framework, and the ones the master refuses are named with
// their code.
func TestAgentStatusBatch(t *testing.T) {
	h, srv := newHTTPHarness(t)
	resp := post(t, srv.URL+api.PathRegister, `{"agent":{"hostname":"a1","ip":"127.0.0.1","port":5051,"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},{"name":"mem","type":"SCALAR","scalar":{"value":512}}]}}`, nil)
	var reg api.RegisterResponse
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("register: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	fw := h.subscribe(api.FrameworkInfo{Name: "f", Checkpoint: true})
	fw.launch(fw.offer(), mkTask("b1", "cpus:0.5;mem:64"), mkTask("b2", "cpus:0.5;mem:64"))

	upd := func(agent, task string, n byte) api.StatusUpdate {
		return api.StatusUpdate{AgentID: api.ID{Value: agent}, FrameworkID: api.ID{Value: fw.id()},
			Status: api.TaskStatus{TaskID: api.ID{Value: task}, State: api.TaskRunning, UUID: make16(n)}}
	}
	body, _ := json.Marshal(api.StatusBatch{Updates: []api.StatusUpdate{upd(reg.AgentID, "b1", 1), upd("nope", "b9", 2), upd(reg.AgentID, "b2", 3)}})
	resp = post(t, srv.URL+api.PathStatuses, string(body), nil)
	var res api.StatusBatchResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("batch: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	if res.Accepted != 2 || len(res.Refused) != 1 || res.Refused[0].TaskID != "b9" || res.Refused[0].Code != http.StatusNotFound {
		t.Fatalf("batch result %+v", res)
	}
	got := map[string]bool{}
	for _, u := range fw.updates() {
		got[u.TaskID.Value] = true
	}
	if !got["b1"] || !got["b2"] {
		t.Errorf("framework got updates for %v, want b1 and b2", got)
	}

	many := api.StatusBatch{Updates: make([]api.StatusUpdate, api.MaxStatusBatch+1)}
	big, _ := json.Marshal(many)
	for name, b := range map[string]string{"malformed": `{"updates":`, "oversized": string(big)} {
		resp := post(t, srv.URL+api.PathStatuses, b, nil)
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), `"message"`) {
			t.Errorf("%s batch: %s %s, want 400 with a message", name, resp.Status, msg)
		}
	}
}
