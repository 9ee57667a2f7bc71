package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"nodectl/cluster/api"
)

// harness is a leading master on an in-memory store with a hand-driven
// clock: tests call allocate and tick themselves, so nothing runs behind
// their back.
type harness struct {
	t   testing.TB
	m   *Master
	st  *memStore
	now time.Time
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newHarness(t testing.TB, mod ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, st: newMemStore(), now: t0}
	h.start(mod...)
	return h
}

func (h *harness) start(mod ...func(*Config)) {
	h.t.Helper()
	cfg := Config{
		Port: 5050, IP: "127.0.0.1", Hostname: "master", Now: func() time.Time { return h.now },
		AgentPingTimeout: time.Hour, MaxAgentPingTimeouts: 5,
		Logger: slog.New(slog.NewTextHandler(testOutput(h.t), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, f := range mod {
		f(&cfg)
	}
	m, err := newMaster(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := m.becomeLeader(context.Background(), h.st, nil); err != nil {
		h.t.Fatal(err)
	}
	h.m = m
	h.t.Cleanup(m.stepDown)
}

func testOutput(t testing.TB) interface{ Write([]byte) (int, error) } {
	if tt, ok := t.(*testing.T); ok {
		return tt.Output()
	}
	return discard{}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// restart is a leader change: a new master recovers from the same store.
func (h *harness) restart(mod ...func(*Config)) {
	h.t.Helper()
	h.flush()
	h.m.stepDown()
	h.start(mod...)
}

func (h *harness) flush() {
	h.t.Helper()
	if err := h.m.wb.flush(context.Background()); err != nil {
		h.t.Fatalf("flush: %v", err)
	}
}

func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.now = h.now.Add(d)
	if err := h.m.tick(context.Background()); err != nil {
		h.t.Fatalf("tick: %v", err)
	}
}

// agent registers an agent with resources and returns its id.
func (h *harness) agent(host, res string, tasks ...api.AgentTask) string {
	h.t.Helper()
	return h.reregister("", host, res, tasks...)
}

func (h *harness) reregister(id, host, res string, tasks ...api.AgentTask) string {
	h.t.Helper()
	rs, err := api.ParseResources(res)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.m.register(api.RegisterRequest{
		Agent: api.AgentInfo{ID: id, Hostname: host, IP: "10.0.0.1", Port: 5051, Resources: rs},
		Tasks: tasks,
	})
	if err != nil {
		h.t.Fatalf("register %s: %v", host, err)
	}
	return resp.AgentID
}

// messages takes what the master queued for an agent.
func (h *harness) messages(agentID string) []api.AgentMessage {
	h.t.Helper()
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	a := h.m.agents[agentID]
	if a == nil {
		h.t.Fatalf("no agent %s", agentID)
		return nil
	}
	a.outbox.mu.Lock()
	defer a.outbox.mu.Unlock()
	out := a.outbox.msgs
	a.outbox.msgs = nil
	return out
}

func msgTypes(ms []api.AgentMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Type
		switch {
		case m.Kill != nil:
			out[i] += " " + m.Kill.TaskID.Value
		case m.Launch != nil:
			out[i] += " " + m.Launch.Task.TaskID.Value
		case m.Acknowledge != nil:
			out[i] += " " + m.Acknowledge.TaskID.Value
		case m.ShutdownFramework != nil:
			out[i] += " " + m.ShutdownFramework.FrameworkID.Value
		}
	}
	return out
}

// fwClient is a subscribed test framework.
type fwClient struct {
	h   *harness
	sub Subscription
	q   *EventQueue
}

func (h *harness) subscribe(info api.FrameworkInfo) *fwClient {
	h.t.Helper()
	if info.Name == "" {
		info.Name = "test"
	}
	q := NewEventQueue()
	sub, err := h.m.Subscribe(SubscribeRequest{Info: info, Sink: q})
	if err != nil {
		h.t.Fatalf("subscribe: %v", err)
	}
	f := &fwClient{h: h, sub: sub, q: q}
	if evs := f.events(); len(evs) == 0 || evs[0].Type != api.EventSubscribed {
		h.t.Fatalf("first events %v, want SUBSCRIBED", eventTypes(evs))
	}
	return f
}

func (f *fwClient) id() string { return f.sub.FrameworkID }

// events takes what the framework was sent so far.
func (f *fwClient) events() []api.Event {
	evs, _ := f.q.poll()
	return evs
}

func eventTypes(evs []api.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// offers allocates and returns the offers the framework got.
func (f *fwClient) offers() []api.Offer {
	f.h.m.allocate()
	var out []api.Offer
	for _, e := range f.events() {
		if e.Type == api.EventOffers {
			out = append(out, e.Offers.Offers...)
		}
	}
	return out
}

func (f *fwClient) offer() api.Offer {
	f.h.t.Helper()
	os := f.offers()
	if len(os) != 1 {
		f.h.t.Fatalf("got %d offers, want 1", len(os))
	}
	return os[0]
}

// updates returns the status updates among the framework's events.
func (f *fwClient) updates() []api.TaskStatus {
	var out []api.TaskStatus
	for _, e := range f.events() {
		if e.Type == api.EventUpdate {
			out = append(out, e.Update.Status)
		}
	}
	return out
}

func (f *fwClient) update() api.TaskStatus {
	f.h.t.Helper()
	us := f.updates()
	if len(us) != 1 {
		f.h.t.Fatalf("got %d updates %v, want 1", len(us), us)
	}
	return us[0]
}

func mkTask(id, res string, cmd ...string) api.TaskInfo {
	rs, err := api.ParseResources(res)
	if err != nil {
		panic(err)
	}
	c := "true"
	if len(cmd) > 0 {
		c = strings.Join(cmd, " ")
	}
	return api.TaskInfo{Name: id, TaskID: api.ID{Value: id}, Resources: rs, Command: &api.CommandInfo{Value: c}}
}

func (f *fwClient) launch(o api.Offer, tasks ...api.TaskInfo) {
	f.h.t.Helper()
	f.accept([]api.ID{o.ID}, tasks...)
}

func (f *fwClient) accept(ids []api.ID, tasks ...api.TaskInfo) {
	f.h.t.Helper()
	err := f.h.m.Accept(f.sub, api.AcceptCall{OfferIDs: ids, Operations: []api.Operation{{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: tasks}}}})
	if err != nil {
		f.h.t.Fatalf("accept: %v", err)
	}
}

func (f *fwClient) ack(st api.TaskStatus) {
	f.h.t.Helper()
	if err := f.h.m.Acknowledge(f.sub, api.AcknowledgeCall{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID}); err != nil {
		f.h.t.Fatalf("ack: %v", err)
	}
}

// report sends an agent status update with a fresh uuid and returns it.
func (h *harness) report(agentID, fwID, taskID string, state api.TaskState) api.StatusUpdate {
	h.t.Helper()
	u := uuid.New()
	up := api.StatusUpdate{AgentID: api.ID{Value: agentID}, FrameworkID: api.ID{Value: fwID}, Status: api.TaskStatus{
		TaskID: api.ID{Value: taskID}, State: state, Source: api.SourceExecutor, UUID: u[:], Timestamp: epoch(h.now),
	}}
	if err := h.m.statusUpdate(up); err != nil {
		h.t.Fatalf("status update %s %s: %v", taskID, state, err)
	}
	return up
}

func (h *harness) taskState(fwID, taskID string) api.TaskState {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	fw := h.m.frameworks[fwID]
	if fw == nil {
		return ""
	}
	if t := fw.tasks[taskID]; t != nil {
		return t.state
	}
	if t := fw.completedTask(taskID); t != nil {
		return t.state
	}
	return ""
}

func (h *harness) metric(name string) float64 {
	h.t.Helper()
	v, ok := h.m.metrics.Snapshot()[name]
	if !ok {
		h.t.Fatalf("no metric %s", name)
	}
	if r, ok := strings.CutSuffix(strings.TrimPrefix(name, "master/"), "_used"); ok {
		if want := h.usedByTasks(r); v != want {
			h.t.Fatalf("%s = %v, but the tasks holding resources in the allocator use %v", name, v, want)
		}
	}
	return v
}

// usedByTasks sums resource r over the live tasks whose resources are in
// the allocator, as master/<r>_used once did by walking them.
func (h *harness) usedByTasks(r string) float64 {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if !h.m.elected {
		return 0
	}
	var v float64
	for _, fw := range h.m.frameworks {
		for _, t := range fw.tasks {
			if !t.state.Terminal() && t.inAlloc {
				v += t.info.Resources.Scalar(r)
			}
		}
	}
	return math.Round(v*1000) / 1000
}

func wantStrings(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func fmtStatus(st api.TaskStatus) string {
	return fmt.Sprintf("%s %s %s", st.TaskID.Value, st.State, st.Reason)
}
