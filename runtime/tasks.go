package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"nodectl/cluster/api"
	"nodectl/runtime/image"
	"nodectl/runtime/internal/container"
	"nodectl/storage"
)

// defaultPidsLimit caps the processes/threads of one task.
const defaultPidsLimit = 4096

// task is the agent's record of one task (Mesos command tasks: one
// executor, one container, per task).
type task struct {
	id, frameworkID, executorID, containerID string
	framework                                api.FrameworkInfo
	info                                     api.TaskInfo
	sandbox                                  string // host path
	runDir                                   string // container dir for the image rootfs
	launchedAt                               time.Time
	hostVolumes                              []api.Volume // hostPath volumes as allowed: resolved source, mode
	secrets                                  taskSecrets  // resolved secrets, out of info (secrets.go); dropped once started
	group                                    *taskGroup   // its task group (LAUNCH_GROUP), nil for a lone task
	netInfos                                 []any        // its CNI networks' addresses for status updates (network.go)

	// Guarded by taskTable.mu.
	state    api.TaskState
	statuses []api.TaskStatus
	killing  bool
	fenced   bool // the master removed the agent: end quietly
	// killReason and killMessage say why the agent itself killed the task
	// (a failing health check); empty for kills the framework asked for.
	killReason, killMessage string
	limitation              bool // killed for a resource limitation: ends TASK_FAILED
	ctr                     taskContainer
	// launching is true from the LAUNCH until the launch path has ended
	// (the task runs, or it ended); while it is, a kill is the launch's to
	// carry out, through launchCtx.
	launching bool
	// relaunch, set when the agent relaunches the task from its checkpoint
	// after a host reboot (bootrelaunch.go), is its TASK_RUNNING message;
	// the launch then skips the checkpoint and STARTING it already has.
	relaunch string

	// launchCtx is the launch's context: killLaunch cancels it on a KILL
	// (or when the agent is fenced), and the launch checks it before and
	// after every step. Set before the task is in the table, then fixed.
	launchCtx  context.Context
	killLaunch context.CancelFunc

	// checkResults are the task's health checks' latest results, sent
	// with each health update of a task with several checks (health.go).
	// Guarded by taskTable.mu.
	checkResults []api.CheckResult
}

// taskTable holds live and recently completed tasks.
type taskTable struct {
	mu        sync.Mutex // guards every field below and task fields marked so
	live      map[streamKey]*task
	completed []*task // bounded, newest last
	// early holds KILLs that arrived before their LAUNCH: the LAUNCH is
	// then refused as killed. Bounded by maxEarlyKills; an entry expires
	// after earlyKillTTL, and the kill is then answered as for an unknown
	// task.
	early map[streamKey]*time.Timer
}

const maxEarlyKills = 1024

// earlyKillTTL is how long a KILL waits for its LAUNCH (a variable for tests).
var earlyKillTTL = time.Minute

const maxCompletedTasks = 200

func (tt *taskTable) get(fw, id string) *task {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return tt.live[streamKey{fw, id}]
}

// complete moves a task whose terminal update was acknowledged out of the
// live set.
func (tt *taskTable) complete(fw, id string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	k := streamKey{fw, id}
	t, ok := tt.live[k]
	if !ok || !t.state.Terminal() {
		return
	}
	delete(tt.live, k)
	tt.completed = append(tt.completed, t)
	if n := len(tt.completed) - maxCompletedTasks; n > 0 {
		tt.completed = append([]*task(nil), tt.completed[n:]...)
	}
}

// setState moves t to state through the one transition table and queues
// the status update. It reports false for an illegal transition.
func (a *Agent) setState(t *task, state api.TaskState, reason, message string, exitCode *int) bool {
	return a.updateTask(t, state, reason, message, exitCode, nil)
}

