package runtime

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"nodectl/cluster/api"
)

// markedLaunch is fakeLaunch with the restart-on-boot label set to value.
func markedLaunch(id, value string) *api.AgentMessage {
	m := fakeLaunch(id)
	m.Launch.Task.Labels = &api.Labels{Labels: []api.Label{{Key: "other", Value: "x"}, {Key: api.LabelRestartOnBoot, Value: value}}}
	return m
}

// rebootWith runs the launches to TASK_RUNNING on an agent booted as
// "boot-1", stops it, ends every container as a reboot does (the monitors
// die with the host: no exit recorded), and starts and recovers a second
// agent over the same dir with boot id "boot-2".
func rebootWith(t *testing.T, dir string, d *fakeDriver, cfg2 func(*Config), launches ...*api.AgentMessage) (*Agent, context.Context, func()) {
	t.Helper()
	cfg := fakeAgentConfig(t, dir, d)
	cfg.BootID = "boot-1"
	a, ctx, stop := startFakeAgent(t, cfg)
	for _, l := range launches {
		a.dispatch(ctx, l)
	}
	synctest.Wait()
	for _, l := range launches {
		wantStates(t, a, l.Launch.Task.TaskID.Value, api.TaskStarting, api.TaskRunning)
	}
	stop()
	for _, id := range d.ids() {
		d.get(id).loseMonitor()
	}
	cfg = fakeAgentConfig(t, dir, d)
	cfg.BootID = "boot-2"
	if cfg2 != nil {
		cfg2(&cfg)
	}
	a2, ctx2, stop2 := startFakeAgent(t, cfg)
	if err := a2.recoverTasks(ctx2); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	synctest.Wait()
	return a2, ctx2, stop2
}

// containerOf is the container id of the task's newest update.
func containerOf(t *testing.T, a *Agent, id string) string {
	t.Helper()
	st := lastStatus(t, a, id)
	if st.ContainerStatus == nil || st.ContainerStatus.ContainerID == nil {
		t.Fatalf("task %s: no container in %+v", id, st)
	}
	return st.ContainerStatus.ContainerID.Value
}

// After a reboot, a task labelled nodectl.restart-on-boot=true is
// relaunched by the agent from its checkpoint: same task id and agent id,
// a new container (the old one's record destroyed), a TASK_RUNNING that
// says why, the checkpoint pointing at the new run. An unlabelled task
// ends TASK_LOST as in Mesos. A restart after that (same boot) reattaches
// the relaunched container; an agent that died before it recorded the new
// boot id (so it sees the reboot again) reattaches it too: never a second
// container.
func TestFakeRebootRelaunchesMarkedTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		dir := t.TempDir()
		a, _, stop := rebootWith(t, dir, d, nil, markedLaunch("m", "True"), fakeLaunch("u"))
		sts := taskStatuses(a, "m")
		oldM := sts[1].ContainerStatus.ContainerID.Value // the RUNNING before the reboot
		if a.ID() != "agent-1" {
			t.Errorf("agent id after the reboot %q, want agent-1", a.ID())
		}
		wantStates(t, a, "u", recovered(api.TaskLost)...)
		if st := lastStatus(t, a, "u"); st.Reason != api.ReasonAgentRestarted {
			t.Errorf("unlabelled task: %s/%s, want TASK_LOST/%s", st.State, st.Reason, api.ReasonAgentRestarted)
		}
		wantStates(t, a, "m", recovered(api.TaskRunning)...)
		st := lastStatus(t, a, "m")
		if st.Message != bootRelaunchMessage || st.AgentID == nil || st.AgentID.Value != "agent-1" {
			t.Errorf("relaunched task's update: %q from agent %v", st.Message, st.AgentID)
		}
		if d.starts != 3 {
			t.Fatalf("%d container starts, want 2 before the reboot and 1 relaunch", d.starts)
		}
		newID := containerOf(t, a, "m")
		if newID == oldM {
			t.Fatalf("relaunched in the old container %s", oldM)
		}
		if c := d.get(newID); c == nil {
			t.Fatalf("the update names container %s, the driver has %v", newID, d.ids())
		}
		if d.get(oldM) != nil {
			t.Errorf("the old run's container %s was not destroyed", oldM)
		}
		if rec, ok := checkpointed(t, a, "m"); !ok || rec.ContainerID != newID || rec.State != string(api.TaskRunning) {
			t.Errorf("checkpoint after the relaunch: %+v, want container %s RUNNING", rec, newID)
		}
		if got := a.metrics.Snapshot()["slave/tasks_relaunched_after_reboot"]; got != 1 {
			t.Errorf("slave/tasks_relaunched_after_reboot %v, want 1", got)
		}
		stop()

		// The agent restarts (same boot): plain recovery reattaches.
		cfg := fakeAgentConfig(t, dir, d)
		cfg.BootID = "boot-2"
		a2, ctx2, stop2 := startFakeAgent(t, cfg)
		if err := a2.recoverTasks(ctx2); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if d.starts != 3 || d.get(newID) == nil {
			t.Fatalf("restart in the same boot: %d starts, containers %v; want the relaunched one reattached", d.starts, d.ids())
		}
		// An agent that died after relaunching but before recording the
		// boot id sees the reboot again: the running container is reattached.
		if err := a2.store.SetBootID(context.Background(), "boot-1"); err != nil {
			t.Fatal(err)
		}
		stop2()
		cfg.BootID = "boot-2"
		a3, ctx3, _ := startFakeAgent(t, cfg)
		if err := a3.recoverTasks(ctx3); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if d.starts != 3 || d.get(newID) == nil {
			t.Fatalf("reboot seen twice: %d starts, containers %v; want %s reattached", d.starts, d.ids(), newID)
		}
		tk := a3.tasks.get("fw", "m")
		a3.tasks.mu.Lock()
		state, ctr := tk.state, tk.ctr
		a3.tasks.mu.Unlock()
		if state != api.TaskRunning || ctr == nil || ctr.ID() != newID {
			t.Fatalf("task after the second recovery: %s on %v, want TASK_RUNNING on %s", state, ctr, newID)
		}
		// Its exit is reported as any task's.
		d.get(newID).exitWith(0, 0)
		synctest.Wait()
		if st := lastStatus(t, a3, "m"); st.State != api.TaskFinished {
			t.Errorf("relaunched task's exit: %s, want TASK_FINISHED", st.State)
		}
	})
}

