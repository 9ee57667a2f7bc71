package cluster

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

func TestSubscribeValidation(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		info api.FrameworkInfo
		msg  string
	}{
		{"no name", api.FrameworkInfo{}, "name is required"},
		{"bad id", api.FrameworkInfo{Name: "x", ID: &api.ID{Value: "../etc"}}, "framework_info.id"},
		{"negative failover", api.FrameworkInfo{Name: "x", FailoverTimeout: -1}, "failover_timeout"},
		{"roles without MULTI_ROLE", api.FrameworkInfo{Name: "x", Roles: []string{"a"}}, "MULTI_ROLE"},
		{"role and roles", api.FrameworkInfo{Name: "x", Role: "a", Roles: []string{"b"}, Capabilities: []api.Capability{{Type: api.CapabilityMultiRole}}}, "mutually exclusive"},
		{"bad role", api.FrameworkInfo{Name: "x", Role: "a b"}, "invalid character"},
		{"duplicate roles", api.FrameworkInfo{Name: "x", Roles: []string{"a", "a"}, Capabilities: []api.Capability{{Type: api.CapabilityMultiRole}}}, "twice"},
	} {
		_, err := h.m.Subscribe(SubscribeRequest{Info: tc.info, Sink: NewEventQueue()})
		if !errors.Is(err, ErrBadCall) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want ErrBadCall with %q", tc.name, err, tc.msg)
		}
	}
	_, err := h.m.Subscribe(SubscribeRequest{Info: api.FrameworkInfo{Name: "x"}, SuppressedRoles: []string{"r"}, Sink: NewEventQueue()})
	if !errors.Is(err, ErrBadCall) {
		t.Errorf("suppressing a role not held: %v", err)
	}
}

// A disconnected framework keeps its tasks for failover_timeout; a new
// subscription with its id takes over (the old one gets ERROR); after the
// timeout it is torn down.
func TestFrameworkFailover(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 60})
	fw.running(ag, "t1")
	h.advance(5 * time.Second)
	h.m.allocate()
	if len(offersOf(fw.events())) != 1 {
		t.Fatal("no outstanding offer")
	}

	// Failover onto a new subscription while the old is connected.
	q := NewEventQueue()
	info := api.FrameworkInfo{Name: "f", FailoverTimeout: 60, ID: &api.ID{Value: fw.id()}}
	sub2, err := h.m.Subscribe(SubscribeRequest{Info: info, Sink: q})
	must(t, err)
	old, oerr := fw.q.poll()
	if !errors.Is(oerr, ErrQueueClosed) || len(old) != 1 || old[0].Type != api.EventError || old[0].Error.Message != "Framework failed over" {
		t.Fatalf("old subscription got %v (%v), want ERROR and close", eventTypes(old), oerr)
	}
	if h.metric("master/outstanding_offers") != 0 {
		t.Error("the old scheduler's offer survived the failover")
	}
	if err := h.m.Kill(fw.sub, api.KillCall{TaskID: api.ID{Value: "t1"}}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("call on the old stream: %v, want ErrForbidden", err)
	}
	h.m.Unsubscribe(fw.sub) // the old stream ending changes nothing
	fw2 := &fwClient{h: h, sub: sub2, q: q}
	if evs := fw2.events(); len(evs) != 1 || evs[0].Type != api.EventSubscribed || evs[0].Subscribed.FrameworkID.Value != fw.id() {
		t.Fatalf("new subscription events %v", eventTypes(evs))
	}

	// Disconnect: offers go, the task stays; within the timeout it can
	// come back.
	h.m.allocate()
	fw2.events()
	h.m.Unsubscribe(sub2)
	if h.metric("master/outstanding_offers") != 0 || h.metric("master/frameworks_disconnected") != 1 {
		t.Errorf("after disconnect: outstanding_offers %v disconnected %v", h.metric("master/outstanding_offers"), h.metric("master/frameworks_disconnected"))
	}
	h.advance(59 * time.Second)
	if h.taskState(fw.id(), "t1") != api.TaskRunning {
		t.Fatal("task gone before the failover timeout")
	}
	h.advance(time.Second)
	if h.taskState(fw.id(), "t1") != "" {
		t.Fatal("framework not torn down after its failover timeout")
	}
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"SHUTDOWN_FRAMEWORK " + fw.id()})
	if _, err := h.m.Subscribe(SubscribeRequest{Info: info, Sink: NewEventQueue()}); !errors.Is(err, ErrFrameworkRemoved) {
		t.Fatalf("re-subscribe after teardown: %v, want ErrFrameworkRemoved", err)
	}
	if h.metric("master/tasks_killed") != 1 {
		t.Errorf("tasks_killed = %v", h.metric("master/tasks_killed"))
	}
}

