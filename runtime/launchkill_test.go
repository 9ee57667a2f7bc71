package runtime

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container/containertest"
)

// killTestAgent is an agent that can run containers (the shim embedded by
// `make build`) but is not connected to a master: tests hand it messages
// through dispatch and read the task's updates from its table. At cleanup
// every container it made is destroyed.
func killTestAgent(t *testing.T, insecure ...string) (*Agent, context.Context) {
	t.Helper()
	containertest.RequireRoot(t)
	a, err := New(Config{WorkDir: t.TempDir(), Masters: []string{"127.0.0.1:1"}, Port: 5051, InsecureRegistries: insecure,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	if a.driver == nil {
		_ = a.Close()
		t.Skipf("no container driver: %v (run make build first)", a.driverErr)
	}
	a.id = "agent-" + sanitizeName(t.Name()) // as if registered: sandboxes live under the agent id
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		// Kill what still runs, wait for the task goroutines, then destroy
		// every container left, so nothing outlives the test.
		a.tasks.mu.Lock()
		var ids []string
		for k := range a.tasks.live {
			ids = append(ids, k.task)
		}
		a.tasks.mu.Unlock()
		for _, id := range ids {
			a.kill(ctx, &api.KillMessage{FrameworkID: api.ID{Value: "fw"}, TaskID: api.ID{Value: id}, GracePeriod: &api.DurationInfo{}})
		}
		waitCtx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
		defer stop()
		done := make(chan struct{})
		go func() { a.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-waitCtx.Done():
			t.Error("task goroutines did not end")
		}
		cancel()
		dctx, stop2 := context.WithTimeout(context.Background(), 2*time.Minute)
		defer stop2()
		left, _ := a.driver.List()
		for _, id := range left {
			if c, err := a.driver.Load(id); err == nil {
				if err := c.Destroy(dctx); err != nil {
					t.Errorf("destroy %s: %v", id, err)
				}
			}
		}
		_ = a.Close()
	})
	return a, ctx
}

func launchMessage(id, cmd, image string) *api.AgentMessage {
	ti := api.TaskInfo{
		Name: id, TaskID: api.ID{Value: id},
		Resources: api.Resources{api.ScalarResource("cpus", 0.1), api.ScalarResource("mem", 32)},
		Command:   &api.CommandInfo{Value: cmd},
	}
	if image != "" {
		ti.Container = &api.ContainerInfo{Type: "MESOS", Mesos: &api.MesosContainer{Image: &api.Image{Type: "DOCKER", Docker: &api.DockerImage{Name: image}}}}
	}
	return &api.AgentMessage{Type: api.MsgLaunch, Launch: &api.LaunchMessage{
		Framework: api.FrameworkInfo{ID: &api.ID{Value: "fw"}, Name: "kill-test"}, Task: ti,
	}}
}

func killMessage(id string) *api.AgentMessage {
	return &api.AgentMessage{Type: api.MsgKill, Kill: &api.KillMessage{FrameworkID: api.ID{Value: "fw"}, TaskID: api.ID{Value: id}}}
}

// taskStatuses is the updates the agent made for a task so far.
func taskStatuses(a *Agent, id string) []api.TaskStatus {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	t := a.tasks.live[streamKey{"fw", id}]
	if t == nil {
		return nil
	}
	return append([]api.TaskStatus(nil), t.statuses...)
}

// requireKilledDuringLaunch waits for the task's terminal update and checks
// it is TASK_KILLED/REASON_TASK_KILLED_DURING_LAUNCH, that it is the only
// terminal one, and that no container (and no process of pid, if given)
// is left.
func requireKilledDuringLaunch(t *testing.T, a *Agent, id string, pids ...int) {
	t.Helper()
	last := awaitTerminal(t, a, id)
	if last.State != api.TaskKilled || last.Reason != api.ReasonTaskKilledDuringLaunch || last.Source != api.SourceAgent {
		t.Fatalf("task %s ended %s/%s from %s (%q), want TASK_KILLED/%s from the agent", id, last.State, last.Reason, last.Source, last.Message, api.ReasonTaskKilledDuringLaunch)
	}
	for _, st := range taskStatuses(a, id) {
		if st.State == api.TaskRunning {
			t.Errorf("task %s was reported RUNNING before it was killed", id)
		}
	}
	if ids, err := a.driver.List(); err != nil || len(ids) != 0 {
		t.Errorf("containers left after the kill: %v %v", ids, err)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			t.Errorf("process %d of the killed task is still there: %s", pid, st)
		}
	}
	// The launch has ended for good: a later KILL is a no-op, not a second answer.
	n := len(taskStatuses(a, id))
	a.dispatch(context.Background(), killMessage(id))
	if sts := taskStatuses(a, id); len(sts) != n {
		t.Errorf("a KILL after the end changed the task: %+v", sts)
	}
}

// waitOrEnded waits for cond, failing at once if the task ends first.
func waitOrEnded(t *testing.T, a *Agent, id string, cond func() bool) {
	t.Helper()
	containertest.Eventually(t, time.Minute, func() bool {
		if cond() {
			return true
		}
		if sts := taskStatuses(a, id); len(sts) > 0 && sts[len(sts)-1].State.Terminal() {
			t.Fatalf("task %s ended before the point under test: %+v", id, sts[len(sts)-1])
		}
		return false
	}, "task %s never reached the point under test", id)
}

func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
}

