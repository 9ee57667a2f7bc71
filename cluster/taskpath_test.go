package cluster

import (
	"unsafe"

	"errors"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// The whole path of one task: offer, accept, launch, updates forwarded and
// acknowledged, resources back to the allocator.
func TestTaskLifecycle(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "f"})
	o := fw.offer()
	if o.AgentID.Value != ag || !o.Resources.Equal(mustRes(t, "cpus:2;mem:1024")) {
		t.Fatalf("offer %+v", o)
	}
	fw.launch(o, mkTask("t1", "cpus:0.5;mem:128"))
	wantStrings(t, "agent messages", msgTypes(h.messages(ag)), []string{"LAUNCH t1"})
	if got := h.taskState(fw.id(), "t1"); got != api.TaskStaging {
		t.Fatalf("state %s, want STAGING", got)
	}
	// What the launch did not use is declined for 5s; nothing else is free.
	if os := fw.offers(); len(os) != 0 {
		t.Fatalf("offers %v while the rest is filtered", os)
	}
	if got := h.metric("master/cpus_used"); got != 0.5 {
		t.Errorf("cpus_used = %v", got)
	}

	h.report(ag, fw.id(), "t1", api.TaskStarting)
	up := h.report(ag, fw.id(), "t1", api.TaskRunning)
	us := fw.updates()
	if len(us) != 2 || us[1].State != api.TaskRunning || string(us[1].UUID) != string(up.Status.UUID) {
		t.Fatalf("updates %v", us)
	}
	fw.ack(us[0])
	fw.ack(us[1])
	wantStrings(t, "agent messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t1", "ACKNOWLEDGE t1"})
	if h.metric("master/tasks_running") != 1 {
		t.Errorf("tasks_running = %v", h.metric("master/tasks_running"))
	}

	h.report(ag, fw.id(), "t1", api.TaskFinished)
	fin := fw.update()
	if fin.State != api.TaskFinished {
		t.Fatalf("update %v", fin)
	}
	// The task stays live until its terminal update is acknowledged.
	h.m.mu.Lock()
	live := len(h.m.frameworks[fw.id()].tasks)
	h.m.mu.Unlock()
	if live != 1 {
		t.Fatalf("%d live tasks before the ack, want 1", live)
	}
	fw.ack(fin)
	h.m.mu.Lock()
	live, done := len(h.m.frameworks[fw.id()].tasks), len(h.m.frameworks[fw.id()].completed)
	h.m.mu.Unlock()
	if live != 0 || done != 1 {
		t.Fatalf("live %d completed %d after the ack", live, done)
	}
	if h.metric("master/tasks_finished") != 1 || h.metric("master/tasks_running") != 0 || h.metric("master/cpus_used") != 0 {
		t.Errorf("metrics after finish: finished %v running %v cpus_used %v", h.metric("master/tasks_finished"), h.metric("master/tasks_running"), h.metric("master/cpus_used"))
	}
	// The task's resources are free again: more than the filtered rest,
	// so the filter does not cover them and the agent is offered at once.
	o = fw.offer()
	if !o.Resources.Equal(mustRes(t, "cpus:2;mem:1024")) {
		t.Errorf("re-offer %s", o.Resources)
	}
	if h.metric("master/valid_status_updates") != 3 || h.metric("master/messages_launch_tasks") != 1 {
		t.Errorf("valid updates %v launches %v", h.metric("master/valid_status_updates"), h.metric("master/messages_launch_tasks"))
	}
}