func TestTeardown(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 3600})
	fw.running(ag, "t1", "t2")
	h.flush()
	if n := len(h.st.keys(taskPrefix(fw.id()))); n != 2 {
		t.Fatalf("%d task records, want 2", n)
	}
	must(t, h.m.Teardown(fw.sub))
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"SHUTDOWN_FRAMEWORK " + fw.id()})
	if _, err := fw.q.poll(); !errors.Is(err, ErrQueueClosed) {
		t.Errorf("subscription not closed: %v", err)
	}
	h.flush()
	if keys := append(h.st.keys(keyTasksPrefix), h.st.keys(keyFrameworksPrefix)...); len(keys) != 0 {
		t.Errorf("records left after teardown: %v", keys)
	}
	if h.metric("master/cpus_used") != 0 {
		t.Errorf("cpus_used %v after teardown", h.metric("master/cpus_used"))
	}
	// The agent's KILLED answers are acknowledged by the master.
	h.report(ag, fw.id(), "t1", api.TaskKilled)
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t1"})
	// Another framework gets the whole agent.
	g := h.subscribe(api.FrameworkInfo{Name: "g"})
	if o := g.offer(); o.Resources.Scalar("cpus") != 2 {
		t.Errorf("offer %s", o.Resources)
	}
	if err := h.m.TeardownFramework(fw.id()); !errors.Is(err, ErrBadCall) {
		t.Errorf("operator teardown of a removed framework: %v", err)
	}
	must(t, h.m.TeardownFramework(g.id()))
}

func TestFailoverTimeoutZeroTearsDownAtOnce(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "f"})
	fw.running(ag, "t1")
	h.m.Unsubscribe(fw.sub)
	if h.taskState(fw.id(), "t1") != "" {
		t.Fatal("framework with failover_timeout 0 survived its disconnection")
	}
}

