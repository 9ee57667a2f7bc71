package runtime

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/cluster/api"
	"nodectl/storage"
)

// Unit tests of the agent's launch, kill, recovery and fencing logic on
// the fake container driver (containers_fake_test.go) and a real sqlite
// checkpoint, inside testing/synctest bubbles: the grace periods and
// timeouts run on fake time, and synctest.Wait replaces polling.

// fakeAgentConfig is an agent config on dir and d; no master is reached.
func fakeAgentConfig(t *testing.T, dir string, d *fakeDriver) Config {
	return Config{WorkDir: dir, Masters: []string{"master.test:5050"}, Port: 5051, Hostname: "agent.test", testDriver: d,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// startFakeAgent makes an agent from cfg as if registered with id
// "agent-1" (checkpointed) and returns it with its run context and a stop
// function: the context ends (the agent detaches from its tasks, whose
// containers keep running, as when the agent process stops), its task
// goroutines are waited for and its checkpoint is closed. Cleanup stops
// it too.
func startFakeAgent(t *testing.T, cfg Config) (*Agent, context.Context, func()) {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			a.wg.Wait()
			_ = a.Close()
		})
	}
	t.Cleanup(stop)
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	if a.ID() == "" {
		if err := a.admitted(api.RegisterResponse{AgentID: "agent-1"}, "master.test:5050", false); err != nil {
			t.Fatal(err)
		}
	}
	return a, ctx, stop
}

// fakeLaunch is a LAUNCH of a command task of framework "fw".
func fakeLaunch(id string, caps ...string) *api.AgentMessage {
	m := launchMessage(id, "sleep 1000", "")
	m.Launch.Framework.Checkpoint = true
	for _, c := range caps {
		m.Launch.Framework.Capabilities = append(m.Launch.Framework.Capabilities, api.Capability{Type: c})
	}
	return m
}

// states is the states of the task's updates so far.
func states(a *Agent, id string) []api.TaskState {
	var out []api.TaskState
	for _, st := range taskStatuses(a, id) {
		out = append(out, st.State)
	}
	return out
}

func lastStatus(t *testing.T, a *Agent, id string) api.TaskStatus {
	t.Helper()
	sts := taskStatuses(a, id)
	if len(sts) == 0 {
		t.Fatalf("task %s has no updates", id)
	}
	return sts[len(sts)-1]
}

func wantStates(t *testing.T, a *Agent, id string, want ...api.TaskState) {
	t.Helper()
	if got := states(a, id); !slices.Equal(got, want) {
		t.Fatalf("task %s went %v, want %v (last: %+v)", id, got, want, taskStatuses(a, id))
	}
}