func mustRes(t testing.TB, s string) api.Resources {
	t.Helper()
	rs, err := api.ParseResources(s)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Invalid launches get a master-generated update saying what was wrong,
// and the offer's resources go back.
func TestAcceptValidation(t *testing.T) {
	noCmd := mkTask("nocmd", "cpus:0.1")
	noCmd.Command = nil
	emptyShell := mkTask("empty", "cpus:0.1")
	emptyShell.Command.Value = "  "
	badRes := mkTask("badres", "cpus:0.1")
	badRes.Resources = api.Resources{{Name: "cpus", Type: api.Scalar, Scalar: &api.ScalarVal{Value: -1}}}
	wrongAgent := mkTask("wrongagent", "cpus:0.1")
	wrongAgent.AgentID = api.ID{Value: "elsewhere"}
	badImage := mkTask("badimage", "cpus:0.1")
	badImage.Container = &api.ContainerInfo{Type: "MESOS", Mesos: &api.MesosContainer{Image: &api.Image{Type: "DOCKER"}}}
	noRes := mkTask("nores", "cpus:0.1")
	noRes.Resources = nil
	for _, tc := range []struct {
		name   string
		task   api.TaskInfo
		reason string
		msg    string
	}{
		{"empty id", mkTask("", "cpus:0.1"), api.ReasonTaskInvalid, "id is empty"},
		{"slash in id", mkTask("a/b", "cpus:0.1"), api.ReasonTaskInvalid, `contains '/'`},
		{"dot dot", mkTask("..", "cpus:0.1"), api.ReasonTaskInvalid, "not allowed"},
		{"no command", noCmd, api.ReasonTaskInvalid, "no command"},
		{"empty shell command", emptyShell, api.ReasonTaskInvalid, "command.value is empty"},
		{"negative resources", badRes, api.ReasonTaskInvalid, "resources are invalid"},
		{"no resources", noRes, api.ReasonTaskInvalid, "uses no resources"},
		{"too much", mkTask("huge", "cpus:100"), api.ReasonTaskInvalid, "more resources"},
		{"other agent", wrongAgent, api.ReasonTaskInvalid, "names agent elsewhere"},
		{"image without name", badImage, api.ReasonTaskInvalid, "docker.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.agent("a1", "cpus:2;mem:1024")
			fw := h.subscribe(api.FrameworkInfo{})
			fw.launch(fw.offer(), tc.task)
			st := fw.update()
			if st.State != api.TaskError || st.Reason != tc.reason || st.Source != api.SourceMaster || !strings.Contains(st.Message, tc.msg) {
				t.Fatalf("update %s %q, want TASK_ERROR %s with %q", fmtStatus(st), st.Message, tc.reason, tc.msg)
			}
			if h.metric("master/tasks_error") != 1 {
				t.Errorf("tasks_error = %v", h.metric("master/tasks_error"))
			}
			// Nothing was launched; the whole offer was declined for 5s.
			h.now = h.now.Add(5 * time.Second)
			if o := fw.offer(); !o.Resources.Equal(mustRes(t, "cpus:2;mem:1024")) {
				t.Errorf("re-offer %s", o.Resources)
			}
		})
	}
}

func TestAcceptDuplicateTaskIDs(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.launch(fw.offer(), mkTask("t", "cpus:0.1"), mkTask("t", "cpus:0.1"))
	st := fw.update()
	if st.State != api.TaskError || !strings.Contains(st.Message, "already has a task") {
		t.Fatalf("second task: %s %q", fmtStatus(st), st.Message)
	}
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"LAUNCH t"})
	h.advance(5 * time.Second)
	fw.launch(fw.offer(), mkTask("t", "cpus:0.1"))
	if st := fw.update(); st.State != api.TaskError {
		t.Fatalf("relaunch of a live id: %s", fmtStatus(st))
	}
}