// Reconciliation answers, case by case (https://mesos.apache.org/documentation/latest/reconciliation/).
func TestReconcile(t *testing.T) {
	h := newHarness(t, shortPings)
	ag := h.agent("a1", "cpus:2;mem:1024")
	gone := h.agent("a2", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 3600})
	pa := h.subscribe(api.FrameworkInfo{Name: "pa", FailoverTimeout: 3600, Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	fw.running(ag, "t1")
	h.advance(3 * time.Second)
	must(t, h.m.ping(ag))
	h.advance(3 * time.Second) // a2 is silent for 6s: unreachable
	must(t, h.m.Reconcile(fw.sub, api.ReconcileCall{}))
	us := fw.updates()
	if len(us) != 1 || us[0].TaskID.Value != "t1" || us[0].State != api.TaskRunning || us[0].Reason != api.ReasonReconciliation || us[0].UUID != nil {
		t.Fatalf("implicit reconciliation %v", us)
	}
	id := func(s string) *api.ID { return &api.ID{Value: s} }
	call := api.ReconcileCall{Tasks: []api.ReconcileTask{
		{TaskID: api.ID{Value: "t1"}},
		{TaskID: api.ID{Value: "x"}, AgentID: id(ag)},
		{TaskID: api.ID{Value: "y"}, AgentID: id(gone)},
		{TaskID: api.ID{Value: "z"}, AgentID: id("nobody")},
		{TaskID: api.ID{Value: "w"}},
	}}
	must(t, h.m.Reconcile(fw.sub, call))
	var got []string
	for _, st := range fw.updates() {
		got = append(got, st.TaskID.Value+" "+string(st.State))
	}
	wantStrings(t, "non-partition-aware", got, []string{"t1 TASK_RUNNING", "x TASK_LOST", "y TASK_LOST", "z TASK_LOST", "w TASK_LOST"})
	must(t, h.m.Reconcile(pa.sub, call))
	got = nil
	for _, st := range pa.updates() {
		got = append(got, st.TaskID.Value+" "+string(st.State))
	}
	wantStrings(t, "partition-aware", got, []string{"t1 TASK_UNKNOWN", "x TASK_GONE", "y TASK_UNREACHABLE", "z TASK_UNKNOWN", "w TASK_UNKNOWN"})

	// Case 2: after a leader change, an agent that has not re-registered
	// yet gets no answer for unknown tasks; known tasks keep their state.
	h.restart(shortPings)
	fwq := NewEventQueue()
	sub, err := h.m.Subscribe(SubscribeRequest{Info: api.FrameworkInfo{Name: "f", FailoverTimeout: 3600, ID: id(fw.id())}, Sink: fwq})
	must(t, err)
	f2 := &fwClient{h: h, sub: sub, q: fwq}
	f2.events()
	must(t, h.m.Reconcile(sub, api.ReconcileCall{Tasks: []api.ReconcileTask{{TaskID: api.ID{Value: "t1"}, AgentID: id(ag)}, {TaskID: api.ID{Value: "x"}, AgentID: id(ag)}}}))
	got = nil
	for _, st := range f2.updates() {
		got = append(got, st.TaskID.Value+" "+string(st.State))
	}
	wantStrings(t, "after failover", got, []string{"t1 TASK_RUNNING"})
}

// A new leader recovers frameworks and tasks from the store: tasks keep
// their last state while their agents have not re-registered, recovered
// agents get no offers until they do, and frameworks wait for their
// failover timeout.
func TestLeaderChangeRecovers(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 600, Checkpoint: true})
	fw.running(ag, "t1", "t2")
	must(t, h.m.Kill(fw.sub, api.KillCall{TaskID: api.ID{Value: "t2"}}))
	h.report(ag, fw.id(), "t1", api.TaskFinished)
	fw.ack(fw.update())
	short := h.subscribe(api.FrameworkInfo{Name: "short", FailoverTimeout: 1})
	h.restart()

	if got := h.taskState(fw.id(), "t2"); got != api.TaskRunning {
		t.Fatalf("t2 %q after the leader change, want RUNNING", got)
	}
	if got := h.taskState(fw.id(), "t1"); got != api.TaskFinished {
		t.Fatalf("completed t1 %q after the leader change", got)
	}
	if h.metric("master/frameworks_disconnected") != 2 || h.metric("master/tasks_running") != 1 {
		t.Errorf("frameworks_disconnected %v tasks_running %v", h.metric("master/frameworks_disconnected"), h.metric("master/tasks_running"))
	}
	g := h.subscribe(api.FrameworkInfo{Name: "g"})
	if os := g.offers(); len(os) != 0 {
		t.Fatal("offers from an agent that has not re-registered")
	}
	h.advance(time.Second)
	h.m.mu.Lock()
	_, shortThere := h.m.frameworks[short.id()]
	h.m.mu.Unlock()
	if shortThere {
		t.Error("framework with a 1s failover timeout survived 1s")
	}
	// The agent re-registers: the kill asked before the failover is sent.
	h.reregister(ag, "a1", "cpus:2;mem:1024",
		api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("t2", "cpus:0.1;mem:32"), State: api.TaskRunning})
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"KILL t2"})
	if o := g.offer(); o.Resources.Scalar("cpus") != 1.9 {
		t.Errorf("offer %s, want cpus:1.9 (t2 still holds 0.1)", o.Resources)
	}
	// The framework comes back with its id.
	f2 := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 600, ID: &api.ID{Value: fw.id()}})
	h.report(ag, fw.id(), "t2", api.TaskKilled)
	if st := f2.update(); st.State != api.TaskKilled {
		t.Fatalf("update %s", fmtStatus(st))
	}
}

