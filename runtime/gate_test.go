package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container/containertest"
)

// netLaunchMessage is launchMessage for a command task on a network.
func netLaunchMessage(id, cmd, network string) *api.AgentMessage {
	m := launchMessage(id, cmd, "")
	m.Launch.Task.Container = &api.ContainerInfo{Type: "MESOS", NetworkInfos: []api.NetworkInfo{{Name: network}}}
	return m
}

// netTestAgent is killTestAgent with container networks.
func netTestAgent(t *testing.T) *Agent {
	a, _ := killTestAgent(t)
	if a.net == nil {
		t.Skipf("no container networks: %v (run make build first)", a.netErr)
	}
	return a
}

// requireNoNetworkLeft checks that nothing of container id's networking
// is left: namespace, owner record, address lease, resolv.conf.
func requireNoNetworkLeft(t *testing.T, a *Agent, id string) {
	t.Helper()
	var left []string
	containertest.Eventually(t, time.Minute, func() bool {
		left = nil
		if _, err := os.Lstat(a.net.NetNSPath(id)); err == nil {
			left = append(left, "network namespace")
		}
		if _, err := os.Lstat(filepath.Join("/run/nodectl/cni-owners", id)); err == nil {
			left = append(left, "owner record")
		}
		if _, err := os.Lstat(a.taskResolvConf(id)); err == nil {
			left = append(left, "resolv.conf")
		}
		_ = filepath.WalkDir("/run/nodectl/cni-ipam", func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), id) {
				left = append(left, "address lease "+path)
			}
			return nil
		})
		return len(left) == 0
	}, "networking of %s left: %v", id, left)
}

// taskContainerID is the container id of a task.
func taskContainerID(a *Agent, id string) string {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	if t := a.tasks.live[streamKey{"fw", id}]; t != nil {
		return t.containerID
	}
	return ""
}

// A KILL while a bridge task's container waits at its gate — its network
// being attached, or attached already — ends the task
// TASK_KILLED/REASON_TASK_KILLED_DURING_LAUNCH: the created container's
// process never runs, and no container, process or networking is left.
func TestGateKill(t *testing.T) {
	for _, stage := range []launchStage{stageGated, stageAttached} {
		t.Run(string(stage), func(t *testing.T) {
			a := netTestAgent(t)
			ctx := t.Context()
			pids := make(chan int, 1)
			launchHook = func(s launchStage, id string) {
				if s != stage {
					return
				}
				ctr, err := a.driver.Load(taskContainerID(a, id))
				if err != nil {
					t.Errorf("the gated container: %v", err)
					pids <- 0
					return
				}
				pids <- ctr.Pid()
				a.dispatch(ctx, killMessage(id))
			}
			defer func() { launchHook = nil }()
			a.dispatch(ctx, netLaunchMessage("gated", `touch "$MESOS_SANDBOX/ran"; sleep 1000`, "mesos-bridge"))
			waitOrEnded(t, a, "gated", func() bool { return len(pids) > 0 })
			pid := <-pids
			cid := taskContainerID(a, "gated")
			requireKilledDuringLaunch(t, a, "gated", pid)
			requireNoNetworkLeft(t, a, cid)
			a.tasks.mu.Lock()
			sandbox := a.tasks.live[streamKey{"fw", "gated"}].sandbox
			a.tasks.mu.Unlock()
			if _, err := os.Stat(filepath.Join(sandbox, "ran")); err == nil {
				t.Error("the task's process ran")
			}
		})
	}
}

// A network that cannot be attached fails the task with the error; the
// container created meanwhile is destroyed and nothing is left.
func TestGateAttachFails(t *testing.T) {
	a := netTestAgent(t)
	start := time.Now()
	a.dispatch(t.Context(), netLaunchMessage("nonet", "sleep 1000", "no-such-network"))
	last := awaitTerminal(t, a, "nonet")
	t.Logf("failed after %v", time.Since(start))
	if last.State != api.TaskFailed || last.Reason != api.ReasonContainerLaunchFailed || !strings.Contains(last.Message, "no-such-network") {
		t.Fatalf("ended %s/%s %q, want TASK_FAILED/%s naming the network", last.State, last.Reason, last.Message, api.ReasonContainerLaunchFailed)
	}
	if ids, err := a.driver.List(); err != nil || len(ids) != 0 {
		t.Errorf("containers left: %v %v", ids, err)
	}
	requireNoNetworkLeft(t, a, taskContainerID(a, "nonet"))
}