// A labelled task the agent cannot relaunch from its checkpoint ends as
// Mesos would after a reboot (TASK_LOST, no new container): its framework
// does not checkpoint, it uses a secret (whose value the checkpoint does
// not hold), the label's value is not true/false, or the label says false.
func TestFakeRebootNotRelaunched(t *testing.T) {
	noCheckpoint := markedLaunch("n", "true")
	noCheckpoint.Launch.Framework.Checkpoint = false
	secret := markedLaunch("n", "true")
	secret.Launch.Task.Command.Environment = &api.Environment{Variables: []api.EnvVar{{Name: "PW", Type: api.EnvTypeSecret,
		Secret: &api.Secret{Type: api.SecretValue, Value: &api.SecretVal{Data: []byte("s3cret")}}}}}
	for name, launch := range map[string]*api.AgentMessage{
		"framework does not checkpoint": noCheckpoint,
		"uses a secret":                 secret,
		"bad label value":               markedLaunch("n", "yes"),
		"label false":                   markedLaunch("n", "false"),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newFakeDriver()
				a, _, _ := rebootWith(t, t.TempDir(), d, nil, launch)
				wantStates(t, a, "n", recovered(api.TaskLost)...)
				if d.starts != 1 {
					t.Errorf("%d starts, want no relaunch", d.starts)
				}
			})
		})
	}
}

// A relaunch that cannot start its container ends TASK_FAILED
// (REASON_CONTAINER_LAUNCH_FAILED), as any launch.
func TestFakeRebootRelaunchFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDriver()
		dir := t.TempDir()
		a, _, _ := rebootWith(t, dir, d, func(*Config) {
			d.mu.Lock()
			d.startErr = errors.New("no room")
			d.mu.Unlock()
		}, markedLaunch("m", "true"))
		wantStates(t, a, "m", recovered(api.TaskFailed)...)
		if st := lastStatus(t, a, "m"); st.Reason != api.ReasonContainerLaunchFailed {
			t.Errorf("failed relaunch: %s/%s", st.State, st.Reason)
		}
		if st, _ := a.store.LoadState(context.Background(), true); len(st.Tasks) != 1 || !st.Tasks[0].Terminal {
			t.Errorf("checkpoint: %+v, want the task ended", st.Tasks)
		}
	})
}
