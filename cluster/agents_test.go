package cluster

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"nodectl/cluster/api"
)

func shortPings(c *Config) { c.AgentPingTimeout, c.MaxAgentPingTimeouts = time.Second, 5 }

// running launches a task per id on agent ag and reports it RUNNING,
// acknowledged.
func (f *fwClient) running(ag string, ids ...string) {
	f.h.t.Helper()
	var ts []api.TaskInfo
	for _, id := range ids {
		ts = append(ts, mkTask(id, "cpus:0.1;mem:32"))
	}
	var o api.Offer
	for _, x := range f.offers() {
		if x.AgentID.Value == ag {
			o = x
		}
	}
	if o.ID.Value == "" {
		f.h.t.Fatalf("no offer from agent %s", ag)
	}
	f.launch(o, ts...)
	f.h.messages(ag)
	for _, id := range ids {
		f.h.report(ag, f.id(), id, api.TaskRunning)
	}
	for _, st := range f.updates() {
		f.ack(st)
	}
	f.h.messages(ag)
}

// An agent that stops pinging leaves the allocator, its offers are
// rescinded, and its tasks become TASK_LOST (TASK_UNREACHABLE for
// partition-aware frameworks). When it re-registers, partition-aware tasks
// resume; the others are killed (their framework has moved on).
func TestAgentInactiveAndBack(t *testing.T) {
	h := newHarness(t, shortPings)
	ag := h.agent("a1", "cpus:2;mem:1024")
	plain := h.subscribe(api.FrameworkInfo{Name: "plain"})
	plain.running(ag, "p1")
	pa := h.subscribe(api.FrameworkInfo{Name: "pa", Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	h.advance(5 * time.Second) // plain's decline filter ends
	must(t, h.m.ping(ag))
	pa.running(ag, "q1")
	must(t, h.m.ping(ag))
	h.m.allocate()
	if len(offersOf(plain.events())) != 1 {
		t.Fatal("no outstanding offer to rescind")
	}

	h.advance(5*time.Second + time.Millisecond)
	evs := plain.events()
	if len(evs) != 2 || evs[0].Type != api.EventRescind || evs[1].Type != api.EventUpdate {
		t.Fatalf("plain events %v, want RESCIND, UPDATE", eventTypes(evs))
	}
	if st := evs[1].Update.Status; st.State != api.TaskLost || st.Reason != api.ReasonAgentRemoved || st.UUID != nil {
		t.Fatalf("plain update %s", fmtStatus(st))
	}
	if st := pa.update(); st.State != api.TaskUnreachable || st.Reason != api.ReasonAgentRemoved {
		t.Fatalf("pa update %s", fmtStatus(st))
	}
	if os := plain.offers(); len(os) != 0 {
		t.Fatal("inactive agent offered")
	}
	if h.metric("master/tasks_unreachable") != 1 || h.metric("master/slaves_inactive") != 1 {
		t.Errorf("tasks_unreachable %v slaves_inactive %v", h.metric("master/tasks_unreachable"), h.metric("master/slaves_inactive"))
	}
	if err := h.m.ping(ag); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("ping of a removed agent: %v, want ErrUnknownAgent (register again)", err)
	}

	h.reregister(ag, "a1", "cpus:2;mem:1024",
		api.AgentTask{FrameworkID: api.ID{Value: plain.id()}, Task: mkTask("p1", "cpus:0.1;mem:32"), State: api.TaskRunning},
		api.AgentTask{FrameworkID: api.ID{Value: pa.id()}, Task: mkTask("q1", "cpus:0.1;mem:32"), State: api.TaskRunning})
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"KILL p1"})
	if st := pa.update(); st.State != api.TaskRunning || st.Reason != api.ReasonReconciliation {
		t.Fatalf("pa update after re-registration %s", fmtStatus(st))
	}
	if got := h.taskState(plain.id(), "p1"); got != api.TaskLost {
		t.Errorf("plain task %s until the agent reports the kill", got)
	}
	h.report(ag, plain.id(), "p1", api.TaskKilled)
	if got := h.taskState(plain.id(), "p1"); got != api.TaskKilled {
		t.Errorf("plain task %s after KILLED", got)
	}
	if h.metric("master/cpus_used") != 0.1 {
		t.Errorf("cpus_used %v, want q1's 0.1", h.metric("master/cpus_used"))
	}
}

