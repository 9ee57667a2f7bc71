package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
	"nodectl/storage"
)

// ErrCleanupDone is what Run returns after --recover=cleanup has killed the
// old containers: the agent's work is done and it exits.
var ErrCleanupDone = errors.New("recover=cleanup: old containers killed")

// ErrRecovery wraps every recovery error that stops a strict agent.
var ErrRecovery = errors.New("agent recovery")

// checkpointPath is the agent's sqlite checkpoint under the work dir.
func checkpointPath(workDir string) string { return filepath.Join(workDir, "meta", "agent.db") }

// currentBootID is the kernel's boot id (Mesos' reboot detection).
func currentBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// fingerprint summarises the parts of the agent's config that must match
// its checkpoint to keep its id (Mesos' SlaveInfo compatibility).
func fingerprint(info api.AgentInfo) string {
	h := sha256.Sum256([]byte(info.Hostname + "\x00" + info.Resources.String() + "\x00" + info.Attributes.String()))
	return hex.EncodeToString(h[:8])
}

// compatible checks the new agent config against the checkpointed one
// under the reconfiguration policy: "equal" wants the same; "additive"
// allows resources and attributes to be added, never removed or changed.
func compatible(policy string, old, cur api.AgentInfo) error {
	if old.Hostname != cur.Hostname {
		return fmt.Errorf("hostname changed from %q to %q", old.Hostname, cur.Hostname)
	}
	if policy == "additive" {
		if !cur.Resources.Contains(old.Resources) {
			return fmt.Errorf("resources %s do not contain the checkpointed %s (policy additive)", cur.Resources, old.Resources)
		}
		for k, v := range old.Attributes {
			if cur.Attributes[k] != v {
				return fmt.Errorf("attribute %s changed from %v to %v (policy additive)", k, v, cur.Attributes[k])
			}
		}
		return nil
	}
	if fingerprint(old) != fingerprint(cur) {
		return fmt.Errorf("resources or attributes changed: checkpointed %q %q, now %q %q (policy equal)",
			old.Resources.String(), old.Attributes.String(), cur.Resources.String(), cur.Attributes.String())
	}
	return nil
}

// openCheckpoint opens the store, loads what the last run left and decides
// which agent this is. Called by New.
func (a *Agent) openCheckpoint(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(checkpointPath(a.cfg.WorkDir)), 0o755); err != nil {
		return fmt.Errorf("create meta dir: %w", err)
	}
	// Before the store is opened: opening creates a new database.
	if checkpointAbsent(checkpointPath(a.cfg.WorkDir)) {
		if err := a.checkLostCheckpoint(); err != nil {
			return err
		}
	}
	st, err := storage.Open(ctx, storage.Config{Path: checkpointPath(a.cfg.WorkDir), Logger: a.log, DiscardCorrupt: !a.cfg.Strict})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRecovery, err)
	}
	a.store = st
	state, err := st.LoadState(ctx, a.cfg.Strict)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRecovery, err)
	}
	for _, e := range state.Errors {
		a.log.Warn("skipped a bad checkpoint record (--no-strict)", "err", e)
	}
	a.mu.Lock()
	a.recoveryErrors += len(state.Errors)
	a.mu.Unlock()
	a.state = state
	a.restoreVolumes(ctx, state)
	if state.Agent == nil || state.Agent.ID == "" {
		return nil
	}
	a.rebooted = state.Agent.BootID != "" && state.Agent.BootID != a.bootID
	var old api.AgentInfo
	if err := json.Unmarshal(state.Agent.Info, &old); err != nil {
		return a.recoveryError(fmt.Errorf("checkpointed agent info: %w", err))
	}
	if err := compatible(a.cfg.ReconfigurationPolicy, old, a.info()); err != nil {
		if !a.rebooted {
			return fmt.Errorf("%w: agent %s: %w; to start as a new agent (its tasks are killed), remove %s and start once with --no-strict", ErrRecovery, state.Agent.ID, err, checkpointPath(a.cfg.WorkDir))
		}
		// After a reboot an incompatible agent registers anew (Mesos).
		a.log.Warn("host rebooted with an incompatible config: registering as a new agent", "old_agent_id", state.Agent.ID, "err", err)
		if err := st.ResetAgent(ctx); err != nil {
			return fmt.Errorf("%w: reset agent: %w", ErrRecovery, err)
		}
		a.state.Tasks = nil
		return nil
	}
	a.id = state.Agent.ID
	return nil
}

// checkpointAbsent reports whether the checkpoint at path is missing or
// empty: no database file with content and no write-ahead log holding any.
// SQLite takes such a file for a new, empty database.
func checkpointAbsent(path string) bool {
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
			return false
		}
	}
	return true
}

