package isotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bootBudget bounds a boot to /health under TCG on a busy 2-core machine;
// the figure each test logs is the one to compare with the 40 s goal.
const bootBudget = 150 * time.Second

// volumeApp runs cmd with a host volume on the data disk
// (/var/lib/nodectl/volumes, bound at /volumes, which the appliance's agent
// allows) from the preloaded busybox image.
func volumeApp(id, cmd string) map[string]any {
	return map[string]any{
		"id": id, "cmd": cmd, "cpus": 0.1, "mem": 32, "instances": 1,
		// The appliance's /volumes is root's: the app names its user
		// (apps default to the unprivileged nobody).
		"user": "root",
		"container": map[string]any{
			"type":   "MESOS",
			"docker": map[string]any{"image": busyboxRef},
			"volumes": []map[string]any{
				{"containerPath": "/data", "hostPath": "/volumes", "mode": "RW"},
			},
		},
	}
}

// TestISOSingleNodeSurvivesReboot boots with no config and an empty data
// disk: the node formats the disk, comes up as master+agent, runs a task
// from the preloaded image, powers off on the ACPI button, and after a
// reboot with the same disk still has the app and the volume's data.
func TestISOSingleNodeSurvivesReboot(t *testing.T) {
	kernel, initrd := needISO(t)
	disk := qcow2(t, "2G")
	port := freePort(t)

	first := bootVM(t, "first", vmOpts{kernel: kernel, initrd: initrd, disk: disk, apiPort: port})
	took := first.waitHealthy(bootBudget)
	t.Logf("first boot (formats the data disk) to /health: %s", took.Round(100*time.Millisecond))
	con := first.console()
	for _, want := range []string{"formatting empty disk as the data disk", "source=cmdline", "image preloaded"} {
		if !strings.Contains(con, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	first.joinParams()
	if c := status(first.url("/")); c != 200 {
		t.Errorf("UI: GET / = %d", c)
	}
	// The writer leaves a file in a host volume on the data disk; the
	// checker only stays running while the file is there.
	first.isoPostApp(volumeApp("/writer", "echo hello-iso > /data/f && exec sleep 100000"))
	first.waitRunning("writer", 2*time.Minute, false)
	first.isoPostApp(volumeApp("/checker", "grep -q hello-iso /data/f && exec sleep 100000"))
	first.waitStable("checker", 2*time.Minute, false)
	a, err := first.app("checker")
	if err != nil {
		t.Fatal(err)
	}
	checkerTask := a.App.Tasks[0].ID
	// The appliance kernel runs cgroup v2: an image task there runs under
	// seccomp with no_new_privs, and stays running only if the checks
	// pass; the device allow-list is runc's eBPF program, which must load
	// for the task to start at all, and a block device stays out of reach.
	first.isoPostApp(map[string]any{
		"id": "/boxed", "cpus": 0.1, "mem": 32, "instances": 1,
		"cmd": "grep -q '^Seccomp:[[:space:]]*2' /proc/self/status && grep -q '^NoNewPrivs:[[:space:]]*1' /proc/self/status && " +
			"! mknod b b 254 0 2>/dev/null && ! unshare -U true 2>/dev/null && ! head -c1 /dev/vda >/dev/null 2>&1 && exec sleep 100000",
		"container": map[string]any{"type": "MESOS", "docker": map[string]any{"image": busyboxRef}},
	})
	first.waitStable("boxed", 2*time.Minute, false)
	first.isoDelete("/v2/apps/boxed")
	// Without the writer, only the file can make the checker run again.
	first.isoDelete("/v2/apps/writer")
	first.powerdown(90 * time.Second)
	con = first.console()
	if !strings.Contains(con, "action=poweroff") || !strings.Contains(con, "reboot: Power down") {
		t.Fatalf("no clean power-off on the console:\n%s", first.tail(15))
	}

	second := bootVM(t, "second", vmOpts{kernel: kernel, initrd: initrd, disk: disk, apiPort: port})
	took = second.waitHealthy(bootBudget)
	t.Logf("reboot to /health: %s", took.Round(100*time.Millisecond))
	if con := second.console(); !strings.Contains(con, "data disk mounted") || strings.Contains(con, "formatting empty disk") {
		t.Errorf("second boot did not reuse the data disk:\n%s", second.tail(30))
	}
	// The checker's task died with the machine (TASK_GONE); the app is
	// still defined, runs again, and stays running: the file is intact.
	// The restarted master lists the task from before the reboot as
	// running until the agent reports it gone: a new task it must be.
	second.waitRelaunched("checker", checkerTask)
	if c := status(second.url("/v2/apps/writer")); c != 404 {
		t.Errorf("deleted app after the reboot: GET = %d, want 404", c)
	}
}

// TestISOAgentJoinsMaster boots a master VM and an agent VM joined by a
// qemu socket network on loopback (static addresses on that NIC): the
// agent registers with the master and runs a task placed on it.
func TestISOAgentJoinsMaster(t *testing.T) {
	kernel, initrd := needISO(t)
	port, sock := freePort(t), freePort(t)
	const masterMAC, agentMAC = "52:54:00:00:09:01", "52:54:00:00:09:02"
	master := bootVM(t, "master", vmOpts{
		kernel: kernel, initrd: initrd, apiPort: port,
		append: "nodectl.role=all nodectl.advertise-ip=10.0.9.1 nodectl.net=" + userMAC + "=dhcp," + masterMAC + "=10.0.9.1/24",
		extra:  []string{"-netdev", fmt.Sprintf("socket,id=cl,listen=127.0.0.1:%d", sock), "-device", "virtio-net-pci,netdev=cl,mac=" + masterMAC},
	})
	took := master.waitHealthy(bootBudget)
	t.Logf("master boot to /health: %s", took.Round(100*time.Millisecond))
	// The agent boots with the kernel parameters the master's console shows.
	join := master.joinParams()
	if !strings.Contains(join, "nodectl.join=https://10.0.9.1:5050") {
		t.Fatalf("the master's join parameters %q do not name its advertised address", join)
	}
	agent := bootVM(t, "agent", vmOpts{
		kernel: kernel, initrd: initrd, smp: 1,
		append: join + " nodectl.advertise-ip=10.0.9.2 nodectl.net=" + agentMAC + "=10.0.9.2/24",
		extra:  []string{"-netdev", fmt.Sprintf("socket,id=cl,connect=127.0.0.1:%d", sock), "-device", "virtio-net-pci,netdev=cl,mac=" + agentMAC},
	})
	const agentHost = "nodectl-525400000902"
	master.waitAgentActive(agentHost, bootBudget+time.Minute)
	t.Logf("agent registered %s after its start", time.Since(agent.started).Round(100*time.Millisecond))
	app := map[string]any{
		"id": "/on-agent", "cmd": "exec sleep 100000", "cpus": 0.1, "mem": 32, "instances": 1,
		"constraints": [][]string{{"hostname", "LIKE", agentHost}},
		"container":   map[string]any{"type": "MESOS", "docker": map[string]any{"image": busyboxRef}},
	}
	master.isoPostApp(app)
	a := master.waitRunning("on-agent", 3*time.Minute, false)
	if h := a.App.Tasks[0].Host; h != agentHost {
		t.Errorf("task runs on %q, want the agent VM %q", h, agentHost)
	}
	if con := agent.console(); !strings.Contains(con, "--join=https://10.0.9.1:5050 --token=") {
		t.Errorf("the agent did not start up with --join and --token")
	}
}

// ovmf is Debian's UEFI firmware for qemu (package ovmf).
const ovmf = "/usr/share/ovmf/OVMF.fd"

// TestISOBootsFromCDROM is the smoke test of the real ISO: through GRUB
// from the CD-ROM, with BIOS and with UEFI firmware, an empty data disk,
// /health 200. The BIOS boot also gets its config from a NODECTL_CFG stick.
func TestISOBootsFromCDROM(t *testing.T) {
	needISO(t)
	iso := os.Getenv("NODECTL_ISO")
	if iso == "" {
		t.Skip("NODECTL_ISO names the ISO to boot (make test-iso sets out/nodectl.iso)")
	}
	for _, fw := range []string{"BIOS", "UEFI"} {
		t.Run(fw, func(t *testing.T) {
			o := vmOpts{iso: iso, disk: qcow2(t, "1G"), apiPort: freePort(t)}
			wantSource := "source=default"
			switch fw {
			case "UEFI":
				if _, err := os.Stat(ovmf); err != nil {
					t.Skip("no UEFI firmware (apt-get install ovmf)")
				}
				o.extra = []string{"-bios", ovmf}
			case "BIOS":
				// A FAT "USB stick" labelled NODECTL_CFG: the file for this
				// machine's MAC wins over nodectl.yaml.
				stick := cfgStick(t, map[string]string{
					"nodectl.yaml": "attributes: rack:generic\n",
					"nodectl-" + strings.ReplaceAll(userMAC, ":", "-") + ".yaml": "attributes: rack:cfgstick\nauthenticate_http_readonly: false\n",
				})
				o.extra = []string{"-drive", "file=" + stick + ",format=raw,if=virtio,readonly=on"}
				wantSource = "source=NODECTL_CFG:nodectl-52-54-00-12-34-56.yaml"
			}
			v := bootVM(t, "cdrom-"+fw, o)
			took := v.waitHealthy(bootBudget + time.Minute)
			t.Logf("ISO (%s, GRUB) boot to /health: %s", fw, took.Round(100*time.Millisecond))
			if con := v.console(); !strings.Contains(con, "Run /init as init process") || !strings.Contains(con, wantSource) {
				t.Errorf("console lacks the kernel starting /init or %q", wantSource)
			}
			if fw != "BIOS" {
				return
			}
			v.waitFor(time.Minute, "the agent with the stick's attributes", func() bool {
				var s struct {
					Slaves []struct {
						Attributes map[string]any `json:"attributes"`
					} `json:"slaves"`
				}
				return getJSON(v.url("/slaves"), &s) == nil && len(s.Slaves) == 1 && s.Slaves[0].Attributes["rack"] == "cfgstick"
			})
		})
	}
}

// cfgStick makes a small FAT image labelled NODECTL_CFG holding files,
// with mtools (no mount, no root needed).
func cfgStick(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "stick.img")
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
	}
	run("mformat", "-i", img, "-C", "-f", "1440", "-v", "NODECTL_CFG", "::")
	for name, body := range files {
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		run("mcopy", "-i", img, src, "::/"+name)
	}
	return img
}
