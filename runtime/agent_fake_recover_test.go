package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
)

// Agent recovery on the fake driver, as Mesos documents it
// (https://mesos.apache.org/documentation/latest/agent-recovery/): a
// restarted agent reattaches to the executors (here: containers) of
// checkpointing frameworks that still run, never relaunching them, and
// reports the tasks whose executors ended while it was down.

// restartWith runs task id to TASK_RUNNING on a first agent over dir and
// d, stops that agent (the container keeps running), lets between act on
// the container, then starts a second agent over the same dir and d and
// runs its recovery.
func restartWith(t *testing.T, dir string, d *fakeDriver, launch *api.AgentMessage, cfg2 func(*Config), between func(c *fakeContainer)) (*Agent, context.Context, *fakeContainer) {
	t.Helper()
	id := launch.Launch.Task.TaskID.Value
	cfg := fakeAgentConfig(t, dir, d)
	cfg.BootID = "boot-1"
	a, ctx, stop := startFakeAgent(t, cfg)
	a.dispatch(ctx, launch)
	synctest.Wait()
	wantStates(t, a, id, api.TaskStarting, api.TaskRunning)
	c := d.get(lastStatus(t, a, id).ContainerStatus.ContainerID.Value)
	stop()
	if st, _ := c.Status(); st != container.Running {
		t.Fatalf("the agent's stop stopped its container (%s)", st)
	}
	if between != nil {
		between(c)
	}
	cfg = fakeAgentConfig(t, dir, d)
	cfg.BootID = "boot-1"
	if cfg2 != nil {
		cfg2(&cfg)
	}
	a2, ctx2, _ := startFakeAgent(t, cfg)
	if err := a2.recoverTasks(ctx2); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	synctest.Wait()
	return a2, ctx2, c
}

// A checkpointed task whose container still runs is reattached: same
// agent id, same container, no new start, its unacknowledged updates
// queued again; its exit after the restart is reported as usual.
func TestFakeRecoverReattaches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		a, _, c := restartWith(t, t.TempDir(), d, fakeLaunch("r"), nil, nil)
		if a.ID() != "agent-1" {
			t.Errorf("agent id after the restart %q, want agent-1", a.ID())
		}
		if d.starts != 1 || d.get(c.ID()) != c {
			t.Fatalf("recovery started %d containers (want the 1 of the first run) and has %v", d.starts, d.ids())
		}
		tk := a.tasks.get("fw", "r")
		if tk == nil {
			t.Fatal("the running task was not recovered")
		}
		a.tasks.mu.Lock()
		state, ctr := tk.state, tk.ctr
		a.tasks.mu.Unlock()
		if state != api.TaskRunning || ctr == nil || ctr.ID() != c.ID() {
			t.Fatalf("recovered task: %s, container %v; want TASK_RUNNING on %s", state, ctr, c.ID())
		}
		if q := queued(a, "r"); len(q) != 2 || q[0].Status.State != api.TaskStarting || q[1].Status.State != api.TaskRunning {
			t.Errorf("unacknowledged updates not queued again in order: %+v", q)
		}
		if sigs, _ := c.killedWith(); len(sigs) != 0 {
			t.Errorf("the reattached container got signals %v", sigs)
		}
		c.exitWith(0, 0)
		synctest.Wait()
		wantStates(t, a, "r", recovered(api.TaskFinished)...)
		if !c.isDestroyed() {
			t.Error("the finished container was not destroyed")
		}
	})
}