// checkLostCheckpoint refuses to take a missing or empty checkpoint for a
// new agent when the work dir holds a previous agent's state: sandboxes
// under slaves/ or containers of the runtime. Starting afresh would
// destroy those containers as orphans and relaunch their tasks elsewhere.
// It is a recovery error: fatal under --strict, counted otherwise.
func (a *Agent) checkLostCheckpoint() error {
	var found []string
	slaves := filepath.Join(a.cfg.WorkDir, "slaves")
	if ents, err := os.ReadDir(slaves); err == nil && len(ents) > 0 {
		found = append(found, "sandboxes in "+slaves)
	}
	if a.driver != nil {
		if ids, err := a.driver.List(); err == nil && len(ids) > 0 {
			found = append(found, fmt.Sprintf("%d container(s) in %s", len(ids), runtimeDir(a.cfg.WorkDir)))
		}
	}
	if len(found) == 0 {
		return nil // a new agent, or one that never ran a task
	}
	path := checkpointPath(a.cfg.WorkDir)
	what := strings.Join(found, " and ")
	if a.cfg.Strict {
		return fmt.Errorf("%w: the checkpoint %s is missing or empty, but this work dir holds a previous agent's state (%s): "+
			"restore %s from a backup, or start with --no-strict to start as a new agent (the old containers are destroyed)",
			ErrRecovery, path, what, path)
	}
	a.mu.Lock()
	a.recoveryErrors++
	a.mu.Unlock()
	a.log.Warn("the checkpoint is missing or empty next to a previous agent's state: starting as a new agent (--no-strict); old containers will be destroyed",
		"checkpoint", path, "found", what)
	return nil
}

// recoveryOverrun reports whether recovery has taken longer than
// --recovery_timeout, counted from the agent's start.
func (a *Agent) recoveryOverrun() bool {
	return time.Since(a.started) > a.cfg.RecoveryTimeout
}

// recoverTasks brings the checkpointed tasks back: live containers are
// reattached (never relaunched), exits that happened while the agent was
// down are reported, and the rest is settled by policy. Orphan containers
// are destroyed. It runs before the agent (re-)registers.
func (a *Agent) recoverTasks(ctx context.Context) error {
	start := time.Now()
	fws := map[string]api.FrameworkInfo{}
	for _, f := range a.state.Frameworks {
		var info api.FrameworkInfo
		if err := json.Unmarshal(f.Info, &info); err != nil {
			if err := a.recoveryError(fmt.Errorf("framework %s: %w", f.ID, err)); err != nil {
				return err
			}
			continue
		}
		info.Checkpoint = f.Checkpoint
		fws[f.ID] = info
	}
	sandboxes := map[string]string{}
	for _, e := range a.state.Executors {
		sandboxes[e.ContainerID] = e.Sandbox
	}
	known := map[string]bool{}
	reattached := 0
	for _, rec := range a.state.Tasks {
		if rec.Done {
			continue
		}
		t, pending, err := a.restoreTask(rec, fws, sandboxes)
		if err != nil {
			if err := a.recoveryError(err); err != nil {
				return err
			}
			continue
		}
		known[t.containerID] = true
		a.tasks.mu.Lock() // the HTTP server (metrics, /state) already reads the table
		a.tasks.live[streamKey{t.frameworkID, t.id}] = t
		a.tasks.mu.Unlock()
		for _, u := range pending {
			a.status.enqueue(u)
		}
		if a.holdExecutorTask(t) { // its custom executor's: executor_recover.go
			continue
		}
		if a.settleTask(ctx, t) {
			reattached++
		}
	}
	reattached += a.recoverExecutors(ctx, known) // executor_recover.go
	a.destroyOrphans(ctx, known)
	a.cleanupNetworkOrphans(ctx) // network.go
	a.startBootRelaunches(ctx)   // bootrelaunch.go: after the orphans are gone
	if a.cfg.Recover == "cleanup" {
		return ErrCleanupDone
	}
	if err := a.store.SetBootID(ctx, a.bootID); err != nil {
		return fmt.Errorf("%w: checkpoint boot id: %w", ErrRecovery, err)
	}
	took := time.Since(start)
	a.mu.Lock()
	a.recoveryTime, a.recovered = took, true
	nerr := a.recoveryErrors
	a.mu.Unlock()
	if len(a.state.Tasks) > 0 || a.rebooted {
		a.log.Info("recovered", "tasks", len(a.state.Tasks), "reattached", reattached, "rebooted", a.rebooted,
			"errors", nerr, "took", took.Round(time.Millisecond))
	}
	a.state = storage.State{} // recovered; free it
	return nil
}

// recoveryError fails a strict agent and counts the error otherwise.
func (a *Agent) recoveryError(err error) error {
	if a.cfg.Strict {
		return fmt.Errorf("%w: %w (start with --no-strict to skip bad records)", ErrRecovery, err)
	}
	a.mu.Lock()
	a.recoveryErrors++
	a.mu.Unlock()
	a.log.Warn("skipped a record during recovery (--no-strict)", "err", err)
	return nil
}