// checkpointed is the checkpoint's record of task id, if any.
func checkpointed(t *testing.T, a *Agent, id string) (storage.Task, bool) {
	t.Helper()
	st, err := a.store.LoadState(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range st.Tasks {
		if rec.TaskID == id {
			return rec, true
		}
	}
	return storage.Task{}, false
}

// A LAUNCH is checkpointed (framework, executor, task and the STARTING
// update) before TASK_STARTING leaves the agent; the container gets the
// task's command and sandbox; TASK_RUNNING follows, and the container's
// exit 0 ends the task TASK_FINISHED with the container destroyed.
func TestFakeLaunch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, t.TempDir(), d))
		// The master's side of the update stream: it checks the checkpoint
		// as each update arrives, and acknowledges it.
		var mu sync.Mutex
		var sent []api.TaskState
		a.status = newStatusManager(func(_ context.Context, u api.StatusUpdate) error {
			mu.Lock()
			sent = append(sent, u.Status.State)
			mu.Unlock()
			if u.Status.State == api.TaskStarting {
				st, err := a.store.LoadState(context.Background(), true)
				var rec *storage.Task
				for i := range st.Tasks {
					if st.Tasks[i].TaskID == u.Status.TaskID.Value {
						rec = &st.Tasks[i]
					}
				}
				switch {
				case err != nil:
					t.Errorf("load checkpoint: %v", err)
				case rec == nil || len(st.Frameworks) != 1 || len(st.Executors) != 1:
					t.Errorf("TASK_STARTING sent before the launch was checkpointed: %+v", st)
				case !slices.ContainsFunc(rec.Updates, func(c storage.Update) bool {
					return c.State == string(api.TaskStarting) && string(c.UUID) == string(u.Status.UUID)
				}):
					// The launch goes on meanwhile: TASK_RUNNING may be
					// checkpointed too by the time STARTING leaves.
					t.Errorf("TASK_STARTING sent before it was checkpointed: task %s, updates %+v", rec.State, rec.Updates)
				}
			}
			a.dispatch(ctx, &api.AgentMessage{Type: api.MsgAcknowledge, Acknowledge: &api.AckMessage{
				FrameworkID: u.FrameworkID, TaskID: u.Status.TaskID, UUID: u.Status.UUID}})
			return nil
		}, a.tasks.complete, a.log)
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.status.run(ctx) }()
		a.status.setOnline(true)

		a.dispatch(ctx, fakeLaunch("t1"))
		synctest.Wait()
		wantStates(t, a, "t1", api.TaskStarting, api.TaskRunning)
		mu.Lock()
		if !slices.Equal(sent, []api.TaskState{api.TaskStarting, api.TaskRunning}) {
			t.Errorf("sent %v", sent)
		}
		mu.Unlock()
		c := d.only()
		if c == nil {
			t.Fatalf("want one container, have %v", d.ids())
		}
		running := lastStatus(t, a, "t1")
		if cs := running.ContainerStatus; cs == nil || cs.ContainerID.Value != c.ID() || cs.ExecutorPID != c.Pid() {
			t.Errorf("RUNNING names container %+v, want %s pid %d", cs, c.ID(), c.Pid())
		}
		wantSandbox := sandboxDir(a.cfg.WorkDir, "agent-1", "fw", "t1", c.ID())
		if c.spec.SandboxDir != wantSandbox || !slices.Contains(c.spec.Args, "sleep 1000") {
			t.Errorf("container spec: sandbox %s args %q; want sandbox %s and the task's command", c.spec.SandboxDir, c.spec.Args, wantSandbox)
		}
		if rec, ok := checkpointed(t, a, "t1"); !ok || rec.State != string(api.TaskRunning) {
			t.Errorf("checkpoint after RUNNING: %+v", rec)
		}

		tk := a.tasks.get("fw", "t1")
		c.exitWith(0, 0)
		synctest.Wait()
		mu.Lock()
		if !slices.Equal(sent, []api.TaskState{api.TaskStarting, api.TaskRunning, api.TaskFinished}) {
			t.Errorf("sent %v", sent)
		}
		mu.Unlock()
		a.tasks.mu.Lock()
		st := tk.statuses[len(tk.statuses)-1]
		a.tasks.mu.Unlock()
		if st.State != api.TaskFinished || st.ExitCode == nil || *st.ExitCode != 0 || st.Message != "Command exited with status 0" {
			t.Errorf("%s: code %v message %q, want TASK_FINISHED", st.State, st.ExitCode, st.Message)
		}
		if !c.isDestroyed() {
			t.Error("the finished task's container was not destroyed")
		}
		// The terminal update was acknowledged: the task left the live set.
		if a.tasks.get("fw", "t1") != nil {
			t.Error("the acknowledged finished task is still live")
		}
	})
}

// A container that cannot be created ends the task TASK_FAILED with
// REASON_CONTAINER_LAUNCH_FAILED from the agent, naming the cause.
func TestFakeLaunchCreateFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		d.startErr = errors.New("create cgroup: no space left on device")
		a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, t.TempDir(), d))
		a.dispatch(ctx, fakeLaunch("bad"))
		synctest.Wait()
		wantStates(t, a, "bad", api.TaskStarting, api.TaskFailed)
		st := lastStatus(t, a, "bad")
		if st.Reason != api.ReasonContainerLaunchFailed || st.Source != api.SourceAgent || !strings.Contains(st.Message, "no space left") {
			t.Errorf("failed launch: %s from %s: %q", st.Reason, st.Source, st.Message)
		}
		if ids := d.ids(); len(ids) != 0 {
			t.Errorf("containers left: %v", ids)
		}
	})
}

// killGrace is a KILL of task id with a grace period.
func killGrace(id string, grace time.Duration) *api.AgentMessage {
	m := killMessage(id)
	m.Kill.GracePeriod = &api.DurationInfo{Nanoseconds: int64(grace)}
	return m
}