// updateTask is setState with the task's health, for health check updates.
func (a *Agent) updateTask(t *task, state api.TaskState, reason, message string, exitCode *int, healthy *bool) bool {
	a.tasks.mu.Lock()
	next, err := api.Next(t.state, state)
	if err != nil {
		a.tasks.mu.Unlock()
		a.log.Warn("task state change refused", "task_id", t.id, "err", err)
		return false
	}
	t.state = next
	st := api.TaskStatus{
		TaskID: api.ID{Value: t.id}, State: state, Message: message, Source: api.SourceExecutor, Reason: reason,
		AgentID: &api.ID{Value: a.ID()}, ExecutorID: &api.ID{Value: t.executorID},
		Timestamp: float64(time.Now().UnixNano()) / 1e9, UUID: uuidBytes(), ExitCode: exitCode, Healthy: healthy,
		ContainerStatus: &api.ContainerStatus{ContainerID: &api.ID{Value: t.containerID}},
	}
	if t.ctr != nil {
		st.ContainerStatus.ExecutorPID = t.ctr.Pid()
	}
	if healthy != nil {
		st.HealthChecks = t.checkResults
	}
	st.ContainerStatus.NetworkInfo = t.netInfos
	switch reason {
	case api.ReasonContainerLaunchFailed, api.ReasonContainerLimitationMem, api.ReasonContainerLimitationDisk,
		api.ReasonExecutorTerminated, api.ReasonTaskInvalid, api.ReasonTaskKilledDuringLaunch, api.ReasonFetcherFailed,
		api.ReasonAgentRestarted, api.ReasonExecutorReregTimeout:
		st.Source = api.SourceAgent // the agent, not the task, decided this
	}
	t.statuses = append(t.statuses, st)
	a.tasks.mu.Unlock()
	defer a.groupTaskEnded(t, next) // kill policy (taskgroup.go), after the update is queued
	a.log.Info("task "+string(state), "task_id", t.id, "framework_id", t.frameworkID, "reason", reason, "message", message)
	u := api.StatusUpdate{AgentID: api.ID{Value: a.ID()}, FrameworkID: api.ID{Value: t.frameworkID}, Status: st, LatestState: next}
	a.checkpointUpdate(u)
	a.status.enqueue(u)
	return true
}

// checkpointUpdate records an update (and the task's new state) before it
// is sent, so a restarted agent re-sends what was never acknowledged.
func (a *Agent) checkpointUpdate(u api.StatusUpdate) {
	body, err := json.Marshal(u)
	if err == nil {
		_, err = a.store.AppendUpdate(context.Background(), storage.Update{
			FrameworkID: u.FrameworkID.Value, TaskID: u.Status.TaskID.Value, UUID: u.Status.UUID,
			State: string(u.Status.State), Terminal: u.Status.State.Terminal(), Body: body,
		})
	}
	if err != nil {
		a.log.Error("checkpoint status update; it is delivered but would not survive a restart",
			"task_id", u.Status.TaskID.Value, "state", u.Status.State, "err", err)
	}
}

func uuidBytes() []byte {
	u := uuid.New()
	return u[:]
}

// launchStage names a point of the launch path, for launchHook.
type launchStage string

const (
	stageSlot    launchStage = "slot"    // a start slot was taken
	stageCreated launchStage = "created" // the container runs, the launch has not ended
)

// launchHook, when set (by tests only), is called at each launchStage with
// the task id.
var launchHook func(stage launchStage, taskID string)

func atStage(stage launchStage, t *task) {
	if launchHook != nil {
		launchHook(stage, t.id)
	}
}

// admitLaunch is the part of a LAUNCH that is handled in the order of the
// master's messages, before the next message: the task enters the table
// with its kill context. A KILL that came before it cancels that context
// at once, so the launch ends the task killed instead of running it. It
// returns nil when there is nothing to launch.
func (a *Agent) admitLaunch(ctx context.Context, m *api.LaunchMessage) *task {
	fw := ""
	if m.Framework.ID != nil {
		fw = m.Framework.ID.Value
	}
	t := &task{
		id: m.Task.TaskID.Value, frameworkID: fw, executorID: m.Task.TaskID.Value,
		containerID: uuid.NewString(), framework: m.Framework, launchedAt: time.Now(),
	}
	t.info, t.secrets = takeSecrets(m.Task)
	t.launchCtx, t.killLaunch = context.WithCancel(ctx)
	a.joinGroup(t, m.Group) // taskgroup.go
	k := streamKey{fw, t.id}
	a.tasks.mu.Lock()
	if _, dup := a.tasks.live[k]; dup {
		a.tasks.mu.Unlock()
		t.killLaunch()
		// A re-sent launch of a task we already run: nothing to do.
		a.log.Warn("duplicate launch ignored", "task_id", t.id, "framework_id", fw)
		return nil
	}
	t.state = api.TaskStaging
	t.launching = true
	a.tasks.live[k] = t
	if a.tasks.takeEarlyKillLocked(k) {
		t.killing = true
		t.killLaunch()
	}
	a.tasks.mu.Unlock()
	return t
}