// Tasks whose containers ended while the agent was down are reported:
// an exit recorded by the monitor as the exit says; a container that is
// gone, or whose monitor died without recording an exit, TASK_FAILED with
// REASON_EXECUTOR_TERMINATED from the agent (Mesos' reason for a task
// whose executor terminated).
func TestFakeRecoverEnded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between func(c *fakeContainer)
		state   api.TaskState
		reason  string
		source  string
		message string
	}{
		{"exited 0", func(c *fakeContainer) { c.exitWith(0, 0) }, api.TaskFinished, "", api.SourceExecutor, "Command exited with status 0"},
		{"exited 3", func(c *fakeContainer) { c.exitWith(3, 0) }, api.TaskFailed, api.ReasonCommandExecutorFailed, api.SourceExecutor, "Command exited with status 3"},
		{"gone", func(c *fakeContainer) { _ = c.Destroy(context.Background()) }, api.TaskFailed, api.ReasonExecutorTerminated, api.SourceAgent, "the container was gone when the agent restarted"},
		{"monitor lost", func(c *fakeContainer) { c.loseMonitor() }, api.TaskFailed, api.ReasonExecutorTerminated, api.SourceAgent, "container lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newFakeDriver()
				a, _, _ := restartWith(t, t.TempDir(), d, fakeLaunch("e"), nil, tc.between)
				wantStates(t, a, "e", recovered(tc.state)...)
				st := lastStatus(t, a, "e")
				if st.Reason != tc.reason || st.Source != tc.source || !strings.Contains(st.Message, tc.message) {
					t.Errorf("%s/%s from %s %q; want %s/%s from %s %q", st.State, st.Reason, st.Source, st.Message, tc.state, tc.reason, tc.source, tc.message)
				}
				if ids := d.ids(); len(ids) != 0 {
					t.Errorf("containers left: %v", ids)
				}
				if d.starts != 1 {
					t.Errorf("recovery relaunched: %d starts", d.starts)
				}
			})
		})
	}
}

// Mesos recovers only executors of frameworks that checkpoint; others are
// killed and their tasks TASK_LOST (REASON_SLAVE_RESTARTED). After a
// reboot nothing is recovered: TASK_LOST, or TASK_GONE for a
// partition-aware framework. Containers the checkpoint does not know are
// destroyed.
func TestFakeRecoverNotReattached(t *testing.T) {
	noCheckpoint := fakeLaunch("n")
	noCheckpoint.Launch.Framework.Checkpoint = false
	rebooted := func(c *Config) { c.BootID = "boot-2" }
	reboot := func(c *fakeContainer) { _ = c.Destroy(context.Background()) } // a reboot ends every container
	for _, tc := range []struct {
		name    string
		launch  *api.AgentMessage
		cfg     func(*Config)
		between func(*fakeContainer)
		state   api.TaskState
		killed  bool
	}{
		{"framework does not checkpoint", noCheckpoint, nil, nil, api.TaskLost, true},
		{"host rebooted", fakeLaunch("n"), rebooted, reboot, api.TaskLost, false},
		{"host rebooted, partition-aware", fakeLaunch("n", "PARTITION_AWARE"), rebooted, reboot, api.TaskGone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newFakeDriver()
				orphan := d.add("orphan", container.Spec{})
				a, _, c := restartWith(t, t.TempDir(), d, tc.launch, tc.cfg, tc.between)
				wantStates(t, a, "n", recovered(tc.state)...)
				if st := lastStatus(t, a, "n"); st.Reason != api.ReasonAgentRestarted || st.Source != api.SourceAgent {
					t.Errorf("%s/%s from %s, want %s/%s from the agent", st.State, st.Reason, st.Source, tc.state, api.ReasonAgentRestarted)
				}
				if sigs, _ := c.killedWith(); tc.killed && !slices.Equal(sigs, []syscall.Signal{syscall.SIGKILL}) {
					t.Errorf("the old container got %v, want SIGKILL", sigs)
				}
				if !c.isDestroyed() || !orphan.isDestroyed() {
					t.Errorf("containers left: %v", d.ids())
				}
			})
		})
	}
}