// A KILL of a running task sends SIGTERM, and SIGKILL once the grace
// period passes without an exit: TASK_KILLING (the framework has the
// capability), then TASK_KILLED exactly a grace period later.
func TestFakeKillEscalates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		d.ignoreTERM = true
		a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, t.TempDir(), d))
		a.dispatch(ctx, fakeLaunch("k", "TASK_KILLING_STATE"))
		synctest.Wait()
		c := d.only()
		start := time.Now()
		a.dispatch(ctx, killGrace("k", 3*time.Second))
		synctest.Wait()
		wantStates(t, a, "k", api.TaskStarting, api.TaskRunning, api.TaskKilling)
		if sigs, _ := c.killedWith(); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
			t.Fatalf("signals after the KILL: %v, want SIGTERM", sigs)
		}
		time.Sleep(3*time.Second - time.Millisecond)
		synctest.Wait()
		if sigs, _ := c.killedWith(); len(sigs) != 1 || lastStatus(t, a, "k").State != api.TaskKilling {
			t.Fatalf("before the grace period ended: signals %v, state %s", sigs, lastStatus(t, a, "k").State)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		wantStates(t, a, "k", api.TaskStarting, api.TaskRunning, api.TaskKilling, api.TaskKilled)
		sigs, graces := c.killedWith()
		if !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}) || graces[0] != 3*time.Second {
			t.Errorf("signals %v graces %v, want SIGTERM then SIGKILL after 3s", sigs, graces)
		}
		st := lastStatus(t, a, "k")
		if st.ExitCode == nil || *st.ExitCode != 137 || st.Message != "Command terminated with signal SIGKILL" || st.Reason != "" {
			t.Errorf("KILLED: code %v reason %q message %q", st.ExitCode, st.Reason, st.Message)
		}
		if took := time.Duration((st.Timestamp - float64(start.UnixNano())/1e9) * 1e9).Round(time.Millisecond); took != 3*time.Second {
			t.Errorf("TASK_KILLED %s after the KILL, want the 3s grace period", took)
		}
		if !c.isDestroyed() {
			t.Error("the killed task's container was not destroyed")
		}
	})
}

// The grace period is the KILL's, else the task's kill policy's, else the
// agent's --executor_shutdown_grace_period; a task that ends on SIGTERM
// is TASK_KILLED at once, without TASK_KILLING for a framework without
// that capability.
func TestFakeKillGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name               string
		agent, policy, msg time.Duration
		want               time.Duration
	}{
		{"default", 0, 0, 0, 5 * time.Second},
		{"agent flag", 7 * time.Second, 0, 0, 7 * time.Second},
		{"kill policy", 7 * time.Second, 2 * time.Second, 0, 2 * time.Second},
		{"kill message", 7 * time.Second, 2 * time.Second, time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newFakeDriver()
				cfg := fakeAgentConfig(t, t.TempDir(), d)
				cfg.ExecutorShutdownGracePeriod = tc.agent
				a, ctx, _ := startFakeAgent(t, cfg)
				m := fakeLaunch("g")
				if tc.policy != 0 {
					m.Launch.Task.KillPolicy = &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: int64(tc.policy)}}
				}
				a.dispatch(ctx, m)
				synctest.Wait()
				c := d.only()
				kill := killMessage("g")
				if tc.msg != 0 {
					kill = killGrace("g", tc.msg)
				}
				a.dispatch(ctx, kill)
				synctest.Wait()
				wantStates(t, a, "g", api.TaskStarting, api.TaskRunning, api.TaskKilled)
				sigs, graces := c.killedWith()
				if !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) || graces[0] != tc.want {
					t.Errorf("signals %v graces %v, want SIGTERM with grace %s", sigs, graces, tc.want)
				}
				if st := lastStatus(t, a, "g"); st.Message != "Command terminated with signal SIGTERM" {
					t.Errorf("KILLED message %q", st.Message)
				}
			})
		})
	}
}