// A bridge task runs in the namespace it was attached in, with its
// address reported; once killed its networking is gone.
func TestGateBridgeRuns(t *testing.T) {
	a := netTestAgent(t)
	ctx := t.Context()
	a.dispatch(ctx, netLaunchMessage("br", "sleep 1000", "mesos-bridge"))
	containertest.Eventually(t, time.Minute, func() bool {
		sts := taskStatuses(a, "br")
		if len(sts) > 0 && sts[len(sts)-1].State.Terminal() {
			t.Fatalf("task ended: %+v", sts[len(sts)-1])
		}
		return len(sts) > 0 && sts[len(sts)-1].State == api.TaskRunning
	}, "task never RUNNING")
	sts := taskStatuses(a, "br")
	running := sts[len(sts)-1]
	if running.ContainerStatus == nil || len(running.ContainerStatus.NetworkInfo) == 0 {
		t.Fatalf("RUNNING without network infos: %+v", running.ContainerStatus)
	}
	cid := taskContainerID(a, "br")
	ctr, err := a.driver.Load(cid)
	if err != nil {
		t.Fatal(err)
	}
	var want, got os.FileInfo
	if want, err = os.Stat(a.net.NetNSPath(cid)); err == nil {
		got, err = os.Stat("/proc/" + strconv.Itoa(ctr.Pid()) + "/ns/net")
	}
	if err != nil || !os.SameFile(want, got) {
		t.Fatalf("the task is not in its attached namespace: %v", err)
	}
	a.dispatch(ctx, killMessage("br"))
	if last := awaitTerminal(t, a, "br"); last.State != api.TaskKilled {
		t.Fatalf("ended %s, want TASK_KILLED", last.State)
	}
	containertest.Eventually(t, time.Minute, func() bool {
		_, err := os.Lstat(a.net.NetNSPath(cid))
		return err != nil
	}, "namespace not released")
	requireNoNetworkLeft(t, a, cid)
}

// gateAgentEnv makes TestGateAgentDies's child process the agent that
// dies while its task's container waits at the gate.
const gateAgentEnv = "NODECTL_GATE_TEST_AGENT_DIR"

// An agent killed while a bridge task's container waits at its gate: the
// shim destroys the created container (its process never runs), and the
// restarted agent reports the task as it does any container lost before
// it ran (TASK_FAILED), leaving no container and no networking.
func TestGateAgentDies(t *testing.T) {
	containertest.RequireRoot(t)
	cfg := func(dir string) Config {
		return Config{WorkDir: dir, Masters: []string{"127.0.0.1:1"}, Port: 5051,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	}
	if dir := os.Getenv(gateAgentEnv); dir != "" {
		a, err := New(cfg(dir))
		if err != nil || a.driver == nil || a.net == nil {
			fmt.Fprintln(os.Stderr, "agent:", err, a.driverErr, a.netErr)
			os.Exit(2)
		}
		a.id = "agent-gate"
		launchHook = func(s launchStage, id string) {
			if s == stageGated {
				fmt.Println(taskContainerID(a, id))
				os.Exit(0) // as kill -9: no cleanup of any kind
			}
		}
		m := netLaunchMessage("orphan", `touch "$MESOS_SANDBOX/ran"; sleep 1000`, "mesos-bridge")
		m.Launch.Framework.Checkpoint = true
		a.dispatch(context.Background(), m)
		select {} // the hook exits at the gate; the parent's context bounds a launch that never gets there
	}
	dir := t.TempDir()
	octx, ocancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer ocancel()
	cmd := exec.CommandContext(octx, os.Args[0], "-test.run=^TestGateAgentDies$")
	cmd.Env = append(os.Environ(), gateAgentEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
			t.Skip("the agent cannot run containers on networks (run make build first)")
		}
		t.Fatalf("agent: %v (%s)", err, out)
	}
	cid := strings.TrimSpace(string(out))

	a, err := New(cfg(dir))
	if err != nil {
		t.Fatal(err)
	}
	a.id = "agent-gate"
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(func() {
		cancel()
		a.wg.Wait()
		_ = a.Close()
	})
	if err := a.recoverTasks(ctx); err != nil {
		t.Fatal(err)
	}
	last := awaitTerminal(t, a, "orphan")
	if last.State != api.TaskFailed {
		t.Fatalf("recovered task ended %s/%s %q, want TASK_FAILED", last.State, last.Reason, last.Message)
	}
	for _, st := range taskStatuses(a, "orphan") {
		if st.State == api.TaskRunning {
			t.Error("the task was reported RUNNING")
		}
	}
	t.Logf("recovered: %s/%s %q", last.State, last.Reason, last.Message)
	containertest.Eventually(t, time.Minute, func() bool {
		ids, err := a.driver.List()
		return err == nil && len(ids) == 0
	}, "containers left after recovery")
	requireNoNetworkLeft(t, a, cid)
	a.tasks.mu.Lock()
	sandbox := a.tasks.live[streamKey{"fw", "orphan"}].sandbox
	a.tasks.mu.Unlock()
	if _, err := os.Stat(filepath.Join(sandbox, "ran")); err == nil {
		t.Error("the task's process ran")
	}
}