// --recovery_timeout: a task whose container still runs but is reattached
// only after the timeout (counted from the agent's start) is killed and
// reported TASK_FAILED with REASON_EXECUTOR_REREGISTRATION_TIMEOUT, as
// Mesos executors that waited too long for their agent terminate.
func TestFakeRecoveryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		dir := t.TempDir()
		cfg := fakeAgentConfig(t, dir, d)
		a, ctx, stop := startFakeAgent(t, cfg)
		a.dispatch(ctx, fakeLaunch("slow"))
		synctest.Wait()
		c := d.only()
		stop()
		cfg.RecoveryTimeout = time.Minute
		a2, ctx2, _ := startFakeAgent(t, cfg)
		time.Sleep(time.Minute + time.Second) // recovery is slow to get to the task
		if err := a2.recoverTasks(ctx2); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		wantStates(t, a2, "slow", recovered(api.TaskFailed)...)
		if st := lastStatus(t, a2, "slow"); st.Reason != api.ReasonExecutorReregTimeout || st.Source != api.SourceAgent || !strings.Contains(st.Message, "--recovery_timeout") {
			t.Errorf("%s/%s %q, want TASK_FAILED/%s", st.State, st.Reason, st.Message, api.ReasonExecutorReregTimeout)
		}
		if !c.isDestroyed() {
			t.Error("the timed-out task's container was not destroyed")
		}
	})
}

// A missing or empty checkpoint next to a previous agent's state (its
// containers, or sandboxes under slaves/) is a recovery error: fatal under
// --strict (ErrRecovery); otherwise counted, and the agent starts anew,
// destroying the old containers as orphans.
func TestFakeLostCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name      string
		container bool
		sandbox   bool
	}{
		{"containers", true, false},
		{"sandboxes", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				newState := func() (string, *fakeDriver, *fakeContainer) {
					dir, d := t.TempDir(), newFakeDriver()
					var c *fakeContainer
					if tc.container {
						c = d.add("left-over", container.Spec{})
					}
					if tc.sandbox {
						if err := os.MkdirAll(filepath.Join(dir, "slaves", "agent-0", "frameworks"), 0o755); err != nil {
							t.Fatal(err)
						}
					}
					return dir, d, c
				}
				dir, d, _ := newState()
				cfg := fakeAgentConfig(t, dir, d)
				cfg.Strict = true
				if a, err := New(cfg); !errors.Is(err, ErrRecovery) || !strings.Contains(err.Error(), "missing or empty") {
					if a != nil {
						_ = a.Close()
					}
					t.Fatalf("--strict with a lost checkpoint: %v, want ErrRecovery", err)
				}

				dir, d, c := newState()
				a, ctx, _ := startFakeAgent(t, fakeAgentConfig(t, dir, d))
				if err := a.recoverTasks(ctx); err != nil {
					t.Fatal(err)
				}
				a.mu.Lock()
				nerr := a.recoveryErrors
				a.mu.Unlock()
				if nerr != 1 {
					t.Errorf("recovery errors %d, want 1", nerr)
				}
				if c != nil && !c.isDestroyed() {
					t.Error("the old container survived a --no-strict start on a lost checkpoint")
				}
			})
		})
	}
	// An empty work dir is a new agent, strict or not.
	synctest.Test(t, func(t *testing.T) {
		cfg := fakeAgentConfig(t, t.TempDir(), newFakeDriver())
		cfg.Strict = true
		a, err := New(cfg)
		if err != nil {
			t.Fatalf("new agent under --strict: %v", err)
		}
		_ = a.Close()
	})
}

// fakeMaster answers the agent's registrations in-process (an
// http.RoundTripper, so it runs inside a synctest bubble): agent ids in
// removed are refused with 410 Gone and an AgentRemoved body, as a master
// refuses an agent an operator marked gone (cluster/api/fencing.go); an
// empty id gets a new one. The first busy registrations are answered 503,
// with Retry-After: retryAfter when it is set.
type fakeMaster struct {
	mu         sync.Mutex
	removed    map[string]bool
	regs       []api.RegisterRequest
	regTimes   []time.Time
	busy       int
	retryAfter string
}