// Writes are batched: many changes between two commits make one batch,
// and a key written twice is written once.
func TestWriteBehindCoalesces(t *testing.T) {
	st := newMemStore()
	w := newWriteBehind(st)
	w.put("/a", 1)
	w.put("/b", 1)
	w.put("/a", 2)
	w.del("/b")
	w.delPrefix("/p/")
	w.put("/p/x", 3)
	if w.backlog() != 4 {
		t.Fatalf("backlog %d, want 4 (a, b, prefix, p/x)", w.backlog())
	}
	must(t, w.flush(t.Context()))
	if st.commits != 1 || string(st.data["/a"]) != "2" || st.data["/b"] != nil || string(st.data["/p/x"]) != "3" {
		t.Fatalf("commits %d data %v", st.commits, st.data)
	}
	st.fail = errors.New("etcd down")
	w.put("/a", 3)
	if err := w.flush(t.Context()); err == nil {
		t.Fatal("flush succeeded against a failing store")
	}
	w.put("/c", 1)
	st.fail = nil
	must(t, w.flush(t.Context()))
	if string(st.data["/a"]) != "3" || string(st.data["/c"]) != "1" {
		t.Fatalf("retried batch lost: %v", st.data)
	}
}

func TestChunkOps(t *testing.T) {
	var ops []op
	for i := range 300 {
		ops = append(ops, op{kind: opPut, key: "/k/" + string(rune('a'+i%26)) + strings.Repeat("x", i)})
	}
	ops = append(ops, op{kind: opPut, key: "/dup"}, op{kind: opDelete, key: "/dup"}, op{kind: opDeletePrefix, key: "/k/"}, op{kind: opPut, key: "/k/new"})
	chunks := chunkOps(ops)
	var flat []op
	for _, c := range chunks {
		if len(c) > maxTxnOps {
			t.Fatalf("chunk of %d ops", len(c))
		}
		keys := map[string]bool{}
		for _, o := range c {
			if keys[o.key] {
				t.Fatalf("key %s twice in one txn", o.key)
			}
			keys[o.key] = true
		}
		flat = append(flat, c...)
	}
	if !slices.EqualFunc(flat, ops, func(a, b op) bool { return a.key == b.key && a.kind == b.kind }) {
		t.Fatal("chunks reorder ops")
	}
	if len(chunks) != 5 {
		t.Errorf("%d chunks, want 5 (128+128+45, dup delete, prefix split)", len(chunks))
	}
}

// Completed tasks are bounded per framework; the evicted leave etcd.
func TestCompletedTasksBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxCompletedTasksPerFramework = 3 })
	ag := h.agent("a1", "cpus:8;mem:4096")
	fw := h.subscribe(api.FrameworkInfo{Name: "f"})
	for i := range 7 {
		id := "t" + itoa(i)
		h.advance(5 * time.Second)
		fw.running(ag, id)
		h.report(ag, fw.id(), id, api.TaskFinished)
		fw.ack(fw.update())
	}
	h.flush()
	h.m.mu.Lock()
	var ids []string
	for _, t := range h.m.frameworks[fw.id()].completed {
		ids = append(ids, t.id())
	}
	h.m.mu.Unlock()
	wantStrings(t, "completed", ids, []string{"t4", "t5", "t6"})
	if keys := h.st.keys(taskPrefix(fw.id())); len(keys) != 3 {
		t.Errorf("task records %v, want the 3 kept", keys)
	}
	if h.taskState(fw.id(), "t0") != "" || h.taskState(fw.id(), "t6") != api.TaskFinished {
		t.Error("completed index out of step with the list")
	}
}