func TestAcceptInvalidOffers(t *testing.T) {
	h := newHarness(t)
	h.agent("a1", "cpus:2;mem:1024")
	h.agent("a2", "cpus:2;mem:1024")
	a := h.subscribe(api.FrameworkInfo{Name: "a"})
	b := h.subscribe(api.FrameworkInfo{Name: "b", Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	h.m.allocate()
	ao, bo := offersOf(a.events()), offersOf(b.events())
	if len(ao) != 1 || len(bo) != 1 {
		t.Fatalf("offers a %d b %d, want one each", len(ao), len(bo))
	}
	for _, tc := range []struct {
		name string
		fw   *fwClient
		ids  []api.ID
		msg  string
	}{
		{"unknown", a, []api.ID{{Value: "nope"}}, "offer nope is no longer valid"},
		{"another framework's", a, []api.ID{bo[0].ID}, "belongs to another framework"},
		{"none", b, nil, "no offer ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fw.accept(tc.ids, mkTask("x-"+tc.name, "cpus:0.1"))
			st := tc.fw.update()
			want := api.TaskLost
			if tc.fw == b {
				want = api.TaskDropped
			}
			if st.State != want || st.Reason != api.ReasonInvalidOffers || !strings.Contains(st.Message, tc.msg) {
				t.Fatalf("update %s %q, want %s with %q", fmtStatus(st), st.Message, want, tc.msg)
			}
		})
	}
	// b's offer was not consumed by a's attempt to use it.
	b.launch(bo[0], mkTask("ok", "cpus:0.1"))
	if us := b.updates(); len(us) != 0 {
		t.Fatalf("valid launch answered %v", us)
	}
}

// Offers of two agents cannot be used together: both are consumed and the
// tasks lost.
func TestAcceptOffersSpanningAgents(t *testing.T) {
	h := newHarness(t)
	h.agent("a1", "cpus:2;mem:1024")
	h.agent("a2", "cpus:2;mem:1024")
	a := h.subscribe(api.FrameworkInfo{})
	ao := a.offers()
	if len(ao) != 2 {
		t.Fatalf("got %d offers, want both agents", len(ao))
	}
	a.accept([]api.ID{ao[0].ID, ao[1].ID}, mkTask("span", "cpus:0.1"))
	if st := a.update(); st.State != api.TaskLost || !strings.Contains(st.Message, "different agents") {
		t.Fatalf("spanning accept: %s %q", fmtStatus(st), st.Message)
	}
	if h.metric("master/outstanding_offers") != 0 {
		t.Errorf("outstanding_offers = %v", h.metric("master/outstanding_offers"))
	}
	// Given back without a filter.
	if os := a.offers(); len(os) != 2 {
		t.Errorf("re-offered %d, want 2", len(os))
	}
}

func offersOf(evs []api.Event) []api.Offer {
	var out []api.Offer
	for _, e := range evs {
		if e.Type == api.EventOffers {
			out = append(out, e.Offers.Offers...)
		}
	}
	return out
}

func TestDeclineFilters(t *testing.T) {
	h := newHarness(t)
	h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	o := fw.offer()
	must(t, h.m.Decline(fw.sub, api.DeclineCall{OfferIDs: []api.ID{o.ID}}))
	h.advance(4999 * time.Millisecond)
	if os := fw.offers(); len(os) != 0 {
		t.Fatalf("re-offered within the default 5s filter")
	}
	h.advance(time.Millisecond)
	o = fw.offer()
	zero := 0.0
	must(t, h.m.Decline(fw.sub, api.DeclineCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &zero}}))
	o = fw.offer() // no filter
	hour := 3600.0
	must(t, h.m.Decline(fw.sub, api.DeclineCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &hour}}))
	h.advance(time.Minute)
	if os := fw.offers(); len(os) != 0 {
		t.Fatal("re-offered within a 1h filter")
	}
	// REVIVE clears filters; SUPPRESS stops offers.
	must(t, h.m.Revive(fw.sub, nil))
	o = fw.offer()
	must(t, h.m.Decline(fw.sub, api.DeclineCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &zero}}))
	must(t, h.m.Suppress(fw.sub, nil))
	if os := fw.offers(); len(os) != 0 {
		t.Fatal("offered while suppressed")
	}
	if err := h.m.Suppress(fw.sub, []string{"other"}); !errors.Is(err, ErrBadCall) {
		t.Errorf("suppress of a role the framework lacks: %v", err)
	}
	must(t, h.m.Revive(fw.sub, []string{"*"}))
	if os := fw.offers(); len(os) != 1 {
		t.Fatal("no offer after REVIVE")
	}
}

func TestOfferTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.OfferTimeout = 10 * time.Second })
	h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	o := fw.offer()
	h.advance(9 * time.Second)
	if evs := fw.events(); len(evs) != 0 {
		t.Fatalf("events before the timeout: %v", eventTypes(evs))
	}
	h.advance(time.Second)
	evs := fw.events()
	if len(evs) != 1 || evs[0].Type != api.EventRescind || evs[0].Rescind.OfferID != o.ID {
		t.Fatalf("events %v, want RESCIND %s", eventTypes(evs), o.ID.Value)
	}
	// A rescind sets no filter.
	if os := fw.offers(); len(os) != 1 {
		t.Fatal("not re-offered after the rescind")
	}
	if h.metric("master/outstanding_offers") != 1 {
		t.Errorf("outstanding_offers = %v", h.metric("master/outstanding_offers"))
	}
	fw.accept([]api.ID{o.ID}, mkTask("late", "cpus:0.1"))
	if st := fw.update(); st.State != api.TaskLost || st.Reason != api.ReasonInvalidOffers {
		t.Fatalf("launch on a rescinded offer: %s", fmtStatus(st))
	}
}

func TestKill(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.launch(fw.offer(), mkTask("t1", "cpus:0.1"))
	h.messages(ag)
	h.report(ag, fw.id(), "t1", api.TaskRunning)
	fw.ack(fw.update())
	h.messages(ag)

	grace := &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: int64(time.Second)}}
	must(t, h.m.Kill(fw.sub, api.KillCall{TaskID: api.ID{Value: "t1"}, KillPolicy: grace}))
	ms := h.messages(ag)
	wantStrings(t, "messages", msgTypes(ms), []string{"KILL t1"})
	if ms[0].Kill.GracePeriod == nil || ms[0].Kill.GracePeriod.Nanoseconds != int64(time.Second) {
		t.Errorf("kill grace %+v", ms[0].Kill.GracePeriod)
	}
	if h.metric("master/messages_kill_task") != 1 {
		t.Errorf("messages_kill_task = %v", h.metric("master/messages_kill_task"))
	}

	// Unknown task, no agent named: TASK_LOST (TASK_UNKNOWN if partition-aware).
	must(t, h.m.Kill(fw.sub, api.KillCall{TaskID: api.ID{Value: "ghost"}}))
	if st := fw.update(); st.State != api.TaskLost || st.Reason != api.ReasonTaskUnknown || st.Source != api.SourceMaster || st.UUID != nil {
		t.Fatalf("kill of an unknown task: %+v", st)
	}
	pa := h.subscribe(api.FrameworkInfo{Name: "pa", Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	must(t, h.m.Kill(pa.sub, api.KillCall{TaskID: api.ID{Value: "ghost"}}))
	if st := pa.update(); st.State != api.TaskUnknown {
		t.Fatalf("partition-aware kill of an unknown task: %s", fmtStatus(st))
	}
	// Unknown task on a registered agent: the agent is asked (it may run
	// the task after a failover) and answers itself.
	must(t, h.m.Kill(fw.sub, api.KillCall{TaskID: api.ID{Value: "ghost"}, AgentID: &api.ID{Value: ag}}))
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"KILL ghost"})
	if us := fw.updates(); len(us) != 0 {
		t.Errorf("master answered a kill it forwarded: %v", us)
	}

	// The agent answers KILLED; a second kill of the ended task repeats
	// its last state.
	h.report(ag, fw.id(), "t1", api.TaskKilled)
	fw.ack(fw.update())
	must(t, h.m.Kill(fw.sub, api.KillCall{TaskID: api.ID{Value: "t1"}}))
	if st := fw.update(); st.State != api.TaskKilled {
		t.Fatalf("kill of a killed task: %s", fmtStatus(st))
	}
	if h.metric("master/tasks_killed") != 1 {
		t.Errorf("tasks_killed = %v", h.metric("master/tasks_killed"))
	}
}