func (m *fakeMaster) RoundTrip(r *http.Request) (*http.Response, error) {
	reply := func(code int, v any) (*http.Response, error) {
		b, _ := json.Marshal(v)
		return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(b)), Request: r}, nil
	}
	if r.URL.Path != api.PathRegister {
		return reply(http.StatusNotFound, api.Error{Message: "not in this fake"})
	}
	var req api.RegisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return reply(http.StatusBadRequest, api.Error{Message: err.Error()})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regs, m.regTimes = append(m.regs, req), append(m.regTimes, time.Now())
	if m.busy > 0 {
		m.busy--
		resp, err := reply(http.StatusServiceUnavailable, api.Error{Message: "no leader elected"})
		if m.retryAfter != "" {
			resp.Header.Set("Retry-After", m.retryAfter)
		}
		return resp, err
	}
	if m.removed[req.Agent.ID] {
		return reply(api.StatusAgentRemoved, api.NewAgentRemoved(req.Agent.ID))
	}
	id := req.Agent.ID
	if id == "" {
		id = "agent-new"
	}
	return reply(http.StatusOK, api.RegisterResponse{AgentID: id, MasterID: "master-1", PingIntervalSeconds: 15})
}

func (m *fakeMaster) registrations() []api.RegisterRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.regs)
}

// Fencing: a master that removed the agent refuses its re-registration
// with 410 Gone. The agent then kills every task quietly (the master
// already ended them: no update goes out), a launch in flight included,
// forgets its id and checkpointed tasks, and registers as a new agent.
func TestFakeFencing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		m := &fakeMaster{removed: map[string]bool{"agent-1": true}}
		cfg := fakeAgentConfig(t, t.TempDir(), d)
		cfg.HTTPClient = &http.Client{Transport: m}
		a, ctx, _ := startFakeAgent(t, cfg)
		a.dispatch(ctx, fakeLaunch("run"))
		synctest.Wait()
		running := d.only()
		d.startGate = make(chan struct{}) // the next launch waits in its container's start
		a.dispatch(ctx, fakeLaunch("launching"))
		synctest.Wait()
		wantStates(t, a, "launching", api.TaskStarting)
		tRun, tLaunching := a.tasks.get("fw", "run"), a.tasks.get("fw", "launching")

		if err := a.registerLoop(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		regs := m.registrations()
		if len(regs) != 2 || regs[0].Agent.ID != "agent-1" || len(regs[0].Tasks) != 2 || regs[1].Agent.ID != "" || len(regs[1].Tasks) != 0 {
			t.Fatalf("registrations: %+v; want a re-registration of agent-1 with its 2 tasks, then a new agent with none", regs)
		}
		if a.ID() != "agent-new" {
			t.Errorf("agent id %q after fencing, want the new one", a.ID())
		}
		if sigs, _ := running.killedWith(); len(sigs) == 0 || sigs[0] != syscall.SIGTERM || !running.isDestroyed() {
			t.Errorf("the running task's container: signals %v, destroyed %v", sigs, running.isDestroyed())
		}
		if ids := d.ids(); len(ids) != 0 {
			t.Errorf("containers left after fencing: %v", ids)
		}
		a.tasks.mu.Lock()
		for _, tk := range []*task{tRun, tLaunching} {
			if last := tk.statuses[len(tk.statuses)-1]; last.State.Terminal() {
				t.Errorf("task %s reported %s after fencing; the master already ended it", tk.id, last.State)
			}
		}
		live := len(a.tasks.live)
		a.tasks.mu.Unlock()
		if live != 0 || len(queued(a, "run")) != 0 || len(queued(a, "launching")) != 0 {
			t.Errorf("after fencing: %d live tasks, queued %v %v", live, queued(a, "run"), queued(a, "launching"))
		}
		st, err := a.store.LoadState(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Tasks) != 0 || st.Agent == nil || st.Agent.ID != "agent-new" {
			t.Errorf("checkpoint after fencing: agent %+v, %d tasks", st.Agent, len(st.Tasks))
		}
	})
}