// Re-registration reconciles (Mesos: https://mesos.apache.org/documentation/latest/agent-recovery/): tasks the agent lost become
// TASK_LOST with REASON_RECONCILIATION; kills asked for while it was away
// are re-sent; frameworks gone are shut down; tasks the master lost track
// of are adopted.
func TestReregistrationReconciles(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:4;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.running(ag, "lost", "kill-me", "keep")
	must(t, h.m.Kill(fw.sub, api.KillCall{TaskID: api.ID{Value: "kill-me"}}))
	// The KILL was queued but the stream broke before it was read.
	h.messages(ag)
	h.m.mu.Lock()
	h.m.frameworks[fw.id()].tasks["keep"].state = api.TaskStarting // the agent is ahead
	h.m.live[api.TaskRunning]--
	h.m.live[api.TaskStarting]++
	h.m.mu.Unlock()

	h.reregister(ag, "a1", "cpus:4;mem:1024",
		api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("kill-me", "cpus:0.1;mem:32"), State: api.TaskRunning},
		api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("keep", "cpus:0.1;mem:32"), State: api.TaskRunning},
		api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("stray", "cpus:1;mem:32"), State: api.TaskRunning},
		api.AgentTask{FrameworkID: api.ID{Value: "gone"}, Task: mkTask("orphan", "cpus:1;mem:32"), State: api.TaskRunning},
	)
	got := msgTypes(h.messages(ag))
	slices.Sort(got)
	wantStrings(t, "messages", got, []string{"KILL kill-me", "SHUTDOWN_FRAMEWORK gone"})
	st := fw.update()
	if st.TaskID.Value != "lost" || st.State != api.TaskLost || st.Reason != api.ReasonReconciliation {
		t.Fatalf("update %s", fmtStatus(st))
	}
	if got := h.taskState(fw.id(), "stray"); got != api.TaskRunning {
		t.Errorf("stray task %q, want adopted RUNNING", got)
	}
	if got := h.taskState(fw.id(), "keep"); got != api.TaskRunning {
		t.Errorf("keep %s, want the agent's RUNNING", got)
	}
	// used: kill-me 0.1 + keep 0.1 + stray 1 (orphan is not the allocator's).
	if got := h.metric("master/cpus_used"); got != 1.2 {
		t.Errorf("cpus_used %v, want 1.2", got)
	}
	h.now = h.now.Add(time.Minute)
	if o := fw.offer(); o.Resources.Scalar("cpus") != 2.8 {
		t.Errorf("offer after re-registration %s, want cpus 2.8 (orphan's cpus held by nobody)", o.Resources)
	}
}

// An agent that lost its id registers anew at the same address: the old
// agent's tasks are gone.
func TestAgentReplacedByNewID(t *testing.T) {
	h := newHarness(t)
	old := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.running(old, "t1")
	nu := h.agent("a1", "cpus:2;mem:1024")
	if nu == old {
		t.Fatal("same id")
	}
	if st := fw.update(); st.State != api.TaskLost || st.Reason != api.ReasonAgentRemoved {
		t.Fatalf("update %s", fmtStatus(st))
	}
	h.m.mu.Lock()
	_, still := h.m.agents[old]
	h.m.mu.Unlock()
	if still {
		t.Error("old agent still registered")
	}
}

// An agent that re-registers unchanged, with a new leader or after its
// stream broke, is admitted without a registry write (Mesos has no
// registrar operation for it); one whose info changed is written before it
// is admitted, as at its first registration.
func TestReregistrationUnchangedWritesNothing(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:4;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{FailoverTimeout: 3600})
	fw.running(ag, "t1")
	h.restart()
	before, ok := h.registryEntry(ag)
	if !ok {
		t.Fatal("agent not in the registry")
	}
	commits := func() int {
		h.st.mu.Lock()
		defer h.st.mu.Unlock()
		return h.st.commits
	}
	h.flush()
	n := commits()
	h.now = h.now.Add(time.Minute)
	task := api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("t1", "cpus:0.1;mem:32"), State: api.TaskRunning}
	h.reregister(ag, "a1", "cpus:4;mem:1024", task)
	h.flush()
	if got := commits(); got != n {
		t.Errorf("%d commits to re-admit an unchanged agent with its unchanged task, want none", got-n)
	}
	if after, _ := h.registryEntry(ag); !reflect.DeepEqual(after, before) {
		t.Errorf("registry entry changed: %+v, was %+v", after, before)
	}
	// The master knows when it re-registered all the same.
	h.m.mu.Lock()
	re := h.m.agents[ag].ReregisteredTime
	h.m.mu.Unlock()
	if re == nil || !re.Equal(h.now) {
		t.Errorf("reregistered_time %v, want %v", re, h.now)
	}
	if got := h.metric("master/slaves_active"); got != 1 {
		t.Errorf("slaves_active %v", got)
	}

	// Changed resources are written.
	h.now = h.now.Add(time.Minute)
	h.reregister(ag, "a1", "cpus:8;mem:1024", task)
	e, _ := h.registryEntry(ag)
	if got := e.Info.Resources.Scalar("cpus"); got != 8 {
		t.Errorf("registry holds cpus %v, want the new 8", got)
	}
	if e.ReregisteredTime == nil || !e.ReregisteredTime.Equal(h.now) || !e.RegisteredTime.Equal(before.RegisteredTime) {
		t.Errorf("registry times %v / %v, want %v / %v", e.RegisteredTime, e.ReregisteredTime, before.RegisteredTime, h.now)
	}
}