// restoreTask rebuilds a task and its pending updates from the checkpoint.
func (a *Agent) restoreTask(rec storage.Task, fws map[string]api.FrameworkInfo, sandboxes map[string]string) (*task, []api.StatusUpdate, error) {
	var info api.TaskInfo
	if err := json.Unmarshal(rec.Info, &info); err != nil {
		return nil, nil, fmt.Errorf("task %s: %w", rec.Key(), err)
	}
	fw, ok := fws[rec.FrameworkID]
	if !ok {
		return nil, nil, fmt.Errorf("task %s: its framework is not checkpointed", rec.Key())
	}
	t := &task{
		id: rec.TaskID, frameworkID: rec.FrameworkID, executorID: rec.ExecutorID, containerID: rec.ContainerID,
		framework: fw, info: info, sandbox: sandboxes[rec.ContainerID], state: api.TaskState(rec.State),
	}
	if taskImage(info) != "" {
		t.runDir = provisionerDir(a.cfg.WorkDir, t.containerID)
	}
	var pending []api.StatusUpdate
	npending := len(rec.Pending())
	for i, u := range rec.Updates {
		var su api.StatusUpdate
		if err := json.Unmarshal(u.Body, &su); err != nil {
			return nil, nil, fmt.Errorf("task %s update %d: %w", rec.Key(), u.Seq, err)
		}
		t.statuses = append(t.statuses, su.Status) // /state shows them again, as Mesos' agent does
		if i >= len(rec.Updates)-npending {
			pending = append(pending, su)
		}
	}
	return t, pending, nil
}

// settleTask decides a recovered task's fate; it reports whether the task's
// container was reattached running.
func (a *Agent) settleTask(ctx context.Context, t *task) bool {
	if t.state.Terminal() {
		return false // its end is recorded; the update waits for its ack
	}
	if a.rebooted {
		switch a.afterReboot(ctx, t) { // bootrelaunch.go: tasks labelled to restart on boot
		case bootRelaunch:
			return false // startBootRelaunches launches it
		case bootLost:
			state := api.TaskLost
			if t.framework.HasCapability("PARTITION_AWARE") {
				state = api.TaskGone
			}
			a.setState(t, state, api.ReasonAgentRestarted, "the host rebooted; the task's container is gone", nil)
			return false
		}
		// bootReattach: relaunched in this boot already; reattach below.
	}
	var ctr taskContainer
	var err error
	if a.driver != nil && t.containerID != "" {
		ctr, err = a.driver.Load(t.containerID)
	} else {
		err = container.ErrNotFound
	}
	if err != nil {
		a.setState(t, api.TaskFailed, api.ReasonExecutorTerminated, "the container was gone when the agent restarted", nil)
		a.releaseRootfs(t)
		return false
	}
	a.tasks.mu.Lock()
	t.ctr = ctr
	a.tasks.mu.Unlock()
	if a.cfg.Recover == "cleanup" || !t.framework.Checkpoint {
		// Mesos does not recover executors of non-checkpointing frameworks
		// (and cleanup kills everything): kill, then report the task lost.
		if err := ctr.Kill(ctx, 0); err != nil && ctx.Err() == nil {
			a.log.Warn("kill old container", "task_id", t.id, "err", err)
		}
		_ = ctr.Destroy(ctx)
		a.releaseRootfs(t)
		a.setState(t, api.TaskLost, api.ReasonAgentRestarted, "the agent restarted and the framework does not checkpoint", nil)
		return false
	}
	st, _ := ctr.Status()
	if st == container.Running && a.recoveryOverrun() {
		// Mesos: executors still waiting for the agent when recovery_timeout
		// passes terminate themselves; the agent reports their tasks failed.
		took := time.Since(a.started).Round(time.Millisecond)
		a.log.Warn("recovery overran --recovery_timeout: killing the task instead of reattaching it",
			"task_id", t.id, "container_id", t.containerID, "recovery_timeout", a.cfg.RecoveryTimeout, "elapsed", took)
		if err := ctr.Kill(ctx, 0); err != nil && ctx.Err() == nil {
			a.log.Warn("kill the timed-out task's container", "task_id", t.id, "err", err)
		}
		_ = ctr.Destroy(ctx)
		a.releaseRootfs(t)
		a.setState(t, api.TaskFailed, api.ReasonExecutorReregTimeout,
			fmt.Sprintf("the agent did not recover within --recovery_timeout (%s; took %s)", a.cfg.RecoveryTimeout, took), nil)
		return false
	}
	if st == container.Running && (t.state == api.TaskStaging || t.state == api.TaskStarting) {
		// The agent died between starting the container and reporting it.
		a.setState(t, api.TaskRunning, "", "", nil)
	}
	a.adoptNetwork(ctx, t) // network.go
	a.watch(ctx, t)
	return st == container.Running
}

// destroyOrphans removes containers the checkpoint does not know.
func (a *Agent) destroyOrphans(ctx context.Context, known map[string]bool) {
	if a.driver == nil {
		return
	}
	ids, err := a.driver.List()
	if err != nil {
		a.log.Warn("list containers", "err", err)
		return
	}
	for _, id := range ids {
		if known[id] {
			continue
		}
		ctr, err := a.driver.Load(id)
		if err != nil {
			continue
		}
		a.log.Warn("destroying an orphan container", "container_id", id)
		_ = ctr.Kill(ctx, 0)
		_ = ctr.Destroy(ctx)
	}
}