// recovered is a recovered task's states: the history the checkpoint gave
// back (STARTING, RUNNING, as before the agent stopped), then these.
func recovered(then ...api.TaskState) []api.TaskState {
	return append([]api.TaskState{api.TaskStarting, api.TaskRunning}, then...)
}

// An agent in the same process as a master (--role=all) registers as soon
// as that master knows a leader, not after Mesos' random first wait in
// [0, registration_backoff_factor]; with no leader known, it waits at most
// that factor, as before.
func TestFirstRegistrationAtLeaderKnown(t *testing.T) {
	const factor = 10 * time.Second
	for _, tc := range []struct {
		name    string
		knownAt time.Duration // when the local master learns a leader; 0: never
		max     time.Duration
	}{
		{"leader known after 300ms", 300 * time.Millisecond, 300*time.Millisecond + leaderKnownPoll},
		{"no leader", 0, factor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := &fakeMaster{}
				start := time.Now()
				a := admittedAgent(t, m, factor, func() bool { return tc.knownAt > 0 && time.Since(start) >= tc.knownAt })
				took := time.Since(start)
				if len(m.registrations()) != 1 || a.ID() != "agent-new" {
					t.Fatalf("registrations %d, id %q; want one, agent-new", len(m.registrations()), a.ID())
				}
				if took < tc.knownAt || took > tc.max {
					t.Fatalf("registered after %v; want within [%v, %v]", took, tc.knownAt, tc.max)
				}
			})
		})
	}
}

// A master that answers a registration 503 with Retry-After (an election
// under way, a leader shedding load) is asked again after that delay plus
// up to as much again, however many times it answers so, and the backoff
// does not grow for it; a 503 without one is backed off from as Mesos'
// agent does (a random wait up to the factor doubled each attempt).
func TestRegistrationHonoursRetryAfter(t *testing.T) {
	const factor = 10 * time.Second
	// registered runs an agent's registration loop against m, its first
	// attempt at once, until the agent is admitted after attempts.
	registered := func(t *testing.T, m *fakeMaster, attempts int) {
		t.Helper()
		a := admittedAgent(t, m, factor, func() bool { return true })
		if a.ID() != "agent-new" || len(m.regTimes) != attempts {
			t.Fatalf("id %q after %d attempts; want agent-new after %d", a.ID(), len(m.regTimes), attempts)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		m := &fakeMaster{busy: 4, retryAfter: "1"}
		registered(t, m, 5)
		for i := 1; i < len(m.regTimes); i++ {
			if gap := m.regTimes[i].Sub(m.regTimes[i-1]); gap < time.Second || gap > 2*time.Second {
				t.Errorf("attempt %d came %v after the one answered Retry-After: 1; want within [1s, 2s]", i+1, gap)
			}
		}
	})
	synctest.Test(t, func(t *testing.T) {
		m := &fakeMaster{busy: 2}
		registered(t, m, 3)
		for i, limit := range []time.Duration{2 * factor, 4 * factor} {
			if gap := m.regTimes[i+1].Sub(m.regTimes[i]); gap > limit {
				t.Errorf("attempt %d came %v after a plain 503; want at most %v", i+2, gap, limit)
			}
		}
	})
}

// admittedAgent runs a new agent's registration loop against m, with
// backoff factor and cfg.LeaderKnown leaderKnown, until it is admitted.
func admittedAgent(t *testing.T, m *fakeMaster, factor time.Duration, leaderKnown func() bool) *Agent {
	t.Helper()
	cfg := fakeAgentConfig(t, t.TempDir(), newFakeDriver())
	cfg.HTTPClient = &http.Client{Transport: m}
	cfg.RegistrationBackoffFactor = factor
	cfg.LeaderKnown = leaderKnown
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if err := a.registerLoop(t.Context()); err != nil {
		t.Fatal(err)
	}
	return a
}
