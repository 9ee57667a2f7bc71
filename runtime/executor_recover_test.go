package runtime

import (
	"context"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
)

// sentUpdates is the master's side of a fake agent's status updates: what
// was sent, nothing acknowledged unless the test says so.
type sentUpdates struct {
	mu   sync.Mutex
	sent []api.StatusUpdate
}

func (s *sentUpdates) install(a *Agent, ctx context.Context) {
	a.status = newStatusManager(func(_ context.Context, u api.StatusUpdate) error {
		s.mu.Lock()
		s.sent = append(s.sent, u)
		s.mu.Unlock()
		return nil
	}, a.tasks.complete, a.log)
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.status.run(ctx) }()
	a.status.setOnline(true)
}

// drain returns the events queued on sub so far.
func drain(sub *executorSub) []api.ExecutorEvent {
	var out []api.ExecutorEvent
	for {
		select {
		case ev := <-sub.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func eventTypes(evs []api.ExecutorEvent) []string {
	var out []string
	for _, ev := range evs {
		s := ev.Type
		switch {
		case ev.Launch != nil:
			s += ":" + ev.Launch.Task.TaskID.Value
		case ev.Kill != nil:
			s += ":" + ev.Kill.TaskID.Value
		case ev.Acknowledged != nil:
			s += ":" + ev.Acknowledged.TaskID.Value
		}
		out = append(out, s)
	}
	return out
}

func runningUpdate(id string, uuid byte) api.TaskStatus {
	u := make([]byte, 16)
	u[0] = uuid
	return api.TaskStatus{TaskID: api.ID{Value: id}, State: api.TaskRunning, UUID: u}
}

// executorBeforeRestart runs executor "ex" of a checkpointing framework
// with tasks t1, t2 (RUNNING, t1's update acknowledged) and t3 (handed
// to the executor, no update yet) on a first agent over dir and d, and
// stops that agent; the executor's container runs on. It returns the
// executor's token and the update uuids.
func executorBeforeRestart(t *testing.T, dir string, d *fakeDriver, endpoint string) (token string, u1, u2 api.TaskStatus) {
	t.Helper()
	cfg := fakeAgentConfig(t, dir, d)
	cfg.BootID = "boot-1"
	a, ctx, stop := startFakeAgent(t, cfg)
	var master sentUpdates
	master.install(a, ctx)
	a.execs.endpoint = endpoint
	for _, id := range []string{"t1", "t2", "t3"} {
		m := executorLaunch(id)
		m.Launch.Framework.Checkpoint = true
		a.dispatch(ctx, m)
	}
	synctest.Wait()
	e := a.execs.get("fw", "ex")
	if e == nil {
		t.Fatal("no executor")
	}
	sub, _, err := a.subscribeExecutor(e, &api.ExecutorSubscribeCall{})
	if err != nil {
		t.Fatal(err)
	}
	if got := eventTypes(drain(sub)); len(got) != 4 {
		t.Fatalf("first subscription's events %v, want SUBSCRIBED and 3 LAUNCH", got)
	}
	u1, u2 = runningUpdate("t1", 1), runningUpdate("t2", 2)
	for _, u := range []api.TaskStatus{u1, u2} {
		if err := a.executorUpdate(e, u); err != nil {
			t.Fatal(err)
		}
	}
	synctest.Wait()
	a.dispatch(ctx, &api.AgentMessage{Type: api.MsgAcknowledge, Acknowledge: &api.AckMessage{FrameworkID: api.ID{Value: "fw"}, TaskID: u1.TaskID, UUID: u1.UUID}})
	synctest.Wait()
	if got := eventTypes(drain(sub)); len(got) != 1 || got[0] != api.ExecEventAcknowledged+":t1" {
		t.Fatalf("after the ack: %v", got)
	}
	token = e.token
	stop()
	if st, _ := e.run.ctr.Status(); st != container.Running {
		t.Fatalf("the agent's stop stopped the executor (%s)", st)
	}
	return token, u1, u2
}

// restartAgent starts a second agent over dir and d and runs its recovery.
func restartAgent(t *testing.T, dir string, d *fakeDriver, recoveryTimeout time.Duration) (*Agent, context.Context, *sentUpdates, string) {
	t.Helper()
	cfg := fakeAgentConfig(t, dir, d)
	cfg.BootID = "boot-1"
	cfg.RecoveryTimeout = recoveryTimeout
	a, ctx, _ := startFakeAgent(t, cfg)
	master := &sentUpdates{}
	master.install(a, ctx)
	endpoint := a.previousExecutorEndpoint() // before recovery frees the loaded state
	a.execs.endpoint = endpoint
	if err := a.recoverTasks(ctx); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	synctest.Wait()
	return a, ctx, master, endpoint
}

// A restarted agent rebuilds its custom executor from the checkpoint: the
// same container (not relaunched, not watched as a command task's), its
// tasks with it, its token and its executor API address. The executor
// re-subscribes with its unacknowledged tasks and updates: an update the
// framework acknowledged is answered ACKNOWLEDGED, one already
// checkpointed is not taken twice, one the agent never saw goes to the
// framework, and a task still TASK_STAGING that the executor does not
// know ends TASK_LOST (REASON_SLAVE_RESTARTED). A KILL sent while it was
// away reaches it on re-subscription.
func TestExecutorRecoverResubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, dir := newFakeDriver(), t.TempDir()
		token, u1, u2 := executorBeforeRestart(t, dir, d, "127.0.0.1:5052")
		c := d.only()
		a, ctx, master, endpoint := restartAgent(t, dir, d, time.Minute)
		if endpoint != "127.0.0.1:5052" {
			t.Errorf("the executor API's previous address %q, want 127.0.0.1:5052", endpoint)
		}
		if d.starts != 1 || d.get(c.ID()) != c {
			t.Fatalf("recovery started containers (%d starts, %v)", d.starts, d.ids())
		}
		e := a.execs.get("fw", "ex")
		if e == nil || !e.recovered || e.run.containerID != c.ID() || e.run.ctr == nil {
			t.Fatalf("the executor was not rebuilt: %+v", e)
		}
		if len(e.tasks) != 3 {
			t.Errorf("the recovered executor has %d tasks, want 3", len(e.tasks))
		}
		if !tokenMatches(e, token) || tokenMatches(e, "other") || e.token != "" {
			t.Error("the recovered executor does not know its token by its hash alone")
		}
		for _, id := range []string{"t1", "t2"} {
			if st := lastStatus(t, a, id); st.State != api.TaskRunning {
				t.Errorf("task %s after recovery: %s, want TASK_RUNNING", id, st.State)
			}
		}
		// A KILL while the executor is away is held for it.
		a.dispatch(ctx, killMessage("t1"))
		synctest.Wait()

		finished := api.TaskStatus{TaskID: api.ID{Value: "t2"}, State: api.TaskFinished, UUID: make([]byte, 16)}
		finished.UUID[0] = 9
		sub, resub, err := a.subscribeExecutor(e, &api.ExecutorSubscribeCall{
			UnacknowledgedTasks:   []api.TaskInfo{{TaskID: api.ID{Value: "t2"}}},
			UnacknowledgedUpdates: []api.ExecutorUpdateCall{{Status: u1}, {Status: u2}, {Status: finished}},
		})
		if err != nil || !resub {
			t.Fatalf("re-subscription: resub %v, %v", resub, err)
		}
		synctest.Wait()
		got := eventTypes(drain(sub))
		want := []string{api.ExecEventSubscribed, api.ExecEventAcknowledged + ":t1", api.ExecEventKill + ":t1"}
		if len(got) != len(want) {
			t.Fatalf("re-subscription events %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("re-subscription events %v, want %v", got, want)
				break
			}
		}
		if st := lastStatus(t, a, "t3"); st.State != api.TaskLost || st.Reason != api.ReasonAgentRestarted {
			t.Errorf("t3, unknown to the executor: %s %s, want TASK_LOST REASON_SLAVE_RESTARTED", st.State, st.Reason)
		}
		if st := lastStatus(t, a, "t2"); st.State != api.TaskFinished || string(st.UUID) != string(finished.UUID) {
			t.Errorf("t2: %s, want the executor's unseen TASK_FINISHED", st.State)
		}
		n := 0
		for _, st := range taskStatuses(a, "t2") {
			if string(st.UUID) == string(u2.UUID) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("t2's checkpointed RUNNING taken %d times", n)
		}
		master.mu.Lock()
		resent := 0
		for _, u := range master.sent {
			if string(u.Status.UUID) == string(u2.UUID) {
				resent++
			}
		}
		master.mu.Unlock()
		if resent == 0 {
			t.Error("t2's unacknowledged RUNNING was not sent again after the restart")
		}
		// The executor ends: its container is destroyed, the run completed.
		c.exitWith(0, 0)
		synctest.Wait()
		if !c.isDestroyed() || a.execs.get("fw", "ex") != nil {
			t.Errorf("after the executor's exit: destroyed %v, in the table %v", c.isDestroyed(), a.execs.get("fw", "ex") != nil)
		}
		if st := lastStatus(t, a, "t1"); st.State != api.TaskKilled {
			t.Errorf("t1, being killed when its executor ended: %s", st.State)
		}
	})
}

