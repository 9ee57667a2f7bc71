package isotest

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Tasks back after a reboot without a master (issue 21, docs/runtime.md
// "Tasks back after a host reboot"; node/e2e TestTasksBackAfterReboot is
// the same with processes): a Mesos agent that finds another kernel boot
// id recovers nothing and its tasks end TASK_LOST or TASK_GONE
// (https://mesos.apache.org/documentation/latest/agent-recovery/), except
// that nodectl's agent relaunches by itself, master or not, the tasks
// labelled nodectl.restart-on-boot=true.

// rebootLabel is the app label that asks for the relaunch
// (cluster/api.LabelRestartOnBoot).
var rebootLabel = map[string]string{"nodectl.restart-on-boot": "true"}

// Guest ports of the test's tasks, in Mesos' default port range
// [31000-32000], taken from the offers with requirePorts.
const (
	markedPort = 31081
	plainPort  = 31082
	pvPort     = 31083
)

// servingApp runs busybox httpd on the host network of the agent, on a
// fixed port; what it serves tells the test from outside the VM which
// machine boot and which task the process belongs to.
func servingApp(id, cmd string, port int, labels map[string]string) map[string]any {
	app := map[string]any{
		"id": id, "cmd": cmd, "cpus": 0.1, "mem": 32, "instances": 1,
		"portDefinitions": []map[string]any{{"port": port}}, "requirePorts": true,
		"container": map[string]any{"type": "MESOS", "docker": map[string]any{"image": busyboxRef}},
	}
	if labels != nil {
		app["labels"] = labels
	}
	return app
}

// whoAmI writes index.html in the sandbox (the kernel's boot id, then the
// task id) and serves the sandbox.
const whoAmI = `cd "$MESOS_SANDBOX" && { cat /proc/sys/kernel/random/boot_id; echo "$MESOS_TASK_ID"; } > index.html && ` +
	`exec busybox httpd -f -p "$PORT0" -h "$MESOS_SANDBOX"`

// served GETs a page a task serves through a forward of the agent VM: its
// lines, or nil when nothing answers there.
func served(hostPort int, path string) []string {
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", hostPort, path))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return nil
	}
	return strings.Fields(string(b))
}

// freeUDPPort is a free UDP port on 127.0.0.1.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// in is v with the helpers failing t (a subtest) instead of the test that
// booted it.
func (v *vm) in(t *testing.T) *vm {
	c := *v
	c.t = t
	return &c
}

// runningTasks counts the master's TASK_RUNNING tasks (/state, every
// framework) and returns the state of one task by id (completed ones too).
func (v *vm) runningTasks(id string) (running int, state string, err error) {
	type taskJSON struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	var st struct {
		Frameworks []struct {
			Tasks          []taskJSON `json:"tasks"`
			CompletedTasks []taskJSON `json:"completed_tasks"`
		} `json:"frameworks"`
	}
	if err := getJSON(v.url("/state"), &st); err != nil {
		return 0, "", err
	}
	for _, fw := range st.Frameworks {
		for _, tk := range append(fw.Tasks, fw.CompletedTasks...) {
			if tk.State == "TASK_RUNNING" {
				running++
			}
			if tk.ID == id {
				state = tk.State
			}
		}
	}
	return running, state, nil
}