// requireFakeKilledDuringLaunch checks the task ended TASK_KILLED with
// REASON_TASK_KILLED_DURING_LAUNCH from the agent, was never RUNNING, left
// no container, and that a later KILL changes nothing.
func requireFakeKilledDuringLaunch(t *testing.T, a *Agent, d *fakeDriver, id string) {
	t.Helper()
	synctest.Wait()
	last := lastStatus(t, a, id)
	if last.State != api.TaskKilled || last.Reason != api.ReasonTaskKilledDuringLaunch || last.Source != api.SourceAgent {
		t.Fatalf("task %s ended %s/%s from %s (%q), want TASK_KILLED/%s from the agent", id, last.State, last.Reason, last.Source, last.Message, api.ReasonTaskKilledDuringLaunch)
	}
	if slices.Contains(states(a, id), api.TaskRunning) {
		t.Errorf("task %s was reported RUNNING before it was killed: %v", id, states(a, id))
	}
	if ids := d.ids(); len(ids) != 0 {
		t.Errorf("containers left after the kill: %v", ids)
	}
	n := len(taskStatuses(a, id))
	a.dispatch(context.Background(), killMessage(id))
	synctest.Wait()
	if len(taskStatuses(a, id)) != n {
		t.Errorf("a KILL after the end changed the task: %v", states(a, id))
	}
}

// A KILL reaches a launch at each of its waits and ends it
// TASK_KILLED/REASON_TASK_KILLED_DURING_LAUNCH with no container left (the
// fake-driver counterparts of launchkill_test.go's).
func TestFakeKillDuringLaunch(t *testing.T) {
	t.Run("before the launch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newFakeDriver()
			a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, t.TempDir(), d))
			a.dispatch(ctx, killMessage("early"))
			a.dispatch(ctx, fakeLaunch("early"))
			requireFakeKilledDuringLaunch(t, a, d, "early")
			wantStates(t, a, "early", api.TaskKilled)
			if d.starts != 0 {
				t.Errorf("%d container starts for a task killed before its launch", d.starts)
			}
		})
	})
	t.Run("waiting for a start slot", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newFakeDriver()
			a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, t.TempDir(), d))
			for range cap(a.starts) {
				a.starts <- struct{}{}
			}
			a.dispatch(ctx, fakeLaunch("slot"))
			synctest.Wait()
			wantStates(t, a, "slot", api.TaskStarting)
			a.dispatch(ctx, killMessage("slot"))
			requireFakeKilledDuringLaunch(t, a, d, "slot")
			if d.starts != 0 {
				t.Errorf("%d container starts for a task killed waiting for a slot", d.starts)
			}
			for range cap(a.starts) {
				<-a.starts
			}
		})
	})
	t.Run("fetching its URIs", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newFakeDriver()
			a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, t.TempDir(), d))
			fetching := make(chan struct{}, 1)
			// A server that never answers: the download waits until the KILL.
			a.fetcher.client.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				fetching <- struct{}{}
				<-r.Context().Done()
				return nil, r.Context().Err()
			})
			m := fakeLaunch("fetch")
			m.Launch.Task.Command.URIs = []api.CommandURI{{Value: "http://fetch.test/blob.bin"}}
			a.dispatch(ctx, m)
			synctest.Wait()
			if len(fetching) != 1 {
				t.Fatalf("no download started: %v", states(a, "fetch"))
			}
			a.dispatch(ctx, killMessage("fetch"))
			requireFakeKilledDuringLaunch(t, a, d, "fetch")
			if d.starts != 0 {
				t.Errorf("%d container starts for a task killed while fetching", d.starts)
			}
		})
	})
	t.Run("creating its container", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newFakeDriver()
			d.startGate = make(chan struct{}) // never opens: the start waits for the KILL
			a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, t.TempDir(), d))
			a.dispatch(ctx, fakeLaunch("create"))
			synctest.Wait()
			if d.starts != 1 {
				t.Fatalf("the container start did not begin: %v", states(a, "create"))
			}
			a.dispatch(ctx, killMessage("create"))
			requireFakeKilledDuringLaunch(t, a, d, "create")
		})
	})
	t.Run("after its container started", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newFakeDriver()
			a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, t.TempDir(), d))
			var c *fakeContainer
			launchHook = func(stage launchStage, id string) {
				if stage == stageCreated && id == "started" {
					c = d.only()
					a.dispatch(ctx, killMessage(id)) // the master's KILL arrives now
				}
			}
			defer func() { launchHook = nil }()
			a.dispatch(ctx, fakeLaunch("started"))
			requireFakeKilledDuringLaunch(t, a, d, "started")
			if c == nil || !c.isDestroyed() {
				t.Fatal("the started container was not destroyed")
			}
			if sigs, _ := c.killedWith(); !slices.Equal(sigs, []syscall.Signal{syscall.SIGKILL}) {
				t.Errorf("signals %v, want SIGKILL", sigs)
			}
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