// A recovered executor that does not re-subscribe within
// --recovery_timeout is killed and destroyed; its tasks end TASK_LOST
// with REASON_EXECUTOR_REREGISTRATION_TIMEOUT (Mesos'
// Slave::reregisterExecutorTimeout).
func TestExecutorRecoverTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, dir := newFakeDriver(), t.TempDir()
		executorBeforeRestart(t, dir, d, "127.0.0.1:5052")
		c := d.only()
		a, _, _, _ := restartAgent(t, dir, d, 30*time.Second)
		if a.execs.get("fw", "ex") == nil {
			t.Fatal("the executor was not rebuilt")
		}
		time.Sleep(29 * time.Second) // synctest's fake clock: the stimulus (time passing to the timeout), not a wait
		synctest.Wait()
		if st, _ := c.Status(); st != container.Running {
			t.Fatal("the executor was killed before --recovery_timeout")
		}
		time.Sleep(2 * time.Second) // synctest's fake clock: the stimulus (time passing to the timeout), not a wait
		synctest.Wait()
		for _, id := range []string{"t1", "t2", "t3"} {
			st := lastStatus(t, a, id)
			if st.State != api.TaskLost || st.Reason != api.ReasonExecutorReregTimeout {
				t.Errorf("task %s: %s %s, want TASK_LOST REASON_EXECUTOR_REREGISTRATION_TIMEOUT", id, st.State, st.Reason)
			}
		}
		if !c.isDestroyed() || len(d.ids()) != 0 {
			t.Errorf("the executor's container: destroyed %v, left %v", c.isDestroyed(), d.ids())
		}
		if a.execs.get("fw", "ex") != nil {
			t.Error("the executor is still in the table")
		}
	})
}