// TestISOTasksBackAfterRebootWithoutMaster: a master VM and an agent VM,
// each with a data disk, on a qemu UDP socket network on loopback (either
// end can go away and come back). Three apps run on the agent, each a
// busybox httpd that serves its task id and the boot id it started in
// through a forward of the agent VM: one labelled
// nodectl.restart-on-boot=true, a resident one on a persistent volume
// labelled too (it appends each start's boot id to a file on the volume),
// and an unlabelled one. The master's VM is killed (a power cut); the
// agent VM reboots for real (Ctrl-Alt-Del: the appliance's clean reboot,
// qemu resets the same machine); with no master anywhere, the labelled
// tasks serve again under their task ids from the new boot, the resident
// one on the same volume, and the unlabelled one does not run. The master
// VM then boots again from its disk: the agent re-registers, each app has
// exactly one running task, the labelled ones under their ids and never
// started again, the unlabelled one replaced (its old task TASK_GONE or
// TASK_LOST, as in Mesos). The subtests are the steps.
func TestISOTasksBackAfterRebootWithoutMaster(t *testing.T) {
	kernel, initrd := needISO(t)
	parent := t // owns the VMs that live through several steps
	const masterMAC, agentMAC = "52:54:00:00:0a:01", "52:54:00:00:0a:02"
	apiPort := freePort(t)
	masterUDP, agentUDP := freeUDPPort(t), freeUDPPort(t)
	fwd := map[int]int{} // guest port → host port
	agentFwds := map[int]int{}
	for _, p := range []int{markedPort, plainPort, pvPort} {
		fwd[p] = freePort(t)
		agentFwds[fwd[p]] = p
	}
	masterOpts := vmOpts{
		kernel: kernel, initrd: initrd, apiPort: apiPort, disk: qcow2(t, "1G"), timeout: 15 * time.Minute,
		append: "nodectl.role=master nodectl.advertise-ip=10.0.10.1 nodectl.net=" + userMAC + "=dhcp," + masterMAC + "=10.0.10.1/24",
		extra: []string{"-netdev", fmt.Sprintf("socket,id=cl,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", agentUDP, masterUDP),
			"-device", "virtio-net-pci,netdev=cl,mac=" + masterMAC, "-device", "virtio-rng-pci"},
	}
	var (
		master, agent *vm
		agentHost     string
		taskOf        = map[string]string{} // app → its task before the reboot
		bootBefore    string
		bootAfter     string
	)

	ok := t.Run("Boot", func(t *testing.T) {
		master = bootVM(parent, "master", masterOpts)
		m := master.in(t)
		t.Logf("master VM boot to /health: %s", m.waitHealthy(bootBudget).Round(100*time.Millisecond))
		join := m.joinParams()
		agent = bootVM(parent, "agent", vmOpts{
			kernel: kernel, initrd: initrd, disk: qcow2(parent, "2G"), fwds: agentFwds, reboots: true, timeout: 25 * time.Minute,
			append: join + " nodectl.advertise-ip=10.0.10.2 nodectl.net=" + userMAC + "=dhcp," + agentMAC + "=10.0.10.2/24",
			extra: []string{"-netdev", fmt.Sprintf("socket,id=cl,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", masterUDP, agentUDP),
				"-device", "virtio-net-pci,netdev=cl,mac=" + agentMAC, "-device", "virtio-rng-pci"},
		})
		agentHost = m.waitAgentActive("", bootBudget+time.Minute)
		t.Logf("agent VM %s registered %s after its start", agentHost, time.Since(agent.started).Round(100*time.Millisecond))
		start := time.Now()
		m.isoPostApp(servingApp("/reboot/marked", whoAmI, markedPort, rebootLabel))
		m.isoPostApp(servingApp("/reboot/plain", whoAmI, plainPort, nil))
		pv := servingApp("/reboot/pv", `cd "$MESOS_SANDBOX" && cat /proc/sys/kernel/random/boot_id >> data/boots && `+
			`exec busybox httpd -f -p "$PORT0" -h "$MESOS_SANDBOX/data"`, pvPort, rebootLabel)
		pv["disk"] = 0
		pv["container"].(map[string]any)["volumes"] = []map[string]any{{"containerPath": "data", "mode": "RW", "persistent": map[string]any{"size": 10}}}
		pv["upgradeStrategy"] = map[string]any{"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}
		m.isoPostApp(pv)
		for _, id := range []string{"marked", "plain", "pv"} {
			a := m.waitRunning("reboot/"+id, 3*time.Minute, false)
			if h := a.App.Tasks[0].Host; h != agentHost {
				t.Fatalf("app %s runs on %q, want the agent VM %q", id, h, agentHost)
			}
			taskOf[id] = a.App.Tasks[0].ID
		}
		// Each task's own page: same boot, its task id; one start on the volume.
		m.waitFor(2*time.Minute, "the three tasks serving their pages", func() bool {
			mk, pl, bo := served(fwd[markedPort], "/index.html"), served(fwd[plainPort], "/index.html"), served(fwd[pvPort], "/boots")
			if len(mk) != 2 || len(pl) != 2 || len(bo) != 1 {
				return false
			}
			if mk[1] != taskOf["marked"] || pl[1] != taskOf["plain"] || mk[0] != pl[0] || mk[0] != bo[0] {
				t.Fatalf("pages do not match the tasks %v: marked %q, plain %q, pv boots %q", taskOf, mk, pl, bo)
			}
			bootBefore = mk[0]
			return true
		})
		t.Logf("apps created to all three tasks serving: %s", time.Since(start).Round(100*time.Millisecond))
	})
	if !ok {
		return
	}

	ok = t.Run("RebootWithoutMaster", func(t *testing.T) {
		a := agent.in(t)
		// The master's machine loses power: nothing answers for it any more.
		master.kill()
		if c := status(master.url("/health")); c != 0 {
			t.Fatalf("the master answers %d after its VM was killed", c)
		}
		inits := strings.Count(a.console(), "Run /init as init process")
		relaunches := strings.Count(a.console(), "relaunching a task after the host reboot")
		start := time.Now()
		a.monitorCmd("sendkey ctrl-alt-delete")
		a.waitFor(5*time.Minute, "the agent VM to reboot (its kernel starting /init again)", func() bool {
			return strings.Count(a.console(), "Run /init as init process") > inits
		})
		t.Logf("agent VM reboot: Ctrl-Alt-Del to the new kernel starting /init: %s", time.Since(start).Round(100*time.Millisecond))
		if con := a.console(); !strings.Contains(con, "action=reboot") {
			t.Errorf("the agent VM did not go down through the appliance's clean reboot:\n%s", a.tail(40))
		}
		var markedBack, pvBack time.Duration
		a.waitFor(bootBudget+2*time.Minute, "the labelled tasks serving again from the new boot", func() bool {
			if mk := served(fwd[markedPort], "/index.html"); markedBack == 0 && len(mk) == 2 && mk[0] != bootBefore {
				if mk[1] != taskOf["marked"] {
					t.Fatalf("the labelled task came back as %q, want its id %q", mk[1], taskOf["marked"])
				}
				bootAfter, markedBack = mk[0], time.Since(start)
			}
			if bo := served(fwd[pvPort], "/boots"); pvBack == 0 && len(bo) == 2 {
				if bo[0] != bootBefore || bo[1] == bootBefore {
					t.Fatalf("the resident task's volume holds boots %q, want %s then the new boot", bo, bootBefore)
				}
				pvBack = time.Since(start)
			}
			return markedBack != 0 && pvBack != 0
		})
		t.Logf("without a master, Ctrl-Alt-Del to the labelled task serving again: %s (resident one on its volume: %s)",
			markedBack.Round(100*time.Millisecond), pvBack.Round(100*time.Millisecond))
		if bo := served(fwd[pvPort], "/boots"); len(bo) != 2 || bo[1] != bootAfter {
			t.Fatalf("the resident task's boots %q, want %s then %s", bo, bootBefore, bootAfter)
		}
		// Recovery is over once the agent logs it: every task's fate is
		// decided, and the unlabelled one is not running.
		a.waitFor(time.Minute, "the agent's recovery after the reboot", func() bool {
			con := a.console()
			i := strings.LastIndex(con, "Run /init as init process")
			return i >= 0 && strings.Contains(con[i:], "msg=recovered") && strings.Contains(con[i:], "rebooted=true")
		})
		if pl := served(fwd[plainPort], "/index.html"); pl != nil {
			t.Fatalf("the unlabelled task serves again without a master: %q", pl)
		}
		con := a.console()
		if n := strings.Count(con, "relaunching a task after the host reboot") - relaunches; n != 2 {
			t.Errorf("the agent logged %d relaunches after the reboot, want 2:\n%s", n, a.tail(60))
		}
		for _, line := range strings.Split(con[strings.LastIndex(con, "Run /init as init process"):], "\n") {
			if strings.Contains(line, "relaunching a task after the host reboot") && strings.Contains(line, taskOf["plain"]) {
				t.Errorf("the agent relaunched the unlabelled task: %s", line)
			}
		}
	})
	if !ok {
		return
	}

	t.Run("MasterReturns", func(t *testing.T) {
		if pl := served(fwd[plainPort], "/index.html"); pl != nil {
			t.Fatalf("the unlabelled task serves again without a master: %q", pl)
		}
		start := time.Now()
		m := bootVM(t, "master-again", masterOpts)
		t.Logf("master VM boot from its disk to /health: %s", m.waitHealthy(bootBudget+time.Minute).Round(100*time.Millisecond))
		m.waitAgentActive(agentHost, 3*time.Minute)
		t.Logf("agent re-registered %s after the master's VM started", time.Since(start).Round(100*time.Millisecond))
		var plainNew string
		m.waitFor(4*time.Minute, "each app with exactly one running task, the unlabelled one replaced", func() bool {
			ids := map[string]string{}
			for _, id := range []string{"marked", "plain", "pv"} {
				a, err := m.app("reboot/" + id)
				if err != nil || a.App.TasksRunning != 1 || len(a.App.Tasks) != 1 {
					return false
				}
				ids[id] = a.App.Tasks[0].ID
			}
			for _, id := range []string{"marked", "pv"} {
				if ids[id] != taskOf[id] {
					t.Fatalf("app %s runs task %s after the master returned, want the relaunched %s", id, ids[id], taskOf[id])
				}
			}
			plainNew = ids["plain"]
			return plainNew != taskOf["plain"]
		})
		t.Logf("master VM start to every app reconciled (one task each, the unlabelled one replaced): %s", time.Since(start).Round(100*time.Millisecond))
		m.waitStable("reboot/marked", time.Minute, false)
		m.waitStable("reboot/pv", time.Minute, false)
		m.waitStable("reboot/plain", time.Minute, true) // its task before the reboot ended TASK_GONE
		running, old, err := m.runningTasks(taskOf["plain"])
		if err != nil {
			t.Fatal(err)
		}
		if running != 3 {
			t.Errorf("the master counts %d running tasks, want 3 (one per app)", running)
		}
		if old != "TASK_GONE" && old != "TASK_LOST" {
			t.Errorf("the unlabelled task before the reboot ended %q, want TASK_GONE or TASK_LOST", old)
		}
		// On the agent: the labelled tasks kept running from the reboot
		// (never started again), the replacement runs in the new boot.
		m.waitFor(time.Minute, "the replacement serving its page", func() bool { return len(served(fwd[plainPort], "/index.html")) == 2 })
		if mk := served(fwd[markedPort], "/index.html"); len(mk) != 2 || mk[0] != bootAfter || mk[1] != taskOf["marked"] {
			t.Errorf("the labelled task serves %q, want boot %s and task %s", mk, bootAfter, taskOf["marked"])
		}
		if pl := served(fwd[plainPort], "/index.html"); len(pl) != 2 || pl[0] != bootAfter || pl[1] != plainNew {
			t.Errorf("the unlabelled app serves %q, want boot %s and task %s", pl, bootAfter, plainNew)
		}
		if bo := served(fwd[pvPort], "/boots"); len(bo) != 2 || bo[0] != bootBefore || bo[1] != bootAfter {
			t.Errorf("the resident task's volume holds boots %q, want %s then %s (one start each)", bo, bootBefore, bootAfter)
		}
	})
}