// Agent retries (same uuid) are applied once; they are forwarded again
// while unacknowledged, and re-acknowledged once acknowledged.
func TestStatusUpdateDedup(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.launch(fw.offer(), mkTask("t1", "cpus:0.1"))
	h.messages(ag)
	up := h.report(ag, fw.id(), "t1", api.TaskRunning)
	must(t, h.m.statusUpdate(up))
	us := fw.updates()
	if len(us) != 2 {
		t.Fatalf("forwarded %d times, want 2 (unacknowledged retry)", len(us))
	}
	if h.metric("master/valid_status_updates") != 1 {
		t.Errorf("valid_status_updates = %v, want 1", h.metric("master/valid_status_updates"))
	}
	h.m.mu.Lock()
	n := len(h.m.frameworks[fw.id()].tasks["t1"].statuses)
	h.m.mu.Unlock()
	if n != 2 { // STAGING (master) + RUNNING once
		t.Errorf("%d statuses recorded, want 2", n)
	}
	fw.ack(us[0])
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t1"})
	must(t, h.m.statusUpdate(up))
	if us := fw.updates(); len(us) != 0 {
		t.Errorf("acknowledged update forwarded again")
	}
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t1"})

	// Illegal transitions are counted and do not change the state, but
	// still reach the framework (whose ACK the agent waits for).
	h.report(ag, fw.id(), "t1", api.TaskFinished)
	fw.ack(fw.update())
	h.report(ag, fw.id(), "t1", api.TaskRunning)
	if got := h.taskState(fw.id(), "t1"); got != api.TaskFinished {
		t.Errorf("state %s after an illegal update", got)
	}
}

