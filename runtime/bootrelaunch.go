package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
	"nodectl/storage"
)

// Tasks back after a reboot (docs/runtime.md, "Tasks back after a host
// reboot"). After a host reboot (the kernel boot id differs from the one
// the checkpoint recorded) the Mesos agent recovers nothing: the old
// containers are gone with the reboot, and their tasks end TASK_LOST (or
// TASK_GONE for a partition-aware framework) for a master to relaunch
// (https://mesos.apache.org/documentation/latest/agent-recovery/). A task
// whose TaskInfo carries the label api.LabelRestartOnBoot=true is instead
// relaunched by the agent itself from its checkpoint, master or not: same
// task id, same status stream, a new executor run (container id and
// sandbox), the same persistent volumes (they are restored before
// recovery). Its update is a TASK_RUNNING that says so; the master and
// the frameworks see the same task running on the same agent when it
// re-registers (cluster/registry.go: admitLocked), and whatever they
// ended or replaced meanwhile is killed there, so nothing runs twice.

// bootAction is what recovery does with a task after a host reboot.
type bootAction int

const (
	// bootLost: Mesos' semantics, the task ends TASK_LOST or TASK_GONE.
	bootLost bootAction = iota
	// bootRelaunch: the task is relaunched once recovery is over.
	bootRelaunch
	// bootReattach: the task was already relaunched in this boot by an
	// agent that died before it recorded the boot id: its container runs
	// and is reattached, never started twice.
	bootReattach
)

// bootRelaunchMessage is the message of a relaunched task's TASK_RUNNING.
const bootRelaunchMessage = "Relaunched by the agent after a host reboot (label " + api.LabelRestartOnBoot + ")"

// afterReboot decides a recovered live task's fate after a host reboot and,
// for a relaunch, moves the task to a new executor run in the checkpoint
// before anything runs. The relaunch itself starts in startBootRelaunches,
// after the orphans (the old run among them) are cleaned up.
func (a *Agent) afterReboot(ctx context.Context, t *task) bootAction {
	on, err := api.RestartOnBoot(t.info.Labels)
	if err != nil {
		a.log.Warn("the host rebooted; the task's restart-on-boot label is not understood: not relaunched", "task_id", t.id, "err", err)
		return bootLost
	}
	if !on {
		return bootLost
	}
	if why := a.bootRelaunchRefusal(t); why != "" {
		a.log.Warn("the host rebooted; the task asks to be relaunched but cannot be", "task_id", t.id, "framework_id", t.frameworkID, "why", why)
		return bootLost
	}
	if t.containerID != "" {
		if ctr, err := a.driver.Load(t.containerID); err == nil {
			if st, _ := ctr.Status(); st == container.Running {
				return bootReattach
			}
			// The old run's container, gone with the reboot: its record goes.
			if err := ctr.Destroy(ctx); err != nil {
				a.log.Warn("destroy the container of the task's run before the reboot", "task_id", t.id, "container_id", t.containerID, "err", err)
			}
		}
	}
	old := *t
	a.releaseRootfs(&old) // the old run's secrets dir, rootfs and network
	containerID := uuid.NewString()
	sandbox := sandboxDir(a.cfg.WorkDir, a.ID(), t.frameworkID, t.executorID, containerID)
	info, err := json.Marshal(t.info)
	if err == nil {
		err = a.store.RelaunchTask(ctx, storage.TaskKey{FrameworkID: t.frameworkID, TaskID: t.id}, storage.Executor{
			FrameworkID: t.frameworkID, ExecutorID: t.executorID, ContainerID: containerID, Sandbox: sandbox, Info: info, LaunchedAt: time.Now(),
		})
	}
	if err != nil {
		// Not checkpointed, not run: a relaunch a restart could not find
		// might run twice.
		a.log.Error("the host rebooted; cannot checkpoint the task's relaunch: not relaunched", "task_id", t.id, "err", err)
		return bootLost
	}
	a.tasks.mu.Lock()
	t.containerID, t.sandbox, t.runDir, t.launchedAt, t.ctr = containerID, sandbox, "", time.Now(), nil
	t.relaunch = bootRelaunchMessage
	t.launching = true
	t.launchCtx, t.killLaunch = context.WithCancel(ctx)
	a.tasks.mu.Unlock()
	a.bootRelaunches = append(a.bootRelaunches, t)
	return bootRelaunch
}

// bootRelaunchRefusal is why a task marked to restart on boot cannot be
// relaunched from the checkpoint; "" when it can.
func (a *Agent) bootRelaunchRefusal(t *task) string {
	switch {
	case a.cfg.Recover != "reconnect":
		return "--recover=" + a.cfg.Recover + " kills every old task"
	case a.driver == nil:
		return fmt.Sprintf("this agent cannot run containers: %v", a.driverErr)
	case !t.framework.Checkpoint:
		return "its framework does not checkpoint (FrameworkInfo.checkpoint)"
	case t.info.Executor != nil || t.executorID != t.id:
		return "only command tasks are relaunched, not tasks of a custom executor or of a task group"
	case t.state != api.TaskStaging && t.state != api.TaskStarting && t.state != api.TaskRunning:
		return "it was in " + string(t.state) + " before the reboot"
	case usesSecrets(t.info):
		return "it uses secrets, whose values the agent does not keep"
	}
	return ""
}

// usesSecrets reports whether a task (as checkpointed: values taken out)
// names a secret: an environment variable, a volume or an image pull
// config.
func usesSecrets(ti api.TaskInfo) bool {
	_, s := takeSecrets(ti)
	return s.err != nil || len(s.env) > 0 || len(s.files) > 0 || s.pull != nil
}

// startBootRelaunches launches the tasks afterReboot prepared, each in the
// background as a LAUNCH is, and then forgets them.
func (a *Agent) startBootRelaunches(ctx context.Context) {
	for _, t := range a.bootRelaunches {
		a.log.Info("relaunching a task after the host reboot", "task_id", t.id, "framework_id", t.frameworkID,
			"container_id", t.containerID, "sandbox", filepath.Base(t.sandbox))
		a.m.bootRelaunches.Inc()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.launch(ctx, t)
		}()
	}
	a.bootRelaunches = nil
}