// launch runs a task admitted by admitLaunch: sandbox, container,
// STARTING, RUNNING, and a waiter for the exit. It returns once the
// container runs or the launch ended. Before and after each step (waiting
// for a start slot, pulling the image, creating and starting the
// container) it checks the task's kill context; the steps themselves run
// under it. A killed launch destroys what it made and ends the task
// TASK_KILLED with REASON_TASK_KILLED_DURING_LAUNCH.
func (a *Agent) launch(ctx context.Context, t *task) {
	defer t.killLaunch() // releases the context once the launch has ended
	if t.frameworkID == "" || t.id == "" {
		a.endLaunch(t)
		a.setState(t, api.TaskError, api.ReasonTaskInvalid, "task and framework ids are required", nil)
		return
	}
	if err := t.secrets.err; err != nil {
		a.endLaunch(t)
		a.setState(t, api.TaskError, api.ReasonTaskInvalid, "Task refused: "+err.Error(), nil)
		return
	}
	if msg := a.diskFullRefusal(); msg != "" {
		a.endLaunch(t)
		a.setState(t, api.TaskFailed, api.ReasonContainerLaunchFailed, msg, nil)
		return
	}
	if t.relaunch != "" {
		// Checkpointed by afterReboot (bootrelaunch.go).
	} else if err := a.checkpointLaunch(t); err != nil {
		a.log.Error("checkpoint launch", "task_id", t.id, "err", err)
		a.endLaunch(t)
		a.setState(t, api.TaskDropped, api.ReasonContainerLaunchFailed, "could not checkpoint the task: "+err.Error(), nil)
		return
	}
	// hostPath volumes only under --allowed-host-paths (never the work dir).
	hostVolumes, err := a.checkHostPaths(t.info)
	if err != nil {
		a.endLaunch(t)
		a.setState(t, api.TaskError, api.ReasonTaskInvalid, err.Error(), nil)
		return
	}
	t.hostVolumes = hostVolumes
	if msg := a.portRefusal(ctx, t); msg != "" { // ports.go
		a.endLaunch(t)
		a.setState(t, api.TaskFailed, api.ReasonContainerLaunchFailed, msg, nil)
		return
	}
	if t.launchCtx.Err() != nil && ctx.Err() == nil {
		a.launchKilled(t, "before it was launched")
		return
	}
	if t.relaunch == "" || t.state == api.TaskStaging {
		a.setState(t, api.TaskStarting, "", "", nil)
	}
	if !a.fetchForLaunch(ctx, t) {
		return
	}
	select {
	case a.starts <- struct{}{}:
	case <-t.launchCtx.Done():
		if ctx.Err() != nil {
			return // detaching; the checkpoint says STARTING and recovery settles it
		}
		a.launchKilled(t, "waiting for a start slot")
		return
	}
	atStage(stageSlot, t)
	err = a.startContainer(t.launchCtx, t)
	<-a.starts
	if ctx.Err() != nil {
		return // detaching: recovery settles whatever was made
	}
	// The kill check and the end of the launch are one step under the
	// table's lock: a KILL either finds the launch still going (and this
	// sees its context cancelled) or finds the container to kill.
	a.tasks.mu.Lock()
	killed := t.launchCtx.Err() != nil
	if !killed && err == nil {
		t.launching = false
	}
	a.tasks.mu.Unlock()
	switch {
	case killed:
		a.launchKilled(t, "starting its container")
		return
	case err != nil:
		a.endLaunch(t)
		a.setState(t, api.TaskFailed, api.ReasonContainerLaunchFailed, err.Error(), nil)
		a.releaseRootfs(t)
		return
	}
	a.setState(t, api.TaskRunning, "", t.relaunch, nil)
	a.watch(ctx, t)
}