// An executor whose container ended while the agent was down: its tasks
// end TASK_FAILED (REASON_EXECUTOR_TERMINATED) at recovery, and nothing is
// left of it; a framework that does not checkpoint has its executor
// killed.
func TestExecutorRecoverGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, dir := newFakeDriver(), t.TempDir()
		executorBeforeRestart(t, dir, d, "127.0.0.1:5052")
		c := d.only()
		c.exitWith(1, 0)
		a, _, _, _ := restartAgent(t, dir, d, time.Minute)
		for _, id := range []string{"t1", "t2", "t3"} {
			if st := lastStatus(t, a, id); st.State != api.TaskFailed || st.Reason != api.ReasonExecutorTerminated {
				t.Errorf("task %s: %s %s, want TASK_FAILED REASON_EXECUTOR_TERMINATED", id, st.State, st.Reason)
			}
		}
		if a.execs.get("fw", "ex") != nil || len(d.ids()) != 0 {
			t.Errorf("left: executor %v, containers %v", a.execs.get("fw", "ex") != nil, d.ids())
		}
		if ep := a.previousExecutorEndpoint(); ep != "" {
			t.Errorf("previous endpoint after recovery %q", ep)
		}
	})
}

// The executor API listens on the address the surviving executors were
// given; when it is taken, on a new port (they cannot re-subscribe).
func TestExecutorRecoverListen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		held, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		d, dir := newFakeDriver(), t.TempDir()
		executorBeforeRestart(t, dir, d, held.Addr().String())
		cfg := fakeAgentConfig(t, dir, d)
		cfg.BootID = "boot-1"
		a, _, _ := startFakeAgent(t, cfg)
		ln, err := a.ListenExecutorAPI()
		if err != nil {
			t.Fatal(err)
		}
		if ln.Addr().String() == held.Addr().String() {
			t.Error("listening on a taken address")
		}
		ln.Close()
		held.Close()
		ln, err = a.ListenExecutorAPI()
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if ln.Addr().String() != held.Addr().String() {
			t.Errorf("the executor API listens on %s, want the previous %s", ln.Addr(), held.Addr())
		}
	})
}