// queued is the updates queued for delivery for a task.
func queued(a *Agent, id string) []api.StatusUpdate {
	a.status.mu.Lock()
	defer a.status.mu.Unlock()
	if s := a.status.streams[streamKey{"fw", id}]; s != nil {
		return append([]api.StatusUpdate(nil), s.pending...)
	}
	return nil
}

// A KILL while the launch waits for a start slot ends it there; the
// container is never made.
func TestKillWhileWaitingForStartSlot(t *testing.T) {
	a, ctx := killTestAgent(t)
	// Take every start slot, as a burst of other launches would.
	for range cap(a.starts) {
		a.starts <- struct{}{}
	}
	defer func() {
		for range cap(a.starts) {
			<-a.starts
		}
	}()
	a.dispatch(ctx, launchMessage("slot", "sleep 1000", ""))
	containertest.Eventually(t, time.Minute, func() bool {
		sts := taskStatuses(a, "slot")
		return len(sts) > 0 && sts[len(sts)-1].State == api.TaskStarting
	}, "task did not reach STARTING")
	a.dispatch(ctx, killMessage("slot"))
	requireKilledDuringLaunch(t, a, "slot")
}

// A KILL while the image is being pulled aborts the pull; the container is
// never made.
func TestKillDuringImagePull(t *testing.T) {
	pulling := make(chan struct{}, 1)
	// A registry that never answers: every request hangs until the client
	// gives up, so the pull is in flight until the KILL cancels it.
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case pulling <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	a, ctx := killTestAgent(t, host)
	a.dispatch(ctx, launchMessage("pull", "sleep 1000", host+"/never/answers:latest"))
	waitOrEnded(t, a, "pull", func() bool { return len(pulling) > 0 })
	a.dispatch(ctx, killMessage("pull"))
	requireKilledDuringLaunch(t, a, "pull")
	// Image tasks' run directories are spread over the disk as sandboxes are.
	requireTopdir(t, filepath.Join(a.cfg.WorkDir, "provisioner", "containers"))
}

// A KILL that arrives once the container runs but before the launch has
// ended destroys the container: its process is gone, and the task is
// never reported RUNNING.
func TestKillDuringContainerStart(t *testing.T) {
	a, ctx := killTestAgent(t)
	pids := make(chan int, 1)
	launchHook = func(stage launchStage, id string) {
		if stage != stageCreated || id != "start" {
			return
		}
		tk := a.tasks.get("fw", id)
		a.tasks.mu.Lock()
		pid := tk.ctr.Pid()
		a.tasks.mu.Unlock()
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			t.Errorf("the container's process %d is not running: %v", pid, err)
		}
		// The master's KILL arrives now, through the message path.
		a.dispatch(ctx, killMessage(id))
		pids <- pid
	}
	defer func() { launchHook = nil }()
	a.dispatch(ctx, launchMessage("start", "sleep 1000", ""))
	waitOrEnded(t, a, "start", func() bool { return len(pids) > 0 })
	pid := <-pids
	requireKilledDuringLaunch(t, a, "start", pid)
}

// A KILL that comes before its LAUNCH is remembered: the LAUNCH is refused
// as killed and nothing runs.
func TestKillBeforeLaunch(t *testing.T) {
	a, ctx := killTestAgent(t)
	a.dispatch(ctx, killMessage("early"))
	if q := queued(a, "early"); len(q) != 0 {
		t.Fatalf("the early KILL was answered at once (%+v); it must wait for its LAUNCH", q)
	}
	a.dispatch(ctx, launchMessage("early", "sleep 1000", ""))
	requireKilledDuringLaunch(t, a, "early")
	for _, st := range taskStatuses(a, "early") {
		if st.State == api.TaskStarting {
			t.Errorf("the killed task went on to STARTING: %+v", taskStatuses(a, "early"))
		}
	}
}

// A remembered KILL whose LAUNCH never comes is answered, after
// earlyKillTTL, as for an unknown task; a LAUNCH after that runs.
func TestEarlyKillExpires(t *testing.T) {
	defer func(d time.Duration) { earlyKillTTL = d }(earlyKillTTL)
	earlyKillTTL = 10 * time.Millisecond
	a := openAgent(t, t.TempDir())
	defer a.Close()
	a.dispatch(context.Background(), killMessage("never"))
	containertest.Eventually(t, time.Minute, func() bool { return len(queued(a, "never")) == 1 }, "no answer to the expired KILL")
	if u := queued(a, "never")[0]; u.Status.State != api.TaskLost || u.Status.Reason != api.ReasonTaskUnknown {
		t.Fatalf("expired KILL answered %s/%s", u.Status.State, u.Status.Reason)
	}
	a.tasks.mu.Lock()
	left := len(a.tasks.early)
	a.tasks.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d early kills remembered after expiry", left)
	}
}

// Early kills are bounded: past maxEarlyKills, a KILL for an unknown task is
// answered at once.
func TestEarlyKillsBounded(t *testing.T) {
	a := openAgent(t, t.TempDir())
	defer a.Close()
	for i := range maxEarlyKills {
		a.dispatch(context.Background(), killMessage("t"+strconv.Itoa(i)))
	}
	a.dispatch(context.Background(), killMessage("one-too-many"))
	if q := queued(a, "one-too-many"); len(q) != 1 || q[0].Status.State != api.TaskLost {
		t.Fatalf("a KILL past the bound: %+v", q)
	}
	a.tasks.mu.Lock()
	for _, tm := range a.tasks.early {
		tm.Stop()
	}
	a.tasks.mu.Unlock()
}