func TestStatusUpdateErrors(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	ok := api.StatusUpdate{AgentID: api.ID{Value: ag}, FrameworkID: api.ID{Value: "f"}, Status: api.TaskStatus{TaskID: api.ID{Value: "t"}, State: api.TaskRunning}}
	for _, tc := range []struct {
		name string
		mod  func(*api.StatusUpdate)
		want error
	}{
		{"unknown agent", func(u *api.StatusUpdate) { u.AgentID.Value = "nope" }, ErrUnknownAgent},
		{"no agent", func(u *api.StatusUpdate) { u.AgentID.Value = "" }, ErrBadRequest},
		{"no framework", func(u *api.StatusUpdate) { u.FrameworkID.Value = "" }, ErrBadRequest},
		{"no task", func(u *api.StatusUpdate) { u.Status.TaskID.Value = "" }, ErrBadRequest},
		{"bad state", func(u *api.StatusUpdate) { u.Status.State = "TASK_BORED" }, ErrBadRequest},
		{"bad latest", func(u *api.StatusUpdate) { u.LatestState = "x" }, ErrBadRequest},
		{"short uuid", func(u *api.StatusUpdate) { u.Status.UUID = []byte{1} }, ErrBadRequest},
	} {
		u := ok
		tc.mod(&u)
		if err := h.m.statusUpdate(u); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// An update of a framework that is gone is acknowledged by the master
	// and the framework shut down on the agent.
	u := h.report(ag, "gone-framework", "t", api.TaskRunning)
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t", "SHUTDOWN_FRAMEWORK gone-framework"})
	_ = u
}

// latest_state moves the master's view ahead of the update being
// delivered (Mesos status update manager semantics).
func TestLatestState(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.launch(fw.offer(), mkTask("t1", "cpus:0.1"))
	up := api.StatusUpdate{AgentID: api.ID{Value: ag}, FrameworkID: api.ID{Value: fw.id()}, LatestState: api.TaskFinished,
		Status: api.TaskStatus{TaskID: api.ID{Value: "t1"}, State: api.TaskRunning, UUID: make16(1)}}
	must(t, h.m.statusUpdate(up))
	if got := h.taskState(fw.id(), "t1"); got != api.TaskFinished {
		t.Fatalf("state %s, want FINISHED from latest_state", got)
	}
	st := fw.update()
	if st.State != api.TaskRunning {
		t.Fatalf("forwarded %s, want the RUNNING update itself", st.State)
	}
	// Resources are back as soon as the latest state is terminal.
	if h.metric("master/cpus_used") != 0 {
		t.Errorf("cpus_used = %v", h.metric("master/cpus_used"))
	}
}

func make16(b byte) []byte {
	out := make([]byte, 16)
	out[15] = b
	return out
}

// A retry of an update already seen is not applied again, but its
// latest_state is: the agent stamps the newest state at each send, and a
// task that ended behind an unacknowledged update must not stay RUNNING in
// the master's view until its framework comes back.
func TestLatestStateOfRetry(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.launch(fw.offer(), mkTask("t1", "cpus:0.1"))
	up := api.StatusUpdate{AgentID: api.ID{Value: ag}, FrameworkID: api.ID{Value: fw.id()}, LatestState: api.TaskRunning,
		Status: api.TaskStatus{TaskID: api.ID{Value: "t1"}, State: api.TaskRunning, UUID: make16(1)}}
	must(t, h.m.statusUpdate(up))
	if got := h.taskState(fw.id(), "t1"); got != api.TaskRunning {
		t.Fatalf("state %s, want RUNNING", got)
	}
	fw.update() // not acknowledged: the framework went away
	up.LatestState = api.TaskFinished
	must(t, h.m.statusUpdate(up))
	if got := h.taskState(fw.id(), "t1"); got != api.TaskFinished {
		t.Fatalf("state %s after a retry with latest_state FINISHED, want FINISHED", got)
	}
	if st := fw.update(); st.State != api.TaskRunning {
		t.Errorf("retry forwarded as %s, want the RUNNING update itself", st.State)
	}
	if h.metric("master/cpus_used") != 0 {
		t.Errorf("cpus_used = %v, want the resources back", h.metric("master/cpus_used"))
	}
}

// A retried update is recognised by its uuid (kept inline, 16 bytes): not
// applied or forwarded again once acknowledged, its acknowledgement sent
// to the agent again; an update with another uuid is a new one, and the
// terminal update's acknowledgement completes the task. A uuid of another
// length is refused.
func TestRetriedUpdates(t *testing.T) {
	if size := unsafe.Sizeof(seenUpdate{}); size > 18 {
		t.Errorf("a seenUpdate is %d bytes", size)
	}
	for _, u := range [][]byte{make16(7), make16(0)} {
		h := newHarness(t)
		ag := h.agent("a1", "cpus:2;mem:1024")
		fw := h.subscribe(api.FrameworkInfo{})
		fw.launch(fw.offer(), mkTask("t1", "cpus:0.1"))
		h.messages(ag) // the LAUNCH
		up := api.StatusUpdate{AgentID: api.ID{Value: ag}, FrameworkID: api.ID{Value: fw.id()},
			Status: api.TaskStatus{TaskID: api.ID{Value: "t1"}, State: api.TaskRunning, UUID: u, AgentID: &api.ID{Value: ag}}}
		must(t, h.m.statusUpdate(up))
		fw.ack(fw.update())
		wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t1"})
		must(t, h.m.statusUpdate(up)) // the agent missed the ACK
		if us := fw.updates(); len(us) != 0 {
			t.Errorf("uuid %x: an acknowledged update retried was forwarded again: %v", u, us)
		}
		wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t1"})

		other := append([]byte(nil), u...)
		other[len(other)-1] ^= 1
		fin := api.StatusUpdate{AgentID: up.AgentID, FrameworkID: up.FrameworkID,
			Status: api.TaskStatus{TaskID: api.ID{Value: "t1"}, State: api.TaskFinished, UUID: other, AgentID: &api.ID{Value: ag}}}
		must(t, h.m.statusUpdate(fin))
		st := fw.update()
		if st.State != api.TaskFinished {
			t.Fatalf("uuid %x: update with another uuid forwarded as %s, want FINISHED", u, st.State)
		}
		fw.ack(st)
		h.m.mu.Lock()
		done := h.m.frameworks[fw.id()].completedTask("t1") != nil
		h.m.mu.Unlock()
		if !done {
			t.Errorf("uuid %x: the FINISHED update acknowledged, the task is not completed", u)
		}
	}
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.launch(fw.offer(), mkTask("t1", "cpus:0.1"))
	up := api.StatusUpdate{AgentID: api.ID{Value: ag}, FrameworkID: api.ID{Value: fw.id()},
		Status: api.TaskStatus{TaskID: api.ID{Value: "t1"}, State: api.TaskRunning, UUID: []byte("6ba7b810-9dad-11d1-80b4-00c04fd430c8")}}
	if err := h.m.statusUpdate(up); !errors.Is(err, ErrBadRequest) {
		t.Errorf("update with a 36-byte uuid: %v, want it refused", err)
	}
}