// endLaunch marks the launch over; kills go to the container from now on.
func (a *Agent) endLaunch(t *task) {
	a.tasks.mu.Lock()
	t.launching = false
	a.tasks.mu.Unlock()
}

// launchKilled ends a launch that a KILL (or fencing) interrupted: it
// destroys the container if one was made, so no process is left, releases
// the rootfs, and then reports TASK_KILLED with
// REASON_TASK_KILLED_DURING_LAUNCH (Mesos' reason for a task killed before
// its executor ran it, see include/mesos/mesos.proto).
func (a *Agent) launchKilled(t *task, during string) {
	a.tasks.mu.Lock()
	t.launching, t.killing = false, true
	ctr, fenced := t.ctr, t.fenced
	a.tasks.mu.Unlock()
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ctr != nil {
		if err := ctr.Destroy(dctx); err != nil {
			a.log.Warn("destroy container of a task killed during launch", "task_id", t.id, "container_id", t.containerID, "err", err)
		}
	}
	a.releaseRootfs(t)
	if fenced {
		return // already ended by the master; nothing to report
	}
	a.setState(t, api.TaskKilled, api.ReasonTaskKilledDuringLaunch, "Task killed "+during, nil)
	if err := a.store.CompleteExecutor(dctx, t.containerID, time.Now()); err != nil {
		a.log.Warn("checkpoint executor end", "task_id", t.id, "err", err)
	}
}

// watch starts the goroutines that follow a running task: the exit waiter
// and, when the task has one, its health check.
func (a *Agent) watch(ctx context.Context, t *task) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.awaitExit(ctx, t)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.watchDisk(ctx, t)
	}()
	if t.info.HealthCheck != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.runHealthCheck(ctx, t)
		}()
	}
}

// checkpointLaunch records framework, executor run and task before anything
// runs, so a restart knows what may be running.
func (a *Agent) checkpointLaunch(t *task) error {
	fwInfo, err := json.Marshal(t.framework)
	if err != nil {
		return err
	}
	taskInfo, err := json.Marshal(t.info)
	if err != nil {
		return err
	}
	t.sandbox = a.taskSandboxDir(t)
	return a.store.LaunchTask(context.Background(), storage.Launch{
		Framework: storage.Framework{ID: t.frameworkID, Info: fwInfo, Checkpoint: t.framework.Checkpoint},
		Executor: storage.Executor{FrameworkID: t.frameworkID, ExecutorID: t.executorID, ContainerID: t.containerID,
			Sandbox: t.sandbox, Info: taskInfo, LaunchedAt: t.launchedAt},
		Task: storage.Task{FrameworkID: t.frameworkID, TaskID: t.id, ExecutorID: t.executorID, ContainerID: t.containerID,
			Info: taskInfo, State: string(api.TaskStaging)},
	})
}

func (a *Agent) startContainer(ctx context.Context, t *task) error {
	if a.driver == nil {
		return fmt.Errorf("this agent cannot run containers: %w", a.driverErr)
	}
	netw := a.beginNetwork(ctx, t) // network.go: attached meanwhile
	defer netw.wait()
	sandbox, err := a.makeTaskSandbox(t)
	if err != nil {
		return err
	}
	t.sandbox = sandbox
	cpus, mem := taskLimits(t.info.Resources)
	spec := container.Spec{
		ID: t.containerID, SandboxDir: sandbox, SandboxTarget: sandbox,
		CPUs: cpus, CPUHardLimit: a.cfg.CgroupsEnableCFS, MemBytes: mem, PidsLimit: defaultPidsLimit,
	}
	spec.SeccompProfile, spec.SeccompUnconfined = taskSeccomp(t.info)
	var imgEnv []string
	var imgUser string
	var imgConfig *image.ImageConfig
	// A warm container claimed for the task (warmimage.go) and not handed
	// to the driver's Start is ended on the way out.
	defer func() { a.unclaimWarm(spec.Warm) }()
	if img := taskImage(t.info); img != "" {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := netw.failed(); err != nil {
			return err // no pull for a task that cannot start
		}
		t.runDir = provisionerDir(a.cfg.WorkDir, t.containerID)
		// Every image container's overlay, upper dir and mount points
		// in a block group of ext4's choosing (sandbox.go).
		spreadChildren(filepath.Dir(t.runDir))
		pull, err := pullOptions(t.secrets.pull) // pullauth.go
		if err != nil {
			return err
		}
		if err := a.forcePull(ctx, t.info, img, pull...); err != nil {
			return err
		}
		rootfs, ic, digest, warm, err := a.imageRootfs(ctx, t, img, pull)
		if err != nil {
			return err
		}
		spec.Rootfs, spec.SandboxTarget, spec.Image, spec.Warm = rootfs, container.DefaultSandboxTarget, digest, warm
		imgEnv, imgUser, imgConfig = ic.Env, ic.User, &ic
	}
	user, err := a.taskUser(t, spec.Rootfs, imgUser, sandbox)
	if err != nil {
		return err
	}
	if spec.Rootfs != "" && user.UID != 0 {
		if err := writableTmp(spec.Rootfs); err != nil {
			return err
		}
	}
	spec.UID, spec.GID, spec.Groups = user.UID, user.GID, user.Groups
	for _, v := range t.hostVolumes {
		spec.Mounts = append(spec.Mounts, container.Mount{Source: v.HostPath, Destination: v.ContainerPath, ReadOnly: v.Mode == "RO"})
	}
	vm, err := a.volumeMounts(t.info, sandbox, spec.SandboxTarget)
	if err != nil {
		return err
	}
	spec.Mounts = append(spec.Mounts, vm...)
	sm, err := secretMounts(secretDir(a.cfg.WorkDir, t.containerID), spec.SandboxTarget, t.secrets.files, user)
	if err != nil {
		return err
	}
	spec.Mounts = append(spec.Mounts, sm...)
	if spec.Args, spec.Cwd, err = launchCommand(t.info.Command, imgConfig); err != nil {
		return err
	}
	spec.Env = taskEnv(t, a.ID(), a.cfg.Hostname, spec.SandboxTarget, append(userEnv(user), imgEnv...))
	spec.SecretEnv = t.secrets.env // kept out of the container's request file
	if err := a.groupSpec(t, &spec, user); err != nil {
		return err
	}
	if err := a.joinNetwork(netw, &spec); err != nil { // network.go
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Start destroys a half-started container when ctx ends, and takes
	// over or ends a claimed warm one.
	s := spec
	spec.Warm = ""
	ctr, err := a.driver.Start(ctx, s)
	if err != nil {
		return err
	}
	if err := a.openGate(ctx, t, netw, ctr); err != nil { // network.go: after CNI ADD
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return errors.Join(err, ctr.Destroy(dctx))
	}
	a.tasks.mu.Lock()
	t.ctr = ctr
	a.tasks.mu.Unlock()
	t.secrets = taskSecrets{} // in the container now; not kept
	atStage(stageCreated, t)
	return nil
}

func taskImage(ti api.TaskInfo) string {
	if c := ti.Container; c != nil && c.Mesos != nil && c.Mesos.Image != nil && c.Mesos.Image.Docker != nil {
		return c.Mesos.Image.Docker.Name
	}
	return ""
}

func volumes(ti api.TaskInfo) []api.Volume {
	if ti.Container == nil {
		return nil
	}
	var out []api.Volume
	for _, v := range ti.Container.Volumes {
		if v.HostPath != "" {
			out = append(out, v)
		}
	}
	return out
}

// awaitExit waits for the container to end and reports the terminal state.
// When ctx ends first the agent is detaching: the container keeps running.
func (a *Agent) awaitExit(ctx context.Context, t *task) {
	exit, err := t.ctr.Wait(ctx)
	if ctx.Err() != nil {
		return
	}
	a.tasks.mu.Lock()
	killing, fenced, limitation := t.killing, t.fenced, t.limitation
	a.tasks.mu.Unlock()
	code := exit.Code
	switch {
	case fenced:
		// Already ended by the master; nothing to report.
	case err != nil && errors.Is(err, container.ErrLost):
		a.setState(t, api.TaskFailed, api.ReasonExecutorTerminated, "container lost: "+err.Error(), nil)
	case err != nil:
		a.setState(t, api.TaskFailed, api.ReasonExecutorTerminated, err.Error(), nil)
	case killing && limitation:
		a.setState(t, api.TaskFailed, t.killReason, t.killMessage, &code)
	case exit.OOMKilled:
		a.setState(t, api.TaskFailed, api.ReasonContainerLimitationMem, "Memory limit exceeded: "+exitMessage(exit), &code)
	case killing:
		a.tasks.mu.Lock()
		reason, msg := t.killReason, t.killMessage
		a.tasks.mu.Unlock()
		if msg == "" {
			msg = exitMessage(exit)
		}
		a.setState(t, api.TaskKilled, reason, msg, &code)
	case exit.Success():
		a.setState(t, api.TaskFinished, "", exitMessage(exit), &code)
	default:
		note := a.failedOnBusyPort(ctx, t) // ports.go
		a.setState(t, api.TaskFailed, api.ReasonCommandExecutorFailed, exitMessage(exit)+note, &code)
	}
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !fenced {
		if err := a.store.CompleteExecutor(dctx, t.containerID, time.Now()); err != nil {
			a.log.Warn("checkpoint executor end", "task_id", t.id, "err", err)
		}
	}
	if err := t.ctr.Destroy(dctx); err != nil {
		a.log.Warn("destroy container", "task_id", t.id, "container_id", t.containerID, "err", err)
	}
	a.releaseRootfs(t)
}

// exitMessage words an exit as the Mesos command executor does.
func exitMessage(e container.Exit) string {
	if e.Signal != 0 {
		return fmt.Sprintf("Command terminated with signal %s", unix.SignalName(unix.Signal(e.Signal)))
	}
	return fmt.Sprintf("Command exited with status %d", e.Code)
}

func (a *Agent) releaseRootfs(t *task) {
	_ = os.RemoveAll(secretDir(a.cfg.WorkDir, t.containerID)) // secrets.go
	a.releaseNetwork(t)                                       // network.go
	if t.runDir == "" || a.images == nil {
		return
	}
	if err := a.images.ReleaseRootfs(t.runDir); err != nil {
		a.log.Warn("release rootfs", "task_id", t.id, "err", err)
	}
	_ = os.RemoveAll(t.runDir)
}

// kill handles a KILL message: beginKill, then finishKill.
func (a *Agent) kill(ctx context.Context, m *api.KillMessage) {
	if t, ctr, grace := a.beginKill(m); ctr != nil {
		a.finishKill(ctx, t, ctr, grace)
	}
}

// beginKill is the part of a KILL that is handled in the order of the
// master's messages. A task still launching has its kill context
// cancelled: the launch ends it. A KILL for a task not seen yet is
// remembered, so its LAUNCH is refused as killed. For a running task it
// returns the container to stop and the grace period.
func (a *Agent) beginKill(m *api.KillMessage) (*task, taskContainer, time.Duration) {
	if a.killOnExecutor(m) { // a task on a custom executor (executor.go)
		return nil, nil, 0
	}
	k := streamKey{m.FrameworkID.Value, m.TaskID.Value}
	a.tasks.mu.Lock()
	t := a.tasks.live[k]
	if t == nil {
		remembered := a.rememberEarlyKillLocked(k, m)
		a.tasks.mu.Unlock()
		if !remembered {
			a.answerUnknownKill(m)
		}
		return nil, nil, 0
	}
	if t.killing || t.state.Terminal() {
		a.tasks.mu.Unlock()
		return nil, nil, 0
	}
	t.killing = true
	if t.launching {
		t.killLaunch()
		a.tasks.mu.Unlock()
		return nil, nil, 0
	}
	ctr := t.ctr
	a.tasks.mu.Unlock()
	grace := a.cfg.ExecutorShutdownGracePeriod
	if kp := t.info.KillPolicy; kp != nil && kp.GracePeriod != nil {
		grace = time.Duration(kp.GracePeriod.Nanoseconds)
	}
	if m.GracePeriod != nil {
		grace = time.Duration(m.GracePeriod.Nanoseconds)
	}
	if t.framework.HasCapability("TASK_KILLING_STATE") {
		a.setState(t, api.TaskKilling, "", "", nil)
	}
	return t, ctr, grace
}

// finishKill stops a running task's container: SIGTERM, then SIGKILL after
// the grace period (the message's, else the task's kill policy, else the
// agent default). The exit waiter reports TASK_KILLED.
func (a *Agent) finishKill(ctx context.Context, t *task, ctr taskContainer, grace time.Duration) {
	if err := ctr.Kill(ctx, grace); err != nil && ctx.Err() == nil {
		a.log.Warn("kill task", "task_id", t.id, "err", err)
	}
}

// answerUnknownKill tells the framework a task is unknown here, so it
// does not wait forever.
func (a *Agent) answerUnknownKill(m *api.KillMessage) {
	a.status.enqueue(api.StatusUpdate{AgentID: api.ID{Value: a.ID()}, FrameworkID: m.FrameworkID, Status: api.TaskStatus{
		TaskID: m.TaskID, State: api.TaskLost, Source: api.SourceAgent, Reason: api.ReasonTaskUnknown,
		Message: "task unknown to the agent", AgentID: &api.ID{Value: a.ID()},
		Timestamp: float64(time.Now().UnixNano()) / 1e9, UUID: uuidBytes(),
	}, LatestState: api.TaskLost})
}

// rememberEarlyKillLocked remembers a KILL for a task not seen yet. The
// answer waits for the LAUNCH (TASK_KILLED) or, after earlyKillTTL, goes
// out as for an unknown task. It reports false when the table of early
// kills is full or the task already ended here: answer at once then.
func (a *Agent) rememberEarlyKillLocked(k streamKey, m *api.KillMessage) bool {
	tt := &a.tasks
	if _, ok := tt.early[k]; ok {
		return true // a re-sent KILL; the first one's answer stands
	}
	if len(tt.early) >= maxEarlyKills {
		return false
	}
	for _, c := range tt.completed {
		if c.frameworkID == k.framework && c.id == k.task {
			return false // not early but late
		}
	}
	if tt.early == nil {
		tt.early = map[streamKey]*time.Timer{}
	}
	var tm *time.Timer
	tm = time.AfterFunc(earlyKillTTL, func() {
		tt.mu.Lock()
		expired := tt.early[k] == tm
		if expired {
			delete(tt.early, k)
		}
		tt.mu.Unlock()
		if expired {
			a.answerUnknownKill(m)
		}
	})
	tt.early[k] = tm
	return true
}

// takeEarlyKillLocked reports whether a KILL for k came before its LAUNCH,
// and forgets it.
func (tt *taskTable) takeEarlyKillLocked(k streamKey) bool {
	tm, ok := tt.early[k]
	if ok {
		tm.Stop()
		delete(tt.early, k)
	}
	return ok
}

// shutdownFramework kills every task of a framework.
func (a *Agent) shutdownFramework(ctx context.Context, fw string) {
	a.wg.Add(1)
	go func() { // custom executors get SHUTDOWN (executor.go)
		defer a.wg.Done()
		a.shutdownExecutors(ctx, fw)
	}()
	a.tasks.mu.Lock()
	var ids []string
	for k := range a.tasks.live {
		if k.framework == fw {
			ids = append(ids, k.task)
		}
	}
	a.tasks.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.kill(ctx, &api.KillMessage{FrameworkID: api.ID{Value: fw}, TaskID: api.ID{Value: id}})
		}()
	}
	wg.Wait()
}
